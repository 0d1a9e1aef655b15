import { KubeApiServerDouble } from '@flotilla/testing';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { kubeConfigFor } from './kube-config';
import { ensureObject, getObject } from './objects';
import { CONFIG_MAPS } from './resource-types';

describe('ensureObject against the Kubernetes API test double', () => {
  let api: KubeApiServerDouble;
  beforeEach(() => {
    api = new KubeApiServerDouble().register(CONFIG_MAPS);
  });
  afterEach(() => api.stop());

  const configMap = (value: string) => ({
    metadata: { name: 'settings', namespace: 'shop' },
    data: { key: value },
  });
  const differs = (value: string) => (stored: V1ConfigMap) => stored.data?.key !== value;

  it('creates a missing object, replaces an outdated one and leaves an equal one alone', async () => {
    const kc = kubeConfigFor(await api.start(), 't');
    expect(await getObject(kc, CONFIG_MAPS, 'shop', 'settings')).toBeUndefined();

    const first = await ensureObject(kc, CONFIG_MAPS, configMap('a'), differs('a'));
    expect(first.written).toBe(true);
    expect(api.get(CONFIG_MAPS, 'shop', 'settings')?.data).toEqual({ key: 'a' });

    const same = await ensureObject(kc, CONFIG_MAPS, configMap('a'), differs('a'));
    expect(same.written).toBe(false);

    const writes = api.requests.filter((r) => r.method !== 'GET').length;
    const second = await ensureObject(kc, CONFIG_MAPS, configMap('b'), differs('b'));
    expect(second.written).toBe(true);
    expect(api.get(CONFIG_MAPS, 'shop', 'settings')?.data).toEqual({ key: 'b' });
    expect(api.requests.filter((r) => r.method !== 'GET').map((r) => r.method)).toHaveLength(writes + 1);
  });
});
