import {
  configSource,
  extAuthzFilter,
  httpConnectionManager,
  packAny,
  rbac,
  rbacFilter,
} from '@flotilla/proto';
import type { ConfigEntry } from '../../config-store';
import type { AuthorizationPolicySpec, AuthorizationRule } from '../istio-types';
import { RBAC_DENY_FILTER, RBAC_FILTER } from '../listener';
import { clusterName, parseDuration } from '../model';
import { rulePolicy } from '../rbac';
import { JWT_AUTHN_FILTER, JWT_PAYLOAD_METADATA_KEY } from './jwt';
import type { ExtensionProvider } from './security-types';

/** The names of the HTTP RBAC filters beyond ALLOW's and DENY's (../listener.ts), and of ext_authz. */
export const RBAC_AUDIT_FILTER = 'envoy.filters.http.rbac.AUDIT';
export const RBAC_CUSTOM_FILTER = 'envoy.filters.http.rbac.CUSTOM';
export const EXT_AUTHZ_FILTER = 'envoy.filters.http.ext_authz';

/** The dynamic-metadata namespace the RBAC filter writes, whatever the filter's configured name. */
const RBAC_METADATA_NAMESPACE = 'envoy.filters.http.rbac';
/**
 * Istio's CUSTOM wiring: a shadow RBAC engine whose policies carry this name prefix records the matched one in
 * dynamic metadata (`<stat prefix>shadow_effective_policy_id`), and ext_authz runs only when that is set — so
 * only requests a CUSTOM rule selects are sent to the external authorizer.
 */
const EXT_AUTHZ_SHADOW_STAT_PREFIX = 'istio_ext_authz_';
const EXT_AUTHZ_POLICY_PREFIX = 'istio-ext-authz';

type Principal = rbac.Principal;
type AuthorizationPolicy = ConfigEntry<AuthorizationPolicySpec & { provider?: { name?: string } }>;
type Action = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

function jwtClaim(
  claim: 'iss' | 'sub',
  match: { exact?: string; prefix?: string; suffix?: string } | 'present',
) {
  return {
    metadata: {
      filter: JWT_AUTHN_FILTER,
      path: [{ key: JWT_PAYLOAD_METADATA_KEY }, { key: claim }],
      value: match === 'present' ? { presentMatch: true } : { stringMatch: match },
    },
  } as Principal;
}

/**
 * One requestPrincipals value ("<iss>/<sub>", "*", "<prefix>*" or "*<suffix>") as a match on the verified JWT's
 * payload. The issuer is what precedes the last "/", since issuers are URLs and subjects rarely hold a "/".
 */
export function requestPrincipal(value: string): Principal {
  if (value === '*') return jwtClaim('iss', 'present');
  const and = (ids: Principal[]) => ({ andIds: { ids } }) as Principal;
  if (value.endsWith('*')) {
    const prefix = value.slice(0, -1);
    const slash = prefix.lastIndexOf('/');
    if (slash < 0) return jwtClaim('iss', { prefix });
    const sub = prefix.slice(slash + 1);
    return and([
      jwtClaim('iss', { exact: prefix.slice(0, slash) }),
      sub ? jwtClaim('sub', { prefix: sub }) : jwtClaim('sub', 'present'),
    ]);
  }
  if (value.startsWith('*')) {
    const suffix = value.slice(1);
    const slash = suffix.lastIndexOf('/');
    if (slash < 0) return jwtClaim('sub', { suffix });
    return and([
      jwtClaim('iss', { suffix: suffix.slice(0, slash) }),
      jwtClaim('sub', { exact: suffix.slice(slash + 1) }),
    ]);
  }
  const slash = value.lastIndexOf('/');
  return and([
    jwtClaim('iss', { exact: value.slice(0, slash) }),
    jwtClaim('sub', { exact: value.slice(slash + 1) }),
  ]);
}

/** Istio's value forms on a JWT claim: "*" present, "abc*" prefix, "*abc" suffix, otherwise exact. */
function claimValue(value: string) {
  if (value === '*') return { presentMatch: true };
  const stringMatch = value.endsWith('*')
    ? { prefix: value.slice(0, -1) }
    : value.startsWith('*')
      ? { suffix: value.slice(1) }
      : { exact: value };
  // A claim holds a string or a list of strings (aud, groups): either may match.
  return { orMatch: { valueMatchers: [{ stringMatch }, { listMatch: { oneOf: { stringMatch } } }] } };
}

