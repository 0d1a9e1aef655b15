// Inbound security of the Envoy sidecar generator (issue 7, item 3): PeerAuthentication → mTLS filter chains on
// virtualInbound, AuthorizationPolicy → RBAC and ext_authz, RequestAuthentication → jwt_authn. The routing
// simulator stands in for Envoy's filter-chain choice; the goldens (golden.spec.ts) pin the full output.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { configFromResources, envoyRuleChecker, simulate } from '@flotilla/envoy-verify';
import type { SimulatedRequest } from '@flotilla/envoy-verify';
import {
  cluster,
  core,
  extAuthzFilter,
  httpConnectionManager,
  jwtAuthn,
  listener,
  rbac,
  rbacFilter,
  tls,
  unpackAny,
} from '@flotilla/proto';
import { MeshModel } from '../../mesh-model';
import { applyDocs } from '../../testing/bookinfo';
import { proxyOf } from '../model';
import type { GenerateRequest } from '../types';
import { WorkloadMtls } from './authn';
import { envoyRulePolicy, requestPrincipal } from './authz';
import { DEFAULT_MESH_CONFIG } from './common';
import type { MeshConfig } from './common';
import { EnvoyGenerator } from './envoy-generator';

type Doc = Parameters<typeof applyDocs>[1][number];

const MIXER = 'mixer.istio-system.svc.cluster.local';
const WITH_MIXER: MeshConfig = {
  ...DEFAULT_MESH_CONFIG,
  extensionProviders: [{ name: 'mixer', envoyExtAuthzGrpc: { service: MIXER, port: 9091, failOpen: true } }],
};

function testdata(name: string): Doc[] {
  return loadAll(readFileSync(join(__dirname, 'testdata', `${name}.yaml`), 'utf8')).filter(Boolean) as Doc[];
}

function generate(docs: Doc[], proxyId: string, labels: Record<string, string>, mesh = DEFAULT_MESH_CONFIG) {
  const model = new MeshModel();
  applyDocs(model, docs);
  const request = {
    proxy: proxyOf(core.Node.fromPartial({ id: proxyId, metadata: { LABELS: labels } })),
    push: model.pushContext(),
    names: undefined,
    cache: undefined,
  } satisfies GenerateRequest;
  const generator = new EnvoyGenerator(mesh);
  const listeners = generator.buildListeners(request);
  const clusters = generator.buildClusters(request);
  const resources = [...listeners, ...generator.buildRoutes(request), ...clusters];
  const violations = resources.flatMap((e) => envoyRuleChecker().checkAny(e.resource, e.name));
  const virtualInbound = unpackAny(
    listeners.find((l) => l.name === 'virtualInbound')!.resource,
    listener.Listener,
  );
  return {
    violations,
    virtualInbound,
    clusters: new Map(clusters.map((c) => [c.name, unpackAny(c.resource, cluster.Cluster)])),
    config: configFromResources(resources.map((e) => e.resource)),
    push: request.push,
  };
}

function inboundOf(config: ReturnType<typeof generate>['config'], ip: string) {
  return (port: number, init: Partial<SimulatedRequest> = {}) =>
    simulate(config, { capture: 'inbound', destinationIp: ip, port, protocol: 'http', ...init });
}

function hcmOf(chain: listener.Listener['filterChains'][number]) {
  return unpackAny(chain.filters[0].typedConfig!, httpConnectionManager.HttpConnectionManager);
}

function httpFilter<T>(
  hcm: httpConnectionManager.HttpConnectionManager,
  name: string,
  type: { decode(b: Uint8Array): T },
): T {
  const f = hcm.httpFilters.find((x) => x.name === name);
  if (!f) throw new Error(`no HTTP filter ${name}: ${hcm.httpFilters.map((x) => x.name).join(', ')}`);
  return unpackAny(f.typedConfig!, type as never) as T;
}

/** An mTLS ClientHello as Istio's client sidecars send it (ALPN from ISTIO_MUTUAL clusters). */
const MTLS: Partial<SimulatedRequest> = { protocol: 'tls', alpn: ['istio-peer-exchange', 'istio'] };

