// AuthorizationPolicy: action vs rules, CUSTOM providers, from/to/when contents.
import type { Issues } from '../issues';
import type { Obj } from '../schema/types';
import { isSet, list, obj, str, strList } from './common/access';
import type { ResourceContext } from './common/context';
import { isCIDR, isIPAddress } from './common/net';
import { checkPolicyTargets } from './common/selectors';

const SOURCE_FIELDS = [
  'principals',
  'requestPrincipals',
  'namespaces',
  'ipBlocks',
  'remoteIpBlocks',
  'notPrincipals',
  'notRequestPrincipals',
  'notNamespaces',
  'notIpBlocks',
  'notRemoteIpBlocks',
  'serviceAccounts',
  'notServiceAccounts',
  'trustDomains',
  'notTrustDomains',
];
const OPERATION_FIELDS = [
  'ports',
  'methods',
  'paths',
  'hosts',
  'notPorts',
  'notMethods',
  'notPaths',
  'notHosts',
];
const CUSTOM_UNSUPPORTED_SOURCES = [
  ['namespaces', 'From.Namespaces'],
  ['notNamespaces', 'From.NotNamespaces'],
  ['serviceAccounts', 'From.ServiceAccounts'],
  ['notServiceAccounts', 'From.NotServiceAccounts'],
  ['trustDomains', 'From.TrustDomains'],
  ['notTrustDomains', 'From.NotTrustDomains'],
  ['principals', 'From.Principals'],
  ['notPrincipals', 'From.NotPrincipals'],
  ['requestPrincipals', 'From.RequestPrincipals'],
  ['notRequestPrincipals', 'From.NotRequestPrincipals'],
];
const upper = (f: string): string => f[0].toUpperCase() + f.slice(1);
const LITERAL = /^[a-zA-Z0-9-._~%!$&'()+,;:@=]+$/;

export function ipProblems(values: string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    if (v.includes('/')) {
      if (!isCIDR(v)) out.push(`bad CIDR range (${v})`);
    } else if (!isIPAddress(v)) out.push(`bad IP address (${v})`);
  }
  return out;
}

function portProblems(values: string[]): string[] {
  return values.filter((p) => !/^\d+$/.test(p) || Number(p) > 65535).map((p) => `bad port (${p})`);
}

function wildcardProblem(key: string, values: string[]): string | undefined {
  for (const v of values) {
    if (v === '') return `empty value not allowed, found in ${key}`;
    const n = v.split('*').length - 1;
    if (n > 1) return `at most one wildcard is allowed, found in ${key}: "${v}"`;
    if (n === 1 && v !== '*' && !v.startsWith('*') && !v.endsWith('*')) {
      return `wildcard is only allowed at the start or end, found in ${key}: "${v}"`;
    }
  }
  return undefined;
}

function trustDomainProblem(key: string, values: string[]): string | undefined {
  const w = wildcardProblem(key, values);
  if (w) return w;
  const bad = values.find((v) => v.includes('/'));
  return bad !== undefined ? `trust domain must not contain '/', found in ${key}: "${bad}"` : undefined;
}

function serviceAccountProblem(key: string, values: string[]): string | undefined {
  if (values.length > 16) return 'may not have more than 16 values';
  for (const v of values) {
    if (v === '') return `empty value not allowed, found in ${key}`;
    if (v.includes('*')) return `wildcard not allowed, found in ${key}`;
    const slashes = v.split('/').length - 1;
    if (slashes > 1)
      return `expected format 'serviceAccount' or 'namespace/serviceAccount', found "${v}" in ${key}`;
    if (v.length > 320) return `value cannot exceed 320 characters, found "${v}" in ${key}`;
    if (slashes === 1) {
      const [ns, sa] = v.split('/');
      if (ns === '')
        return `expected format 'serviceAccount' or 'namespace/serviceAccount', found empty namespace "${v}" in ${key}`;
      if (sa === '')
        return `expected format 'serviceAccount' or 'namespace/serviceAccount', found empty serviceAccount "${v}" in ${key}`;
    }
  }
  return undefined;
}

function pathTemplateProblem(key: string, paths: string[]): string | undefined {
  for (const original of paths) {
    const hasTemplate = original.includes('{*}') || original.includes('{**}');
    const path = original.replace(/^\/+|\/+$/g, '');
    let anySeen = false;
    for (const glob of path.split('/')) {
      if (glob === '{*}' && !anySeen) continue;
      if (glob === '{**}' && !anySeen) {
        anySeen = true;
        continue;
      }
      if ((glob === '{**}' || glob === '{*}') && anySeen) {
        return `invalid or unsupported path ${path}, found in ${key}. {**} is not the last operator`;
      }
      if (/[{}]/.test(glob)) {
        return `invalid or unsupported path ${path}, found in ${key}. Contains '{' or '}' beyond a supported path template`;
      }
      if (hasTemplate && !LITERAL.test(glob)) {
        return `invalid or unsupported path ${path}, found in ${key}. Contains segment ${glob} with invalid string literal`;
      }
    }
  }
  return undefined;
}

