import { TrafficTally, WORKLOADS, xdsTarget } from './bookinfo';

describe('bookinfo', () => {
  it('runs the workloads of examples/bookinfo on their WorkloadEntry ports', () => {
    expect(WORKLOADS.map((w) => [`${w.app}-${w.version}`, w.port])).toEqual([
      ['productpage-v1', 19080],
      ['details-v1', 19081],
      ['reviews-v1', 19082],
      ['reviews-v2', 19083],
      ['ratings-v1', 19084],
    ]);
    expect(xdsTarget('reviews', 'bookinfo')).toBe('xds:///reviews.bookinfo.svc.cluster.local:9080');
  });

  it('summarises requests per reviews version and errors, then starts over', () => {
    const tally = new TrafficTally();
    for (let i = 0; i < 4; i++) tally.record('productpage-v1(details-v1,reviews-v1)');
    tally.record('productpage-v1(details-v1,reviews-v2(ratings-v1))');
    tally.record('productpage-v1(details-v1,reviews-v2(ratings:error(UNAVAILABLE)))');
    tally.record(new Error('deadline'));
    expect(tally.summary(5)).toBe(
      'traffic (5s): 7 requests to productpage, reviews-v1 4 (67%), reviews-v2 2 (33%), 2 errors',
    );
    expect(tally.summary(5)).toBe('traffic (5s): 0 requests to productpage, 0 errors');
  });
});