describe('PeerAuthentication → virtualInbound mTLS chains', () => {
  const ledger = generate(
    testdata('inbound-mtls-modes'),
    'sidecar~10.0.3.7~ledger-0.bank~bank.svc.cluster.local',
    {
      app: 'ledger',
      version: 'v1',
    },
  );
  const inbound = inboundOf(ledger.config, '10.0.3.7');

  it('breaks no protoc-gen-validate rule of the Envoy protos', () => {
    expect(ledger.violations).toEqual([]);
  });

  it('resolves workload over namespace over mesh policy, UNSET inheriting, and port-level modes by workload port', () => {
    const mtls = WorkloadMtls.resolve(ledger.push, 'bank', { app: 'ledger', version: 'v1' });
    expect(mtls.workloadMode).toBe('PERMISSIVE');
    expect([8080, 9000, 8443].map((p) => mtls.modeOf(p))).toEqual(['PERMISSIVE', 'DISABLE', 'STRICT']);
    // Another workload of the namespace: the namespace policy is UNSET, so the mesh-wide STRICT applies.
    expect(WorkloadMtls.resolve(ledger.push, 'bank', { app: 'other' }).workloadMode).toBe('STRICT');
    // A namespace with no policy at all inherits the mesh-wide one.
    expect(WorkloadMtls.resolve(ledger.push, 'elsewhere', {}).modeOf(1)).toBe('STRICT');
  });

  it('PERMISSIVE: Istio mTLS goes to the TLS chain, plaintext to the plaintext chain', () => {
    // Inside TLS the simulator cannot see the request: the chain is as far as it (and this check) goes.
    expect(inbound(8080, MTLS)).toMatchObject({ filterChain: 'inbound|8080||-mtls' });
    expect(inbound(8080)).toMatchObject({ filterChain: 'inbound|8080||', cluster: 'inbound|8080||' });
  });

  it('STRICT (port level): only mTLS is accepted, plaintext matches no chain', () => {
    expect(inbound(8443, { ...MTLS })).toMatchObject({
      filterChain: 'inbound|8443||-mtls',
      cluster: 'inbound|8443||',
    });
    const plaintext = inbound(8443, { protocol: 'tcp' });
    expect(plaintext.filterChain).toBeUndefined();
    expect(plaintext.error).toBeDefined();
  });

  it('DISABLE (port level): a single plaintext chain without a TLS context', () => {
    expect(inbound(9000, { protocol: 'tcp' })).toMatchObject({
      filterChain: 'inbound|9000||',
      cluster: 'inbound|9000||',
    });
    const chains = ledger.virtualInbound.filterChains.filter(
      (c) => c.filterChainMatch?.destinationPort === 9000,
    );
    expect(chains.map((c) => [c.name, c.transportSocket])).toEqual([['inbound|9000||', undefined]]);
  });

  it("terminates mTLS with the agent's SDS secrets and requires a client certificate", () => {
    const chain = ledger.virtualInbound.filterChains.find((c) => c.name === 'inbound|8080||-mtls')!;
    expect(chain.transportSocket?.name).toBe('envoy.transport_sockets.tls');
    const context = unpackAny(chain.transportSocket!.typedConfig!, tls.DownstreamTlsContext);
    expect(context.requireClientCertificate).toBe(true);
    const common = context.commonTlsContext!;
    expect(common.tlsCertificateSdsSecretConfigs.map((s) => s.name)).toEqual(['default']);
    expect(common.combinedValidationContext?.validationContextSdsSecretConfig?.name).toBe('ROOTCA');
    expect(
      common.tlsCertificateSdsSecretConfigs[0].sdsConfig?.apiConfigSource?.grpcServices[0].envoyGrpc
        ?.clusterName,
    ).toBe('sds-grpc');
    expect(common.alpnProtocols).toEqual(['istio-peer-exchange', 'h2', 'http/1.1']);
    expect(chain.filterChainMatch).toMatchObject({ transportProtocol: 'tls', destinationPort: 8080 });
    expect(hcmOf(chain).forwardClientCertDetails).toBe(
      httpConnectionManager.HttpConnectionManager_ForwardClientCertDetails.APPEND_FORWARD,
    );
  });

  it('mesh-wide STRICT: every port and the catch-all refuse plaintext', () => {
    const ratings = generate(
      testdata('inbound-strict-mesh'),
      'sidecar~10.0.4.2~ratings-v1.bookinfo~bookinfo.svc.cluster.local',
      { app: 'ratings', version: 'v1' },
    );
    expect(ratings.violations).toEqual([]);
    const call = inboundOf(ratings.config, '10.0.4.2');
    expect(call(9080).error).toBeDefined();
    expect(call(7777, { protocol: 'tcp' }).error).toBeDefined();
    expect(call(9080, { ...MTLS, alpn: ['istio-http/1.1'] })).toMatchObject({
      filterChain: 'inbound|9080||-mtls',
    });
    expect(call(7777, MTLS)).toMatchObject({
      filterChain: 'virtualInbound-catchall-tcp-mtls',
      cluster: 'InboundPassthroughClusterIpv4',
    });
  });
});

