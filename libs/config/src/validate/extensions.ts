// WasmPlugin and TrafficExtension.
import { wasmURLSchemeOK } from '../schema/kinds/extensions';
import type { Issues } from '../issues';
import type { Obj } from '../schema/types';
import { list, num, obj, str } from './common/access';
import type { ResourceContext } from './common/context';
import { checkPolicyTargets } from './common/selectors';

function checkURL(url: string, issues: Issues): void {
  if (url === '') {
    issues.error('url field needs to be set', 'url');
    return;
  }
  if (!wasmURLSchemeOK(url)) {
    const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1];
    issues.error(
      scheme
        ? `url contains unsupported scheme: ${scheme}`
        : `failed to parse url: parse "${url}": invalid URI for request`,
      'url',
    );
  }
}

function checkSHA(sha: string, issues: Issues): void {
  if (sha === '') return;
  if (sha.length !== 64) issues.error('sha256 field must be 64 characters long', 'sha256');
  else if (!/^[a-f0-9]+$/.test(sha)) issues.error('sha256 field must match [a-f0-9]{64} pattern', 'sha256');
}

function checkVMConfig(vm: unknown, issues: Issues): void {
  const env = list(obj(vm)?.env);
  const names = new Set<string>();
  for (const e of env) {
    const v = obj(e);
    if (!v) continue;
    const name = str(v.name);
    if (name === '') return issues.error('spec.vmConfig.env invalid', 'vmConfig', 'env');
    if (name.length > 256)
      return issues.error('env.name field must be less than 255 characters long', 'vmConfig', 'env');
    if (names.has(name)) return issues.error('duplicate env', 'vmConfig', 'env');
    names.add(name);
    if ((v.valueFrom ?? 'INLINE') !== 'INLINE' && str(v.value) !== '') {
      return issues.error('value may only be set when valueFrom is INLINE', 'vmConfig', 'env');
    }
  }
}

function checkMatch(match: unknown, issues: Issues): void {
  list(match).forEach((s, i) => {
    const sel = obj(s);
    if (!sel) return issues.error(`spec.Match[${i}] is nil`, 'match', i);
    list(sel.ports).forEach((p, j) => {
      const port = obj(p);
      if (!port) return issues.error(`spec.Match[${i}].Ports[${j}] is nil`, 'match', i, 'ports', j);
      const n = num(port.number);
      if (n <= 0 || n > 65535)
        issues.error(`spec.Match[${i}].Ports[${j}] is out of range: ${n}`, 'match', i, 'ports', j);
    });
  });
}

function checkWasmFields(w: Obj, issues: Issues): void {
  checkURL(str(w.url), issues);
  checkSHA(str(w.sha256), issues);
  if (str(w.imagePullSecret).length > 253)
    issues.error('imagePullSecret field must be less than 253 characters long', 'imagePullSecret');
  if (str(w.pluginName).length > 256)
    issues.error('pluginName field must be less than 255 characters long', 'pluginName');
  checkVMConfig(w.vmConfig, issues);
}

export function validateWasmPlugin(spec: Obj, _ctx: ResourceContext, issues: Issues): void {
  checkPolicyTargets(spec, issues);
  checkWasmFields(spec, issues);
  checkMatch(spec.match, issues);
}

export function validateTrafficExtension(spec: Obj, _ctx: ResourceContext, issues: Issues): void {
  const wasm = obj(spec.wasm);
  const lua = obj(spec.lua);
  if (!!wasm === !!lua) issues.error('exactly one of wasm or lua must be set');
  checkPolicyTargets(spec, issues);
  if (lua) {
    const code = str(lua.inlineCode);
    if (code.length === 0) issues.error('lua.inlineCode cannot be empty', 'lua', 'inlineCode');
    if (code.length > 65536) issues.error('lua.inlineCode exceeds maximum size of 64KB', 'lua', 'inlineCode');
  }
  if (wasm) {
    issues.push('wasm');
    checkWasmFields(wasm, issues);
    issues.pop();
  }
  checkMatch(spec.match, issues);
}
