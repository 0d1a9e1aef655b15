import { rbac } from '@flotilla/proto';
import type { ConfigEntry } from '../config-store';
import type { AuthorizationPolicySpec, AuthorizationRule } from './istio-types';

type Permission = rbac.Permission;
type Principal = rbac.Principal;
type StringMatcher = NonNullable<NonNullable<rbac.Principal['authenticated']>['principalName']>;

/**
 * Istio's value forms: "*" anything (present), "abc*" a prefix, "*abc" a suffix, otherwise exact.
 */
function stringMatcher(value: string): StringMatcher {
  if (value === '*') return { safeRegex: { regex: '.+' } } as StringMatcher;
  if (value.endsWith('*')) return { prefix: value.slice(0, -1) } as StringMatcher;
  if (value.startsWith('*')) return { suffix: value.slice(1) } as StringMatcher;
  return { exact: value } as StringMatcher;
}

function orPermissions(values: string[], one: (v: string) => Permission): Permission {
  return values.length === 1 ? one(values[0]) : ({ orRules: { rules: values.map(one) } } as Permission);
}

function orPrincipals(values: string[], one: (v: string) => Principal): Principal {
  return values.length === 1 ? one(values[0]) : ({ orIds: { ids: values.map(one) } } as Principal);
}

function header(name: string, value: string) {
  return { name, stringMatch: stringMatcher(value) };
}

function cidr(value: string) {
  const [address, len] = value.split('/');
  const prefixLen = len !== undefined ? Number(len) : address.includes(':') ? 128 : 32;
  return { addressPrefix: address, prefixLen };
}

const path = (v: string): Permission => ({ urlPath: { path: stringMatcher(v) } }) as Permission;
const method = (v: string): Permission => ({ header: header(':method', v) }) as Permission;
const port = (v: string): Permission => ({ destinationPort: Number(v) }) as Permission;
const authority = (v: string): Permission => ({ header: header(':authority', v) }) as Permission;
const principal = (v: string): Principal =>
  ({
    authenticated: {
      principalName: stringMatcher(v === '*' || v.startsWith('spiffe://') ? v : `spiffe://${v}`),
    },
  }) as Principal;
const namespace = (v: string): Principal =>
  ({ authenticated: { principalName: { safeRegex: { regex: `.*/ns/${escapeRegex(v)}/.*` } } } }) as Principal;
const directIp = (v: string): Principal => ({ directRemoteIp: cidr(v) }) as Principal;
const remoteIp = (v: string): Principal => ({ remoteIp: cidr(v) }) as Principal;

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function notP(p: Permission): Permission {
  return { notRule: p } as Permission;
}

function notId(p: Principal): Principal {
  return { notId: p } as Principal;
}

function andPermissions(rules: Permission[]): Permission {
  return rules.length === 0 ? ({ any: true } as Permission) : ({ andRules: { rules } } as Permission);
}

function andPrincipals(ids: Principal[]): Principal {
  return ids.length === 0 ? ({ any: true } as Principal) : ({ andIds: { ids } } as Principal);
}

/**
 * One rule as an Envoy RBAC policy, limited to what proxyless gRPC evaluates (gRFC A41): principals, namespaces
 * (both from the peer certificate), IP blocks, paths, methods, ports, hosts and request headers. A field gRPC
 * cannot check (requestPrincipals, request.auth claims) makes an ALLOW rule match nothing and is dropped from a
 * DENY rule's conditions, so the result is never more permissive than the policy — Istio's rule for fields a
 * protocol cannot see. Undefined when the rule cannot apply at all.
 */