/** A `when` key on the verified JWT (Istio's request.auth.* attributes) as the payload path it reads. */
function jwtPath(key: string): string[] | 'principal' | undefined {
  if (key === 'request.auth.principal') return 'principal';
  if (key === 'request.auth.presenter') return ['azp'];
  if (key === 'request.auth.audiences') return ['aud'];
  const claims = /^request\.auth\.claims((?:\[[^\]]+\])+)$/.exec(key);
  return claims ? [...claims[1].matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]) : undefined;
}

function jwtCondition(path: string[] | 'principal', value: string): Principal {
  if (path === 'principal') return requestPrincipal(value);
  return {
    metadata: {
      filter: JWT_AUTHN_FILTER,
      path: [JWT_PAYLOAD_METADATA_KEY, ...path].map((key) => ({ key })),
      value: claimValue(value),
    },
  } as Principal;
}

/** values (any of them) and notValues (none of them) of one condition as principals to AND. */
function anyAndNone(values: string[], notValues: string[], one: (v: string) => Principal): Principal[] {
  const or = (vs: string[]) =>
    vs.length === 1 ? one(vs[0]) : ({ orIds: { ids: vs.map(one) } } as Principal);
  const ids: Principal[] = [];
  if (values.length) ids.push(or(values));
  if (notValues.length) ids.push({ notId: or(notValues) } as Principal);
  return ids;
}

/**
 * One rule as an Envoy RBAC policy: the conditions the shared builder (../rbac.ts) handles, plus what only an
 * Envoy with jwt_authn can check, read from the verified token's payload — `from.source.requestPrincipals` and
 * `notRequestPrincipals` (and'ed into the principal of their `from` entry) and `when` conditions on
 * request.auth.principal, .audiences, .presenter and .claims[…] (and'ed into every principal).
 */
export function envoyRulePolicy(rule: AuthorizationRule, action: Action): rbac.Policy | undefined {
  const jwtWhen = (rule.when ?? []).flatMap((c) => {
    const path = jwtPath(c.key);
    return path ? anyAndNone(c.values ?? [], c.notValues ?? [], (v) => jwtCondition(path, v)) : [];
  });
  const withoutJwt: AuthorizationRule = {
    ...rule,
    from: rule.from?.map((f) => ({
      source: { ...f.source, requestPrincipals: undefined, notRequestPrincipals: undefined },
    })),
    when: rule.when?.filter((c) => !jwtPath(c.key)),
  };
  // AUDIT and CUSTOM select requests like DENY does: a condition that cannot be checked widens the match.
  const policy = rulePolicy(withoutJwt, action === 'ALLOW' ? 'ALLOW' : 'DENY');
  if (!policy) return undefined;
  policy.principals = policy.principals.map((principal, i) => {
    const source = rule.from?.[i]?.source;
    const ids = [
      ...anyAndNone(source?.requestPrincipals ?? [], source?.notRequestPrincipals ?? [], requestPrincipal),
      ...jwtWhen,
    ];
    if (ids.length === 0) return principal;
    return { andIds: { ids: [...(principal.any ? [] : [principal]), ...ids] } } as Principal;
  });
  return policy;
}

function policiesOf(
  policies: readonly AuthorizationPolicy[],
  action: Action,
  name: (p: AuthorizationPolicy, i: number) => string,
): Record<string, rbac.Policy> {
  const out: Record<string, rbac.Policy> = {};
  for (const p of policies.filter((q) => (q.spec.action ?? 'ALLOW') === action)) {
    (p.spec.rules ?? []).forEach((rule, i) => {
      const policy = envoyRulePolicy(rule, action);
      if (policy) out[name(p, i)] = policy;
    });
  }
  return out;
}

const ruleName = (p: AuthorizationPolicy, i: number) => `ns[${p.namespace}]-policy[${p.name}]-rule[${i}]`;

function rbacHttpFilter(name: string, config: rbacFilter.RBAC): httpConnectionManager.HttpFilter {
  return httpConnectionManager.HttpFilter.fromPartial({
    name,
    typedConfig: packAny(rbacFilter.RBAC, config),
  });
}

/** The cluster ext_authz calls for a provider: the outbound cluster of its service and port. */
export function extAuthzCluster(provider: NonNullable<ExtensionProvider['envoyExtAuthzGrpc']>): string {
  return clusterName(provider.service, provider.port);
}

