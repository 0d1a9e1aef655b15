import { ROOT_SECRET_NAME, WORKLOAD_SECRET_NAME, sdsSecretConfig } from '@flotilla/mesh-agent';
import { packAny, tls } from '@flotilla/proto';
import type { core } from '@flotilla/proto';
import { selectorMatches } from '@flotilla/registry';
import type { ConfigEntry } from '../../config-store';
import { ROOT_NAMESPACE } from '../model';
import type { PushContext } from '../model';
import type { MtlsMode, PeerAuthenticationSpec } from './security-types';

/** The mTLS mode that governs a workload port once inheritance is resolved (UNSET never survives it). */
export type EffectiveMtlsMode = Exclude<MtlsMode, 'UNSET'>;

/** Istio's default when no PeerAuthentication says anything: accept both mTLS and plaintext. */
export const DEFAULT_MTLS_MODE: EffectiveMtlsMode = 'PERMISSIVE';

export const TLS_TRANSPORT_SOCKET = 'envoy.transport_sockets.tls';

/**
 * ALPN values Istio's client sidecars send over ISTIO_MUTUAL (pilot/pkg/networking/util: mtlsHTTPALPNs and
 * mtlsTCPWithMxcALPNs): a PERMISSIVE port sends TLS connections carrying them to its mTLS chain.
 */
export const ISTIO_MTLS_ALPNS = [
  'istio-peer-exchange',
  'istio',
  'istio-http/1.0',
  'istio-http/1.1',
  'istio-h2',
];
/** ALPN the server side offers (Istio's ALPNDownstreamWithMxc for HTTP; istio-peer-exchange and istio for TCP). */
const SERVER_HTTP_ALPNS = ['istio-peer-exchange', 'h2', 'http/1.1'];
const SERVER_TCP_ALPNS = ['istio-peer-exchange', 'istio'];

type PeerAuthentication = ConfigEntry<PeerAuthenticationSpec>;

function hasSelector(p: PeerAuthentication): boolean {
  return Object.keys(p.spec.selector?.matchLabels ?? {}).length > 0;
}

function declared(mode: MtlsMode | undefined): EffectiveMtlsMode | undefined {
  return mode === undefined || mode === 'UNSET' ? undefined : mode;
}

/**
 * Istio's oldest-wins rule among policies of one level; galley gives no creation times, so namespace/name order
 * stands in for age.
 */
function first(policies: PeerAuthentication[]): PeerAuthentication | undefined {
  return [...policies].sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1))[0];
}

/**
 * The mTLS modes of one workload, resolved as Istio's PeerAuthentication docs say: a policy selecting the workload
 * beats its namespace's policy without a selector, which beats the mesh-wide one in the root namespace; UNSET
 * inherits from the next level, and nothing at all means PERMISSIVE. Port-level modes only come from the policy
 * selecting the workload and are keyed by the workload port.
 */
export class WorkloadMtls {
  private constructor(
    /** The mode of every port without a port-level setting (also the catch-all chain's). */
    readonly workloadMode: EffectiveMtlsMode,
    private readonly portModes: ReadonlyMap<number, EffectiveMtlsMode>,
  ) {}

  static resolve(push: PushContext, namespace: string, labels: Record<string, string>): WorkloadMtls {
    const all = push.peerAuthentications as readonly ConfigEntry[] as readonly PeerAuthentication[];
    const mesh = first(all.filter((p) => p.namespace === ROOT_NAMESPACE && !hasSelector(p)));
    const ns = first(all.filter((p) => p.namespace === namespace && !hasSelector(p)));
    const workload = first(
      all.filter(
        (p) =>
          p.namespace === namespace &&
          hasSelector(p) &&
          selectorMatches(p.spec.selector!.matchLabels!, labels),
      ),
    );
    const workloadMode =
      declared(workload?.spec.mtls?.mode) ??
      declared(ns?.spec.mtls?.mode) ??
      declared(mesh?.spec.mtls?.mode) ??
      DEFAULT_MTLS_MODE;
    const portModes = new Map<number, EffectiveMtlsMode>();
    for (const [port, setting] of Object.entries(workload?.spec.portLevelMtls ?? {})) {
      const mode = declared(setting.mode);
      if (mode) portModes.set(Number(port), mode);
    }
    return new WorkloadMtls(workloadMode, portModes);
  }

  /** The mode of one workload (target) port. */
  modeOf(port: number): EffectiveMtlsMode {
    return this.portModes.get(port) ?? this.workloadMode;
  }
}

/**
 * The server side of Istio mTLS: the workload certificate from SDS "default", peers verified against SDS
 * "ROOTCA", a client certificate required (its URI SAN becomes the RBAC principal).
 */
export function istioMutualServerTransportSocket(http: boolean): core.TransportSocket {
  const context = tls.DownstreamTlsContext.fromPartial({
    commonTlsContext: {
      tlsCertificateSdsSecretConfigs: [sdsSecretConfig(WORKLOAD_SECRET_NAME)],
      combinedValidationContext: {
        defaultValidationContext: {},
        validationContextSdsSecretConfig: sdsSecretConfig(ROOT_SECRET_NAME),
      },
      alpnProtocols: http ? SERVER_HTTP_ALPNS : SERVER_TCP_ALPNS,
    },
    requireClientCertificate: true,
  });
  return { name: TLS_TRANSPORT_SOCKET, typedConfig: packAny(tls.DownstreamTlsContext, context) };
}
