// Third-party adapters: a handler whose compiledAdapter is an npm package name, not one compiled into mixer, is
// loaded with loadAdapterPackage. The denier package stands in for a third-party one here: the runtime is given no
// built-in adapters at all, so everything it uses came through the loader.
import { Code, silentLogger } from '@flotilla/mixer-adapter-sdk';
import { MixerRuntime, loadAdapterPackage, resourcesFromYaml } from '@flotilla/mixer-core';

const PACKAGE = '@flotilla/mixer-adapter-denier';

const CONFIG = `
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: { name: third-party-deny, namespace: istio-system }
spec:
  compiledAdapter: "${PACKAGE}"
  params: { status: { code: 7, message: denied by a package } }
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: { name: nothing, namespace: istio-system }
spec: { compiledTemplate: checknothing }
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: { name: deny-banned, namespace: istio-system }
spec:
  match: request.headers["x-user"] == "banned"
  actions: [{ handler: third-party-deny, instances: [nothing] }]
`;

describe('adapters loaded by npm package name', () => {
  it('loads an adapter package (its `adapter` or default export) and refuses names that are no adapter', async () => {
    const adapter = await loadAdapterPackage(PACKAGE);
    expect(adapter?.templates).toContain('checknothing');
    expect(await loadAdapterPackage('no-such-package-for-flotilla')).toBeUndefined();
    expect(await loadAdapterPackage('../relative/path')).toBeUndefined();
    // A real package that is not an adapter.
    expect(await loadAdapterPackage('js-yaml')).toBeUndefined();
  });

  it('uses a package named in handler config, with no adapter compiled in', async () => {
    const runtime = new MixerRuntime({
      adapters: new Map(),
      logger: silentLogger,
      loadAdapter: loadAdapterPackage,
    });
    const { resources, errors } = resourcesFromYaml(CONFIG, 'third-party.yaml', 'istio-system');
    expect(errors).toEqual([]);
    const result = await runtime.apply(resources);
    expect(result.errors).toEqual([]);
    const denied = await runtime.check(new Map([['request.headers', { 'x-user': 'banned' }]]));
    expect(denied.status).toEqual({ code: Code.PERMISSION_DENIED, message: 'denied by a package' });
    const allowed = await runtime.check(new Map([['request.headers', { 'x-user': 'alice' }]]));
    expect(allowed.status.code).toBe(Code.OK);
  });
});
