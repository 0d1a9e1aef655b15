import type { KubernetesObject } from '@kubernetes/client-node';
import { ISTIO_TYPES, SERVICE_DISCOVERY_TYPES, kubeConfigFor } from '@flotilla/kube';
import type { ResourceType } from '@flotilla/kube';
import { KubeApiServerDouble, waitFor } from '@flotilla/testing';
import { KubernetesSource } from './kubernetes-source';
import type { Snapshot, SourceResource } from './snapshot';

const VS = ISTIO_TYPES.find((t) => t.kind === 'VirtualService')!;
const SVC = SERVICE_DISCOVERY_TYPES.find((t) => t.kind === 'Service')!;

/** The tests' validator: a VirtualService needs spec.hosts. */
function toResource(object: KubernetesObject, type: ResourceType): SourceResource<unknown> {
  const o = object as KubernetesObject & { spec?: { hosts?: string[] } };
  const errors =
    type.kind === 'VirtualService' && !o.spec?.hosts?.length
      ? ['spec.hosts: at least one host is required']
      : [];
  return {
    collection: `${type.group || 'core'}/${type.version}/${type.kind}`,
    name: `${o.metadata?.namespace}/${o.metadata?.name}`,
    value: o.spec ?? {},
    errors,
  };
}

function served(s: Snapshot<unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [c, byName] of s.collections) for (const [n, r] of byName) out[`${c} ${n}`] = r.value;
  return out;
}

const vs = (name: string, hosts?: string[]) => ({
  metadata: { name, namespace: 'default', uid: `uid-${name}` },
  spec: hosts ? { hosts } : {},
});

describe('KubernetesSource against the Kubernetes API test double', () => {
  let api: KubeApiServerDouble;
  let source: KubernetesSource<unknown>;

  beforeEach(async () => {
    api = new KubeApiServerDouble().register(VS).register(SVC);
  });
  afterEach(async () => {
    await source?.stop();
    await api.stop();
  });

  async function start() {
    source = new KubernetesSource({
      kc: kubeConfigFor(await api.start(), 'token'),
      types: [VS, SVC],
      toResource,
      reportStatusOn: (t) => t.group.endsWith('istio.io'),
      debounceMs: 10,
    });
    return source.start();
  }

  it('serves valid objects of every type and writes the reason to an invalid one’s status', async () => {
    api.apply(VS, vs('reviews', ['reviews']));
    api.apply(VS, vs('broken'));
    api.apply(SVC, {
      metadata: { name: 'reviews', namespace: 'default' },
      spec: { ports: [{ port: 9080 }] },
    });
    const snapshot = await start();
    expect(served(snapshot)).toEqual({
      'networking.istio.io/v1/VirtualService default/reviews': { hosts: ['reviews'] },
      'core/v1/Service default/reviews': { ports: [{ port: 9080 }] },
    });
    expect(snapshot.rejections).toEqual([
      {
        origin: 'VirtualService default/broken',
        collection: 'networking.istio.io/v1/VirtualService',
        name: 'default/broken',
        message: 'spec.hosts: at least one host is required',
        keptLastGood: false,
      },
    ]);
    await waitFor('status on the invalid object', () => api.get(VS, 'default', 'broken')?.status);
    expect(api.get(VS, 'default', 'broken')?.status).toEqual({
      validationMessages: [
        {
          type: { code: 'IST0106', name: 'SchemaValidationError' },
          level: 'ERROR',
          description: 'spec.hosts: at least one host is required',
        },
      ],
    });
    expect(api.get(VS, 'default', 'reviews')?.status).toBeUndefined();
  });

  it('keeps the last good version of an object changed to something invalid, then clears its status once fixed', async () => {
    api.apply(VS, vs('reviews', ['reviews']));
    await start();
    api.apply(VS, vs('reviews'));
    await waitFor('the rejection', () => source.snapshot.rejections.length === 1);
    expect(served(source.snapshot)).toEqual({
      'networking.istio.io/v1/VirtualService default/reviews': { hosts: ['reviews'] },
    });
    expect(source.snapshot.rejections[0].keptLastGood).toBe(true);
    await waitFor('status written', () => api.get(VS, 'default', 'reviews')?.status);
    api.apply(VS, { ...vs('reviews', ['reviews.v2']), status: api.get(VS, 'default', 'reviews')?.status });
    await waitFor('the fix', () => source.snapshot.rejections.length === 0);
    await waitFor('status cleared', () => {
      const status = api.get(VS, 'default', 'reviews')?.status as
        { validationMessages?: unknown } | undefined;
      return status !== undefined && status.validationMessages === undefined;
    });
  });

  it('removes deleted objects in one snapshot naming the changed collection', async () => {
    api.apply(VS, vs('reviews', ['reviews']));
    await start();
    const next = new Promise<Set<string>>((resolve) =>
      source.once('snapshot', (_s, changed) => resolve(changed)),
    );
    api.delete(VS, 'default', 'reviews');
    expect([...(await next)]).toEqual(['networking.istio.io/v1/VirtualService']);
    expect(served(source.snapshot)).toEqual({});
  });
});
