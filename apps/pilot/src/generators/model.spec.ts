import { clusterName, parseClusterName } from './model';

describe('cluster names', () => {
  it('round-trips Istio\'s "outbound|<port>|<subset>|<host>"', () => {
    expect(parseClusterName(clusterName('reviews.default.svc.cluster.local', 9080, 'v2'))).toEqual({
      direction: 'outbound',
      port: 9080,
      subset: 'v2',
      host: 'reviews.default.svc.cluster.local',
    });
    expect(parseClusterName('outbound|9080||ratings.default.svc.cluster.local')?.host).toBe(
      'ratings.default.svc.cluster.local',
    );
  });

  it('answers the same for a name asked again (parsed names are shared), invalid names included', () => {
    for (let i = 0; i < 2; i++) {
      expect(parseClusterName('outbound|9080|v1|reviews')).toEqual({
        direction: 'outbound',
        port: 9080,
        subset: 'v1',
        host: 'reviews',
      });
      expect(parseClusterName('outbound|0||reviews')).toBeUndefined();
      expect(parseClusterName('outbound|9080|v1|')).toBeUndefined();
      expect(parseClusterName('reviews')).toBeUndefined();
    }
  });
});