function mapKeyProblem(key: string): string | undefined {
  const open = key.indexOf('[');
  if (key.endsWith(']') && open > 0 && open < key.length - 2) return undefined;
  return `bad key (${key}): should have format a[b]`;
}

/** Istio's per-attribute value rules for `when` conditions. */
export function attributeProblem(key: string, values: string[]): string | undefined {
  if (values.some((v) => v === '')) return `empty value not allowed, found in ${key}`;
  if (key.startsWith('request.headers')) return mapKeyProblem(key);
  switch (key) {
    case 'source.ip':
    case 'remote.ip':
    case 'destination.ip':
      return ipProblems(values)[0];
    case 'source.namespace':
    case 'source.principal':
    case 'request.auth.principal':
    case 'request.auth.audiences':
    case 'request.auth.presenter':
    case 'connection.sni':
      return undefined;
    case 'source.serviceAccount':
      return serviceAccountProblem(key, values);
    case 'source.trustDomain':
      return wildcardProblem(key, values);
    case 'destination.port':
      return portProblems(values)[0];
    case 'destination.namespace':
      return `attribute ${key} is replaced by the metadata.namespace`;
    case 'destination.name':
    case 'destination.user':
      return `deprecated attribute ${key}: only supported in v1alpha1`;
  }
  if (key.startsWith('request.auth.claims')) return mapKeyProblem(key);
  if (key.startsWith('experimental.envoy.filters.')) return mapKeyProblem(key);
  if (key.startsWith('destination.labels')) return `attribute ${key} is replaced by the workload selector`;
  return `unknown attribute: ${key}`;
}

export const DENY_HTTP_ONLY_WARNING =
  'configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port';