describe('AuthorizationPolicy and RequestAuthentication → HTTP filters', () => {
  const payments = generate(
    testdata('inbound-jwt-authz'),
    'sidecar~10.0.5.9~payments-0.shop~shop.svc.cluster.local',
    { app: 'payments' },
    WITH_MIXER,
  );
  const hcm = hcmOf(payments.virtualInbound.filterChains.find((c) => c.name === 'inbound|8000||')!);

  it('breaks no protoc-gen-validate rule of the Envoy protos', () => {
    expect(payments.violations).toEqual([]);
  });

  it('orders the filters as Istio does: jwt_authn, CUSTOM, AUDIT, DENY, ALLOW, router', () => {
    expect(hcm.httpFilters.map((f) => f.name)).toEqual([
      'envoy.filters.http.jwt_authn',
      'envoy.filters.http.rbac.CUSTOM',
      'envoy.filters.http.ext_authz',
      'envoy.filters.http.rbac.AUDIT',
      'envoy.filters.http.rbac.DENY',
      'envoy.filters.http.rbac',
      'envoy.filters.http.router',
    ]);
  });

  it('has one jwt_authn provider per jwtRule, remote JWKS through the outbound cluster of its host', () => {
    const jwt = httpFilter(hcm, 'envoy.filters.http.jwt_authn', jwtAuthn.JwtAuthentication);
    const byIssuer = new Map(Object.values(jwt.providers).map((p) => [p.issuer, p]));
    expect(byIssuer.get('https://idp.example.com')).toMatchObject({
      audiences: ['payments'],
      forward: true,
      remoteJwks: { httpUri: { cluster: 'outbound|443||idp.example.com' } },
    });
    expect(payments.clusters.has('outbound|443||idp.example.com')).toBe(true);
    expect(byIssuer.get('flotilla-test')).toMatchObject({
      fromHeaders: [{ name: 'x-jwt', valuePrefix: 'Token ' }],
      fromParams: ['token'],
      forwardPayloadHeader: 'x-jwt-payload',
      payloadInMetadata: 'payload',
    });
    // Missing tokens pass (requestPrincipals decide); an invalid token from any provider is rejected.
    const requirements = jwt.rules[0].requires?.requiresAny?.requirements ?? [];
    expect(requirements.map((r) => r.providerName ?? (r.allowMissing ? 'allowMissing' : '?'))).toEqual([
      'origins-0',
      'origins-1',
      'allowMissing',
    ]);
  });

  it('sends only requests a CUSTOM rule selects to mixer, through a cluster for the provider', () => {
    const shadow = httpFilter(hcm, 'envoy.filters.http.rbac.CUSTOM', rbacFilter.RBAC);
    expect(shadow.rules).toBeUndefined();
    expect(shadow.shadowRulesStatPrefix).toBe('istio_ext_authz_');
    expect(Object.keys(shadow.shadowRules!.policies)).toEqual([
      'istio-ext-authz-ns[shop]-policy[ext-check]-rule[0]',
    ]);
    const extAuthz = httpFilter(hcm, 'envoy.filters.http.ext_authz', extAuthzFilter.ExtAuthz);
    expect(extAuthz.grpcService?.envoyGrpc?.clusterName).toBe(`outbound|9091||${MIXER}`);
    expect(extAuthz.failureModeAllow).toBe(true);
    expect(extAuthz.filterEnabledMetadata).toMatchObject({
      filter: 'envoy.filters.http.rbac',
      path: [{ key: 'istio_ext_authz_shadow_effective_policy_id' }],
      value: { stringMatch: { prefix: 'istio-ext-authz' } },
    });
    const mixer = payments.clusters.get(`outbound|9091||${MIXER}`)!;
    expect(mixer.type).toBe(cluster.Cluster_DiscoveryType.STRICT_DNS);
    expect(Object.keys(mixer.typedExtensionProtocolOptions)).toEqual([
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
    ]);
  });

  it('denies what a CUSTOM policy selects when its provider is not in MeshConfig', () => {
    const unprovided = generate(
      testdata('inbound-jwt-authz'),
      'sidecar~10.0.5.9~payments-0.shop~shop.svc.cluster.local',
      { app: 'payments' },
    );
    const chain = unprovided.virtualInbound.filterChains.find((c) => c.name === 'inbound|8000||')!;
    const filters = hcmOf(chain);
    expect(filters.httpFilters.map((f) => f.name)).not.toContain('envoy.filters.http.ext_authz');
    expect(httpFilter(filters, 'envoy.filters.http.rbac.CUSTOM', rbacFilter.RBAC).rules?.action).toBe(
      rbac.RBAC_Action.DENY,
    );
  });

  it('logs AUDIT matches without denying (RBAC action LOG)', () => {
    const audit = httpFilter(hcm, 'envoy.filters.http.rbac.AUDIT', rbacFilter.RBAC);
    expect(audit.rules?.action).toBe(rbac.RBAC_Action.LOG);
    expect(Object.keys(audit.rules!.policies)).toEqual(['ns[shop]-policy[audit-refunds]-rule[0]']);
  });

  it('checks requestPrincipals on the verified JWT payload and principals on the mTLS peer', () => {
    const allow = httpFilter(hcm, 'envoy.filters.http.rbac', rbacFilter.RBAC).rules!;
    expect(allow.action).toBe(rbac.RBAC_Action.ALLOW);
    const [users, checkout] = ['rule[0]', 'rule[1]'].map(
      (r) => allow.policies[`ns[shop]-policy[allow-users]-${r}`],
    );
    expect(users.principals.map((p) => rbac.Principal.toJSON(p))).toEqual([
      rbac.Principal.toJSON(
        rbac.Principal.fromPartial({ andIds: { ids: [requestPrincipal('https://idp.example.com/*')] } }),
      ),
    ]);
    expect(JSON.stringify(checkout.principals)).toContain('spiffe://cluster.local/ns/shop/sa/checkout');
    expect(JSON.stringify(checkout.principals)).toContain('"notId"');
    const admins = rbac.Policy.toJSON(allow.policies['ns[shop]-policy[allow-users]-rule[2]']);
    expect(JSON.stringify(admins)).toContain('{"key":"payload"},{"key":"groups"}');
  });
});