export function rulePolicy(rule: AuthorizationRule, action: 'ALLOW' | 'DENY'): rbac.Policy | undefined {
  let unsupported = false;
  const permissions: Permission[] = [];
  const principals: Principal[] = [];
  const whenPermissions: Permission[] = [];
  const whenPrincipals: Principal[] = [];

  for (const condition of rule.when ?? []) {
    const values = condition.values ?? [];
    const notValues = condition.notValues ?? [];
    const headerKey = /^request\.headers\[(.+)\]$/.exec(condition.key);
    const add = <T>(
      list: T[],
      one: (v: string) => T,
      or: (vs: string[], f: (v: string) => T) => T,
      not: (t: T) => T,
    ) => {
      if (values.length) list.push(or(values, one));
      if (notValues.length) list.push(not(or(notValues, one)));
    };
    if (headerKey) {
      add(whenPermissions, (v) => ({ header: header(headerKey[1], v) }) as Permission, orPermissions, notP);
    } else if (condition.key === 'destination.port') {
      add(whenPermissions, port, orPermissions, notP);
    } else if (condition.key === 'source.ip') {
      add(whenPrincipals, directIp, orPrincipals, notId);
    } else if (condition.key === 'remote.ip') {
      add(whenPrincipals, remoteIp, orPrincipals, notId);
    } else if (condition.key === 'source.namespace') {
      add(whenPrincipals, namespace, orPrincipals, notId);
    } else if (condition.key === 'source.principal') {
      add(whenPrincipals, principal, orPrincipals, notId);
    } else {
      unsupported = true;
    }
  }

  for (const to of rule.to ?? [{}]) {
    const op = to.operation ?? {};
    const rules: Permission[] = [];
    const both = (vs: string[] | undefined, nvs: string[] | undefined, one: (v: string) => Permission) => {
      if (vs?.length) rules.push(orPermissions(vs, one));
      if (nvs?.length) rules.push(notP(orPermissions(nvs, one)));
    };
    both(op.paths, op.notPaths, path);
    both(op.methods, op.notMethods, method);
    both(op.ports, op.notPorts, port);
    both(op.hosts, op.notHosts, authority);
    permissions.push(andPermissions([...rules, ...whenPermissions]));
  }

  for (const from of rule.from ?? [{}]) {
    const s = from.source ?? {};
    if (s.requestPrincipals?.length || s.notRequestPrincipals?.length) unsupported = true;
    const ids: Principal[] = [];
    const both = (vs: string[] | undefined, nvs: string[] | undefined, one: (v: string) => Principal) => {
      if (vs?.length) ids.push(orPrincipals(vs, one));
      if (nvs?.length) ids.push(notId(orPrincipals(nvs, one)));
    };
    both(s.principals, s.notPrincipals, principal);
    both(s.namespaces, s.notNamespaces, namespace);
    both(s.ipBlocks, s.notIpBlocks, directIp);
    both(s.remoteIpBlocks, s.notRemoteIpBlocks, remoteIp);
    principals.push(andPrincipals([...ids, ...whenPrincipals]));
  }

  if (unsupported && action === 'ALLOW') return undefined;
  return rbac.Policy.fromPartial({ permissions, principals });
}

/**
 * The RBAC rules of one action over the policies that apply to a workload; undefined when no policy of that
 * action applies. An ALLOW set whose policies have no usable rule still yields (empty) rules: with an ALLOW
 * policy present, what no rule allows is denied.
 */
export function inboundRbac(
  policies: readonly ConfigEntry<AuthorizationPolicySpec>[],
  action: 'ALLOW' | 'DENY',
): rbac.RBAC | undefined {
  const applicable = policies.filter((p) => (p.spec.action ?? 'ALLOW') === action);
  if (applicable.length === 0) return undefined;
  const out: Record<string, rbac.Policy> = {};
  for (const p of applicable) {
    (p.spec.rules ?? []).forEach((rule, i) => {
      const policy = rulePolicy(rule, action);
      if (policy) out[`${p.namespace}-${p.name}-${i}`] = policy;
    });
  }
  if (action === 'DENY' && Object.keys(out).length === 0) return undefined;
  return rbac.RBAC.fromPartial({
    action: action === 'ALLOW' ? rbac.RBAC_Action.ALLOW : rbac.RBAC_Action.DENY,
    policies: out,
  });
}