function extAuthzHttpFilter(provider: NonNullable<ExtensionProvider['envoyExtAuthzGrpc']>) {
  const config = extAuthzFilter.ExtAuthz.fromPartial({
    grpcService: {
      envoyGrpc: { clusterName: extAuthzCluster(provider), authority: provider.service },
      timeout: parseDuration(provider.timeout) ?? { seconds: 0, nanos: 200_000_000 },
    },
    transportApiVersion: configSource.ApiVersion.V3,
    failureModeAllow: provider.failOpen ?? false,
    filterEnabledMetadata: {
      filter: RBAC_METADATA_NAMESPACE,
      path: [{ key: `${EXT_AUTHZ_SHADOW_STAT_PREFIX}shadow_effective_policy_id` }],
      value: { stringMatch: { prefix: EXT_AUTHZ_POLICY_PREFIX } },
    },
  });
  return httpConnectionManager.HttpFilter.fromPartial({
    name: EXT_AUTHZ_FILTER,
    typedConfig: packAny(extAuthzFilter.ExtAuthz, config),
  });
}

/**
 * CUSTOM policies: per provider, a shadow RBAC filter that marks the requests the policies select and an
 * ext_authz filter enabled only for marked requests. A policy naming a provider MeshConfig does not define
 * denies every request it would have sent out (Istio fails closed the same way).
 */
function customFilters(
  policies: readonly AuthorizationPolicy[],
  providers: readonly ExtensionProvider[],
): httpConnectionManager.HttpFilter[] {
  const custom = policies.filter((p) => p.spec.action === 'CUSTOM');
  const byProvider = new Map<string, AuthorizationPolicy[]>();
  for (const p of custom) {
    const name = p.spec.provider?.name ?? '';
    byProvider.set(name, [...(byProvider.get(name) ?? []), p]);
  }
  const filters: httpConnectionManager.HttpFilter[] = [];
  for (const [name, selected] of [...byProvider].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const grpc = providers.find((p) => p.name === name)?.envoyExtAuthzGrpc;
    const rules = policiesOf(selected, 'CUSTOM', (p, i) => `${EXT_AUTHZ_POLICY_PREFIX}-${ruleName(p, i)}`);
    if (!grpc) {
      const denied = rbac.RBAC.fromPartial({ action: rbac.RBAC_Action.DENY, policies: rules });
      filters.push(rbacHttpFilter(RBAC_CUSTOM_FILTER, rbacFilter.RBAC.fromPartial({ rules: denied })));
      continue;
    }
    const shadowRules = rbac.RBAC.fromPartial({ action: rbac.RBAC_Action.ALLOW, policies: rules });
    filters.push(
      rbacHttpFilter(
        RBAC_CUSTOM_FILTER,
        rbacFilter.RBAC.fromPartial({ shadowRules, shadowRulesStatPrefix: EXT_AUTHZ_SHADOW_STAT_PREFIX }),
      ),
      extAuthzHttpFilter(grpc),
    );
  }
  return filters;
}

/**
 * The authorization filters of an inbound HTTP chain, in Istio's order: CUSTOM (shadow RBAC + ext_authz), AUDIT
 * (RBAC with action LOG: marks requests for access logs, never denies), DENY, ALLOW. An ALLOW set whose rules
 * are all unusable still yields an empty ALLOW engine: with an ALLOW policy present, what no rule allows is
 * denied.
 */
export function authorizationFilters(
  policies: readonly AuthorizationPolicy[],
  providers: readonly ExtensionProvider[],
): httpConnectionManager.HttpFilter[] {
  const filters = customFilters(policies, providers);
  const engines: [string, Action, rbac.RBAC_Action][] = [
    [RBAC_AUDIT_FILTER, 'AUDIT', rbac.RBAC_Action.LOG],
    [RBAC_DENY_FILTER, 'DENY', rbac.RBAC_Action.DENY],
    [RBAC_FILTER, 'ALLOW', rbac.RBAC_Action.ALLOW],
  ];
  for (const [name, action, envoyAction] of engines) {
    if (!policies.some((p) => (p.spec.action ?? 'ALLOW') === action)) continue;
    const rules = policiesOf(policies, action, ruleName);
    if (action !== 'ALLOW' && Object.keys(rules).length === 0) continue;
    filters.push(
      rbacHttpFilter(name, rbacFilter.RBAC.fromPartial({ rules: { action: envoyAction, policies: rules } })),
    );
  }
  return filters;
}