describe('envoyRulePolicy on JWT conditions', () => {
  const json = (p: rbac.Policy | undefined) => JSON.stringify(p && rbac.Policy.toJSON(p));

  it('reads request.auth.claims[…] (nested, string or list) and presenter from the verified payload', () => {
    const policy = envoyRulePolicy(
      {
        when: [
          { key: 'request.auth.claims[org][tier]', values: ['gold'] },
          { key: 'request.auth.presenter', notValues: ['untrusted-*'] },
        ],
      },
      'ALLOW',
    )!;
    const [principal] = (rbac.Policy.toJSON(policy) as { principals: { andIds: { ids: unknown[] } }[] })
      .principals;
    expect(principal.andIds.ids).toEqual([
      {
        metadata: {
          filter: 'envoy.filters.http.jwt_authn',
          path: [{ key: 'payload' }, { key: 'org' }, { key: 'tier' }],
          value: {
            orMatch: {
              valueMatchers: [
                { stringMatch: { exact: 'gold' } },
                { listMatch: { oneOf: { stringMatch: { exact: 'gold' } } } },
              ],
            },
          },
        },
      },
      {
        notId: {
          metadata: {
            filter: 'envoy.filters.http.jwt_authn',
            path: [{ key: 'payload' }, { key: 'azp' }],
            value: {
              orMatch: {
                valueMatchers: [
                  { stringMatch: { prefix: 'untrusted-' } },
                  { listMatch: { oneOf: { stringMatch: { prefix: 'untrusted-' } } } },
                ],
              },
            },
          },
        },
      },
    ]);
  });

  it('keeps an ALLOW rule on request.auth.principal instead of dropping it as one the shared builder cannot check', () => {
    const rule = { when: [{ key: 'request.auth.principal', values: ['https://idp.example.com/alice'] }] };
    expect(json(envoyRulePolicy(rule, 'ALLOW'))).toContain('"exact":"alice"');
    // A key nothing can check still makes an ALLOW rule match nothing.
    expect(
      envoyRulePolicy({ when: [{ key: 'experimental.envoy.filters.x', values: ['1'] }] }, 'ALLOW'),
    ).toBeUndefined();
  });
});

describe('requestPrincipal', () => {
  const claim = (key: string, value: unknown) => ({
    metadata: {
      filter: 'envoy.filters.http.jwt_authn',
      path: [{ key: 'payload' }, { key }],
      value,
    },
  });

  it('splits "<iss>/<sub>" at the last slash and matches both claims exactly', () => {
    expect(requestPrincipal('https://idp.example.com/alice')).toEqual({
      andIds: {
        ids: [
          claim('iss', { stringMatch: { exact: 'https://idp.example.com' } }),
          claim('sub', { stringMatch: { exact: 'alice' } }),
        ],
      },
    });
  });

  it('takes "*" as any verified token, and prefix and suffix forms on the claim they fall in', () => {
    expect(requestPrincipal('*')).toEqual(claim('iss', { presentMatch: true }));
    expect(requestPrincipal('issuer-a*')).toEqual(claim('iss', { stringMatch: { prefix: 'issuer-a' } }));
    expect(requestPrincipal('*@example.com')).toEqual(
      claim('sub', { stringMatch: { suffix: '@example.com' } }),
    );
    expect(requestPrincipal('iss/adm*')).toEqual({
      andIds: {
        ids: [
          claim('iss', { stringMatch: { exact: 'iss' } }),
          claim('sub', { stringMatch: { prefix: 'adm' } }),
        ],
      },
    });
  });
});
