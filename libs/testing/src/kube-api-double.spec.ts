import { CoreV1Api, KubeConfig, makeInformer } from '@kubernetes/client-node';
import type { V1Service } from '@kubernetes/client-node';
import { KubeApiServerDouble } from './kube-api-double';
import type { ResourceType } from './kube-api-double';
import { waitFor } from './wait';

const SERVICES: ResourceType = {
  group: '',
  version: 'v1',
  plural: 'services',
  kind: 'Service',
  namespaced: true,
};

function service(name: string, port: number) {
  return { metadata: { name, namespace: 'default' }, spec: { ports: [{ port }] } };
}

function kubeConfigFor(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'double', server, skipTLSVerify: true }],
    users: [{ name: 'test', token: 'test-token' }],
    contexts: [{ name: 'double', cluster: 'double', user: 'test' }],
    currentContext: 'double',
  });
  return kc;
}

describe('KubeApiServerDouble with the real @kubernetes/client-node informer', () => {
  let api: KubeApiServerDouble;
  let kc: KubeConfig;

  beforeEach(async () => {
    api = new KubeApiServerDouble().register(SERVICES);
    kc = kubeConfigFor(await api.start());
  });
  afterEach(() => api.stop());

  function serviceInformer() {
    const core = kc.makeApiClient(CoreV1Api);
    const informer = makeInformer<V1Service>(kc, '/api/v1/services', () =>
      core.listServiceForAllNamespaces(),
    );
    informer.on('error', () => undefined); // reconnect errors while the double restarts watches
    return informer;
  }

  it('lists, then streams ADDED, MODIFIED and DELETED events to the informer', async () => {
    api.apply(SERVICES, service('reviews', 9080));
    const informer = serviceInformer();
    await informer.start();
    expect(informer.list().map((s) => s.metadata?.name)).toEqual(['reviews']);

    api.apply(SERVICES, service('ratings', 9080));
    await waitFor('ratings added', () => informer.get('ratings', 'default'));
    api.apply(SERVICES, service('ratings', 9090));
    await waitFor(
      'ratings modified',
      () => informer.get('ratings', 'default')?.spec?.ports?.[0].port === 9090,
    );
    api.delete(SERVICES, 'default', 'reviews');
    await waitFor('reviews deleted', () => informer.get('reviews', 'default') === undefined);
    await informer.stop();
  });

  it('resumes a closed watch from its last resourceVersion without losing events', async () => {
    const informer = serviceInformer();
    await informer.start();
    api.closeWatches();
    api.apply(SERVICES, service('details', 9080));
    await waitFor('details after the watch was re-opened', () => informer.get('details', 'default'));
    const resumed = api.requests.filter((r) => r.query.watch === 'true').map((r) => r.query.resourceVersion);
    expect(resumed.length).toBeGreaterThanOrEqual(2);
    expect(resumed[1]).toBe(resumed[0]);
    await informer.stop();
  });

  it('answers a watch from a compacted resourceVersion with 410 Gone, and the informer relists', async () => {
    api.apply(SERVICES, service('a', 1));
    const informer = serviceInformer();
    await informer.start();
    const lists = () => api.requests.filter((r) => r.method === 'GET' && r.query.watch === undefined).length;
    expect(lists()).toBe(1);
    // In one tick, before the informer can re-open its watch: it misses 'b', and its version is compacted away.
    api.closeWatches();
    api.apply(SERVICES, service('b', 2));
    api.compact();
    await waitFor('a relist after 410 Gone', () => lists() === 2);
    await waitFor('b seen through the relist', () => informer.get('b', 'default'));
    await informer.stop();
  });

  it('writes status through the status subresource with a merge patch', async () => {
    api.apply(SERVICES, service('reviews', 9080));
    const res = await fetch(`${api.url}/api/v1/namespaces/default/services/reviews/status`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/merge-patch+json' },
      body: JSON.stringify({ status: { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } } }),
    });
    expect(res.status).toBe(200);
    expect(api.get(SERVICES, 'default', 'reviews')?.status).toEqual({
      loadBalancer: { ingress: [{ ip: '10.0.0.1' }] },
    });
  });

  it('creates with POST (409 when it exists) and replaces with PUT (409 on a stale resourceVersion) through CoreV1Api', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const created = await core.createNamespacedService({
      namespace: 'default',
      body: service('reviews', 9080),
    });
    expect(created.metadata?.resourceVersion).toBeDefined();
    await expect(
      core.createNamespacedService({ namespace: 'default', body: service('reviews', 9080) }),
    ).rejects.toMatchObject({ code: 409 });
    const replaced = await core.replaceNamespacedService({
      name: 'reviews',
      namespace: 'default',
      body: { ...service('reviews', 9090), metadata: { ...created.metadata } },
    });
    expect(replaced.spec?.ports?.[0].port).toBe(9090);
    expect(api.get(SERVICES, 'default', 'reviews')?.spec).toEqual({ ports: [{ port: 9090 }] });
    // The first version's resourceVersion is stale now.
    await expect(
      core.replaceNamespacedService({
        name: 'reviews',
        namespace: 'default',
        body: { ...service('reviews', 1), metadata: { ...created.metadata } },
      }),
    ).rejects.toMatchObject({ code: 409 });
    expect(api.get(SERVICES, 'default', 'reviews')?.spec).toEqual({ ports: [{ port: 9090 }] });
  });

  it('holds writes until released, then applies them in arrival order: of two creates the second gets 409', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    api.holdWrites(SERVICES);
    const first = core.createNamespacedService({ namespace: 'default', body: service('reviews', 9080) });
    await waitFor('the first create held', () => api.heldWrites === 1);
    const second = core.createNamespacedService({ namespace: 'default', body: service('reviews', 9090) });
    await waitFor('both creates held', () => api.heldWrites === 2);
    expect(api.get(SERVICES, 'default', 'reviews')).toBeUndefined();
    api.releaseWrites();
    await expect(first).resolves.toMatchObject({ spec: { ports: [{ port: 9080 }] } });
    await expect(second).rejects.toMatchObject({ code: 409 });
    expect(api.heldWrites).toBe(0);
  });

  it('sends BOOKMARK events to watches that ask for them', async () => {
    await api.stop();
    api = new KubeApiServerDouble({ bookmarkIntervalMs: 20 }).register(SERVICES);
    const url = await api.start();
    const res = await fetch(`${url}/api/v1/services?watch=true&resourceVersion=1&allowWatchBookmarks=true`);
    const reader = res.body!.getReader();
    const { value } = await reader.read();
    await reader.cancel();
    expect(JSON.parse(Buffer.from(value!).toString().split('\n')[0])).toMatchObject({
      type: 'BOOKMARK',
      object: { kind: 'Service', metadata: { resourceVersion: '1' } },
    });
  });
});