export function validateAuthorizationPolicy(spec: Obj, ctx: ResourceContext, issues: Issues): void {
  checkPolicyTargets(spec, issues);
  const action = str(spec.action) || 'ALLOW';
  const rules = spec.rules;
  const prefix = `invalid policy ${ctx.name}.${ctx.namespace}: `;
  const fail = (message: string, ...at: (string | number)[]): void => issues.error(prefix + message, ...at);
  if (action === 'CUSTOM') {
    if (!isSet(rules)) {
      fail(
        'CUSTOM action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request',
      );
    } else if (str(obj(spec.provider)?.name) === '') fail('`provider.name` must not be empty', 'provider');
    list(rules).forEach((r, i) => {
      const rule = obj(r);
      for (const f of list(rule?.from)) {
        const src = obj(obj(f)?.source);
        if (!src) continue;
        for (const [field, name] of CUSTOM_UNSUPPORTED_SOURCES) {
          if (list(src[field]).length !== 0)
            fail(`${name} is currently not supported with CUSTOM action`, 'rules', i, 'from');
        }
      }
      for (const w of list(rule?.when)) {
        const when = obj(w);
        if (!when) {
          fail('when field cannot be nil', 'rules', i, 'when');
          continue;
        }
        const key = str(when.key);
        if (
          ['source.namespace', 'source.serviceAccount', 'source.trustDomain', 'source.principal'].includes(
            key,
          ) ||
          key.startsWith('request.auth.')
        ) {
          fail(`${key} is currently not supported with CUSTOM action`, 'rules', i, 'when');
        }
      }
    });
  }
  if (isSet(spec.provider) && action !== 'CUSTOM')
    fail(`\`provider\` must not be with non CUSTOM action, found ${action}`, 'provider');
  if (action === 'DENY' && !isSet(rules)) {
    fail(
      'DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request',
    );
  }
  list(rules).forEach((r, i) => {
    issues.push('rules');
    issues.push(i);
    try {
      const rule = obj(r);
      if (!rule) {
        fail(`\`rule\` must not be nil, found at rule ${i}`);
        return;
      }
      if (Array.isArray(rule.from) && rule.from.length === 0)
        fail(`\`from\` must not be empty, found at rule ${i}`, 'from');
      let tcpFrom = false;
      let tcpTo = false;
      let fromExists = false;
      let toExists = false;
      list(rule.from).forEach((f, j) => {
        const from = obj(f);
        if (!from) {
          fail(`\`from\` must not be nil, found at rule ${i}`, 'from', j);
          return;
        }
        const src = obj(from.source);
        if (!src) {
          fail(`\`from.source\` must not be nil, found at rule ${i}`, 'from', j);
          return;
        }
        fromExists = true;
        const at = ['from', j, 'source'];
        const n = (f2: string): number => list(src[f2]).length;
        if (
          n('principals') + n('notPrincipals') + n('namespaces') + n('notNamespaces') > 0 &&
          n('serviceAccounts') + n('notServiceAccounts') > 0
        ) {
          fail(`cannot set serviceAccounts with namespaces or principals, found at rule ${i}`, ...at);
        }
        if (SOURCE_FIELDS.every((sf) => n(sf) === 0))
          fail(`\`from.source\` must not be empty, found at rule ${i}`, ...at);
        // Absent fields have nothing to check (most sources set one or two of the fourteen).
        for (const f2 of ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks']) {
          if (src[f2] === undefined) continue;
          for (const p of ipProblems(strList(src[f2]))) fail(p, ...at, f2);
        }
        for (const f2 of SOURCE_FIELDS) {
          if (src[f2] === undefined) continue;
          const values = strList(src[f2]);
          let p: string | undefined;
          if (f2 === 'serviceAccounts' || f2 === 'notServiceAccounts')
            p = serviceAccountProblem(upper(f2), values);
          else if (f2 === 'trustDomains' || f2 === 'notTrustDomains')
            p = trustDomainProblem(upper(f2), values);
          else if (values.includes('')) p = `empty value not allowed, found in ${upper(f2)}`;
          if (p) fail(p, ...at, f2);
        }
        if (
          [
            'notPrincipals',
            'principals',
            'ipBlocks',
            'notIpBlocks',
            'namespaces',
            'notNamespaces',
            'remoteIpBlocks',
            'notRemoteIpBlocks',
            'serviceAccounts',
            'notServiceAccounts',
          ].some((f2) => Array.isArray(src[f2]))
        ) {
          tcpFrom = true;
        }
      });
      if (Array.isArray(rule.to) && rule.to.length === 0)
        fail(`\`to\` must not be empty, found at rule ${i}`, 'to');
      list(rule.to).forEach((t, j) => {
        const to = obj(t);
        if (!to) {
          fail(`\`to\` must not be nil, found at rule ${i}`, 'to', j);
          return;
        }
        const op = obj(to.operation);
        if (!op) {
          fail(`\`to.operation\` must not be nil, found at rule ${i}`, 'to', j);
          return;
        }
        toExists = true;
        const at = ['to', j, 'operation'];
        if (OPERATION_FIELDS.every((f2) => list(op[f2]).length === 0))
          fail(`\`to.operation\` must not be empty, found at rule ${i}`, ...at);
        for (const p of portProblems(strList(op.ports))) fail(p, ...at, 'ports');
        for (const p of portProblems(strList(op.notPorts))) fail(p, ...at, 'notPorts');
        for (const f2 of OPERATION_FIELDS) {
          if (op[f2] !== undefined && strList(op[f2]).includes(''))
            fail(`empty value not allowed, found in ${upper(f2)}`, ...at, f2);
        }
        const pp =
          pathTemplateProblem('Paths', strList(op.paths)) ??
          pathTemplateProblem('NotPaths', strList(op.notPaths));
        if (pp) fail(pp, ...at);
        if (Array.isArray(op.ports) || Array.isArray(op.notPorts)) tcpTo = true;
      });
      list(rule.when).forEach((w, j) => {
        const when = obj(w);
        const key = str(when?.key);
        if (key === '') {
          fail('`key` must not be empty', 'when', j);
          return;
        }
        const values = strList(when?.values);
        const notValues = strList(when?.notValues);
        if (values.length === 0 && notValues.length === 0) {
          fail(`at least one of \`values\` or \`notValues\` must be set for key ${key}`, 'when', j);
          return;
        }
        const vp = attributeProblem(key, values);
        if (vp) fail(`invalid \`value\` for \`key\` ${key}: ${vp}`, 'when', j, 'values');
        const np = attributeProblem(key, notValues);
        if (np) fail(`invalid \`notValue\` for \`key\` ${key}: ${np}`, 'when', j, 'notValues');
      });
      if (((fromExists && !toExists && !tcpFrom) || (toExists && !tcpTo)) && action === 'DENY')
        issues.warn(DENY_HTTP_ONLY_WARNING);
    } finally {
      issues.pop();
      issues.pop();
    }
  });
}
