// extensions.istio.io kinds: WasmPlugin and TrafficExtension.
import { any, arr, enumOf, i32, obj, str } from '../build';
import type { Rule, Schema } from '../types';
import { port, selectorOrTargets, targetRef, targetRefs, workloadSelector } from './shared';

const WASM_SCHEMES = new Set(['', 'http', 'https', 'oci', 'file']);
const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;

const BAD_ESCAPE = /%(?![0-9a-fA-F]{2})/;
// eslint-disable-next-line no-control-regex -- URLs may not contain control characters
const CONTROL_OR_SPACE = /[\x00-\x20\x7f]/;

/** Accepts a URL whose scheme Istio can fetch modules from; a reference without a scheme is read as http://. */
export function wasmURLSchemeOK(url: string): boolean {
  if (BAD_ESCAPE.test(url) || CONTROL_OR_SPACE.test(url)) return false;
  const m = SCHEME.exec(url);
  return m ? WASM_SCHEMES.has(m[1].toLowerCase()) : true;
}

const urlRule: Rule<string> = {
  message: 'url must have schema one of [http, https, file, oci]',
  cel: 'isURL(self) ? (url(self).getScheme() in ["", "http", "https", "oci", "file"]) : (isURL("http://" + self) && url("http://" + self).getScheme() in ["", "http", "https", "oci", "file"])',
  test: wasmURLSchemeOK,
};

const trafficSelector = (): Schema =>
  obj({
    mode: enumOf(['UNDEFINED', 'CLIENT', 'SERVER', 'CLIENT_AND_SERVER']),
    ports: arr(obj({ number: port() }, { required: ['number'] }), { listMapKeys: ['number'] }),
  });

const envVar = (): Schema =>
  obj(
    {
      name: str({ minLength: 1, maxLength: 256 }),
      valueFrom: enumOf(['INLINE', 'HOST']),
      value: str({ maxLength: 2048 }),
    },
    {
      required: ['name'],
      rules: [
        {
          message: 'value may only be set when valueFrom is INLINE',
          cel: '(has(self.valueFrom) ? self.valueFrom : "") != "HOST" || !has(self.value)',
          test: (v) => v.valueFrom !== 'HOST' || v.value === undefined,
        },
      ],
    },
  );

const wasmFields = (): Record<string, Schema> => ({
  url: str({ minLength: 1, rules: [urlRule] }),
  sha256: str({ pattern: '(^$|^[a-f0-9]{64}$)' }),
  imagePullPolicy: enumOf(['UNSPECIFIED_POLICY', 'IfNotPresent', 'Always']),
  imagePullSecret: str({ minLength: 1, maxLength: 253 }),
  verificationKey: str(),
  pluginConfig: any({ objectOnly: true }),
  pluginName: str({ minLength: 1, maxLength: 256 }),
  failStrategy: enumOf(['FAIL_CLOSE', 'FAIL_OPEN', 'FAIL_RELOAD']),
  vmConfig: obj({ env: arr(envVar(), { maxItems: 256, listMapKeys: ['name'] }) }),
  type: enumOf(['UNSPECIFIED_PLUGIN_TYPE', 'HTTP', 'NETWORK']),
});

export const wasmPluginSpec = (): Schema =>
  obj(
    {
      selector: workloadSelector(),
      targetRef: targetRef(),
      targetRefs: targetRefs(),
      ...wasmFields(),
      phase: enumOf(['UNSPECIFIED_PHASE', 'AUTHN', 'AUTHZ', 'STATS']),
      priority: i32({ nullable: true }),
      match: arr(trafficSelector()),
    },
    { required: ['url'], rules: [selectorOrTargets(['selector', 'targetRef', 'targetRefs'])] },
  );

export const trafficExtensionSpec = (): Schema =>
  obj(
    {
      selector: workloadSelector(),
      targetRefs: targetRefs(),
      phase: enumOf(['UNSPECIFIED', 'AUTHN', 'AUTHZ', 'STATS']),
      priority: i32({ nullable: true }),
      match: arr(trafficSelector()),
      wasm: obj(wasmFields(), { required: ['url'] }),
      lua: obj({ inlineCode: str({ minLength: 1, maxLength: 65536 }) }, { required: ['inlineCode'] }),
    },
    {
      oneOf: [['wasm', 'lua']],
      rules: [
        selectorOrTargets(['selector', 'targetRefs']),
        {
          message: 'exactly one of wasm or lua must be set',
          cel: 'has(self.wasm) != has(self.lua)',
          test: (v) => (v.wasm !== undefined) !== (v.lua !== undefined),
        },
      ],
    },
  );
