import fc from 'fast-check';
import { clusterHost, clusterName, parseClusterName } from './model';

describe('cluster names', () => {
  it('round-trips Istio\'s "outbound|<port>|<subset>|<host>"', () => {
    expect(parseClusterName(clusterName('reviews.default.svc.cluster.local', 9080, 'v2'))).toEqual({
      direction: 'outbound',
      port: 9080,
      subset: 'v2',
      host: 'reviews.default.svc.cluster.local',
    });
    expect(clusterHost('outbound|9080||ratings.default.svc.cluster.local')).toBe(
      'ratings.default.svc.cluster.local',
    );
  });

  it('clusterHost reads the host exactly as parseClusterName does, for any name', () => {
    const piece = fc.oneof(fc.constantFrom('', '0', '80', '-1', '1.5', 'x', 'v1', 'a.b'), fc.string());
    const name = fc.oneof(
      fc.string(),
      fc.array(piece, { minLength: 0, maxLength: 6 }).map((parts) => parts.join('|')),
    );
    fc.assert(
      fc.property(name, (n) => {
        expect(clusterHost(n)).toBe(parseClusterName(n)?.host);
      }),
      { numRuns: 5000 },
    );
  });
});
