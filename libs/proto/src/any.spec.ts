import { UnpackError, packAny, typeUrlOf, unpackAny } from './any';
import { Cluster, Cluster_DiscoveryType } from './gen/envoy/config/cluster/v3/cluster';
import { Listener } from './gen/envoy/config/listener/v3/listener';
import { Resource } from './gen/istio/mcp/v1alpha1/resource';

describe('Any packing', () => {
  it('packs with the type.googleapis.com type URL of the message', () => {
    const any = packAny(
      Cluster,
      Cluster.fromPartial({ name: 'outbound|9080||reviews.default.svc.cluster.local' }),
    );
    expect(any.typeUrl).toBe('type.googleapis.com/envoy.config.cluster.v3.Cluster');
  });

  it('round-trips a message through its type URL', () => {
    const cluster = Cluster.fromPartial({ name: 'c1', type: Cluster_DiscoveryType.EDS });
    const back = unpackAny(packAny(Cluster, cluster), Cluster);
    expect(back.name).toBe('c1');
    expect(back.type).toBe(Cluster_DiscoveryType.EDS);
  });

  it('unpacks nested Any (an MCP Resource carrying a Listener) without naming the inner type', () => {
    const inner = packAny(Listener, Listener.fromPartial({ name: 'reviews.default.svc.cluster.local:9080' }));
    const resource = unpackAny(packAny(Resource, Resource.fromPartial({ body: inner })), Resource);
    const listener = unpackAny(resource.body!);
    expect(listener.$type).toBe('envoy.config.listener.v3.Listener');
    expect((listener as Listener).name).toBe('reviews.default.svc.cluster.local:9080');
  });

  it('refuses an Any of another type than expected, naming both', () => {
    const any = packAny(Listener, Listener.fromPartial({ name: 'l' }));
    expect(() => unpackAny(any, Cluster)).toThrow(
      'cannot unpack Any of type "type.googleapis.com/envoy.config.listener.v3.Listener": expected type.googleapis.com/envoy.config.cluster.v3.Cluster',
    );
  });

  it('refuses an unknown type URL', () => {
    expect(() => unpackAny({ typeUrl: 'type.googleapis.com/no.such.Type', value: Buffer.alloc(0) })).toThrow(
      UnpackError,
    );
  });

  it('reports undecodable bytes as an UnpackError', () => {
    const bad = { typeUrl: typeUrlOf(Cluster), value: Buffer.from([0x0a, 0xff]) };
    expect(() => unpackAny(bad, Cluster)).toThrow(UnpackError);
  });
});
