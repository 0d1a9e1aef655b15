import { KubeApiServerDouble, waitFor } from '@flotilla/testing';
import { kubeConfigFor } from './kube-config';
import { ResourceWatcher } from './resource-watcher';
import { ISTIO_TYPES } from './resource-types';
import { patchStatus } from './status';

const VS = ISTIO_TYPES.find((t) => t.kind === 'VirtualService')!;

describe('ResourceWatcher against the Kubernetes API test double', () => {
  let api: KubeApiServerDouble;
  let watcher: ResourceWatcher;

  beforeEach(async () => {
    api = new KubeApiServerDouble().register(VS);
  });
  afterEach(async () => {
    await watcher?.stop();
    await api.stop();
  });

  it('lists whole objects (with apiVersion and kind) and reports each change', async () => {
    api.apply(VS, { metadata: { name: 'reviews', namespace: 'default' }, spec: { hosts: ['reviews'] } });
    watcher = new ResourceWatcher(kubeConfigFor(await api.start(), 't'), VS);
    const changes: string[] = [];
    watcher.on('change', (kind, o) => changes.push(`${kind} ${o.metadata.name}`));
    await watcher.start();
    expect(watcher.list()[0]).toMatchObject({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService' });
    api.apply(VS, { metadata: { name: 'ratings', namespace: 'default' }, spec: { hosts: ['ratings'] } });
    api.delete(VS, 'default', 'reviews');
    await waitFor('both changes', () => changes.length === 3);
    expect(changes).toEqual(['add reviews', 'add ratings', 'delete reviews']);
  });

  it('recovers after the API server was unreachable, reporting the error', async () => {
    const url = await api.start();
    await api.stop();
    watcher = new ResourceWatcher(kubeConfigFor(url, 't'), VS, 50);
    const errors: Error[] = [];
    watcher.on('error', (e) => errors.push(e));
    await watcher.start().catch(() => undefined);
    await waitFor('an error', () => errors.length > 0);
    // The same port again, so the kubeconfig still points at it.
    api = new KubeApiServerDouble().register(VS);
    await api.start(Number(new URL(url).port));
    api.apply(VS, { metadata: { name: 'late', namespace: 'default' }, spec: {} });
    await waitFor(
      'the object after recovery',
      () => watcher.list().some((o) => o.metadata?.name === 'late'),
      10_000,
    );
  });

  it('writes status with a merge patch on the status subresource', async () => {
    api.apply(VS, { metadata: { name: 'reviews', namespace: 'default' }, spec: {} });
    const kc = kubeConfigFor(await api.start(), 't');
    await patchStatus(kc, VS, 'default', 'reviews', { validationMessages: [{ level: 'ERROR' }] });
    expect(api.get(VS, 'default', 'reviews')?.status).toEqual({ validationMessages: [{ level: 'ERROR' }] });
    await expect(patchStatus(kc, VS, 'default', 'missing', {})).rejects.toThrow(
      /HTTP 404: virtualservices "missing" not found/,
    );
  });
});
