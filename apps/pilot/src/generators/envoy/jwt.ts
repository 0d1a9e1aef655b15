import { httpConnectionManager, jwtAuthn, packAny } from '@flotilla/proto';
import { selectorMatches } from '@flotilla/registry';
import type { ConfigEntry } from '../../config-store';
import { ROOT_NAMESPACE, clusterName } from '../model';
import type { PushContext } from '../model';
import type { JwtRule, RequestAuthenticationSpec } from './security-types';

export const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';
/**
 * The dynamic-metadata key (in the jwt_authn filter's namespace) under which every provider leaves the verified
 * token's payload (JwtProvider.payload_in_metadata), where RBAC reads `iss` and `sub` for requestPrincipals.
 * Istio keys it by issuer and lets its own istio_authn filter join them; stock Envoy has no such filter, so one
 * fixed key serves every issuer.
 */
export const JWT_PAYLOAD_METADATA_KEY = 'payload';

type RequestAuthentication = ConfigEntry<RequestAuthenticationSpec>;

/**
 * The RequestAuthentications that apply to a workload: the root namespace's and its namespace's without a
 * selector, and its namespace's selecting it. Unlike PeerAuthentication, all of them apply together.
 */
export function requestAuthenticationsFor(
  push: PushContext,
  namespace: string,
  labels: Record<string, string>,
): RequestAuthentication[] {
  return (push.requestAuthentications as readonly ConfigEntry[] as readonly RequestAuthentication[])
    .filter((r) => {
      const selector = r.spec.selector?.matchLabels ?? {};
      if (Object.keys(selector).length === 0)
        return r.namespace === ROOT_NAMESPACE || r.namespace === namespace;
      return r.namespace === namespace && selectorMatches(selector, labels);
    })
    .sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1));
}

/**
 * The cluster Envoy fetches a remote JWKS through: the outbound cluster of the URI's host and port, so (as in
 * Istio with remote JWKS fetching in Envoy) the host must be a mesh service or a ServiceEntry.
 */
export function jwksCluster(jwksUri: string): string {
  const url = new URL(jwksUri);
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return clusterName(url.hostname, port);
}

function provider(rule: JwtRule): jwtAuthn.JwtProvider {
  return jwtAuthn.JwtProvider.fromPartial({
    issuer: rule.issuer,
    audiences: rule.audiences ?? [],
    // Inline keys win over a URI, as in Istio.
    ...(rule.jwks
      ? { localJwks: { inlineString: rule.jwks } }
      : rule.jwksUri
        ? {
            remoteJwks: {
              httpUri: {
                uri: rule.jwksUri,
                cluster: jwksCluster(rule.jwksUri),
                timeout: { seconds: 5, nanos: 0 },
              },
              cacheDuration: { seconds: 300, nanos: 0 },
            },
          }
        : {}),
    forward: rule.forwardOriginalToken ?? false,
    // Envoy's defaults (Authorization: Bearer, ?access_token=) apply when neither is given, as Istio's do.
    fromHeaders: (rule.fromHeaders ?? []).map((h) => ({ name: h.name, valuePrefix: h.prefix ?? '' })),
    fromParams: rule.fromParams ?? [],
    forwardPayloadHeader: rule.outputPayloadToHeader ?? '',
    payloadInMetadata: JWT_PAYLOAD_METADATA_KEY,
  });
}

/**
 * envoy.filters.http.jwt_authn for the RequestAuthentications of a workload, or undefined when none applies. A
 * request may carry a token from any provider or none (Istio's semantics: an invalid token is rejected with
 * 401, a missing one is left to AuthorizationPolicy's requestPrincipals).
 */
export function jwtAuthnFilter(
  policies: readonly RequestAuthentication[],
): httpConnectionManager.HttpFilter | undefined {
  const rules = policies.flatMap((p) => p.spec.jwtRules ?? []);
  if (rules.length === 0) return undefined;
  const providers: Record<string, jwtAuthn.JwtProvider> = {};
  rules.forEach((rule, i) => (providers[`origins-${i}`] = provider(rule)));
  const config = jwtAuthn.JwtAuthentication.fromPartial({
    providers,
    rules: [
      {
        match: { prefix: '/' },
        requires: {
          requiresAny: {
            requirements: [
              ...Object.keys(providers).map((providerName) => ({ providerName })),
              { allowMissing: {} },
            ],
          },
        },
      },
    ],
  });
  return httpConnectionManager.HttpFilter.fromPartial({
    name: JWT_AUTHN_FILTER,
    typedConfig: packAny(jwtAuthn.JwtAuthentication, config),
  });
}
