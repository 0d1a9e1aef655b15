// TLS for Envoy: upstream TLS from DestinationRule tls settings and downstream TLS for gateway servers, with the
// workload certificate "default" and the mesh trust bundle "ROOTCA" from the mesh agent's SDS (secret names, SDS
// config and the bootstrap's sds-grpc cluster from libs/mesh-agent, shared with authn.ts and `flotilla bootstrap`).
import {
  HTTP_PROTOCOL_OPTIONS,
  core,
  packAny,
  tls,
  tlsCommon,
  tlsSecret,
  upstreamHttp,
} from '@flotilla/proto';
import type { CommonHttpOptions, protobufAny } from '@flotilla/proto';
import { ROOT_SECRET_NAME, WORKLOAD_SECRET_NAME, sdsSecretConfig } from '@flotilla/mesh-agent';
import { TLS_TRANSPORT_SOCKET } from './authn';
import type { ClientTlsSettings, ServerTlsSettings } from './istio-networking';

/** Istio's ALPN for sidecar-to-sidecar mTLS (metadata exchange, then Istio's own marker). */
export const ISTIO_MTLS_ALPN = ['istio-peer-exchange', 'istio'];

function sdsSecret(name: string) {
  return tlsSecret.SdsSecretConfig.fromPartial(sdsSecretConfig(name));
}

/** SAN matchers: SPIFFE ids and other URIs as URI SANs, anything else as a DNS SAN. */
function sanMatchers(names: readonly string[]) {
  return names.map((name) =>
    tlsCommon.SubjectAltNameMatcher.fromPartial({
      sanType: name.includes('://')
        ? tlsCommon.SubjectAltNameMatcher_SanType.URI
        : tlsCommon.SubjectAltNameMatcher_SanType.DNS,
      matcher: { exact: name },
    }),
  );
}

/** Istio's SNI for ISTIO_MUTUAL: the cluster name with "|" as "_." ("outbound_.9080_.v1_.reviews.shop.svc…"). */
export function istioMutualSni(clusterName: string): string {
  return clusterName.replaceAll('|', '_.');
}

function transportSocket(context: tls.UpstreamTlsContext): core.TransportSocket {
  return core.TransportSocket.fromPartial({
    name: TLS_TRANSPORT_SOCKET,
    typedConfig: packAny(tls.UpstreamTlsContext, context),
  });
}

/**
 * The transport socket of a cluster from its DestinationRule tls settings: none for DISABLE (or unset); SIMPLE
 * verifies the server with caCertificates; MUTUAL also presents clientCertificate/privateKey (files);
 * ISTIO_MUTUAL presents the workload certificate and verifies with the mesh roots, both from the agent's SDS,
 * expecting the destination's SPIFFE identities (`identities`) unless subjectAltNames names others.
 */
export function upstreamTransportSocket(
  settings: ClientTlsSettings | undefined,
  clusterName: string,
  identities: readonly string[],
): core.TransportSocket | undefined {
  const mode = settings?.mode ?? 'DISABLE';
  if (mode === 'DISABLE') return undefined;
  const sans = settings?.subjectAltNames?.length ? settings.subjectAltNames : [];
  if (mode === 'ISTIO_MUTUAL') {
    return transportSocket(
      tls.UpstreamTlsContext.fromPartial({
        commonTlsContext: {
          tlsCertificateSdsSecretConfigs: [sdsSecret(WORKLOAD_SECRET_NAME)],
          combinedValidationContext: {
            defaultValidationContext: {
              matchTypedSubjectAltNames: sanMatchers(sans.length ? sans : identities),
            },
            validationContextSdsSecretConfig: sdsSecret(ROOT_SECRET_NAME),
          },
          alpnProtocols: ISTIO_MTLS_ALPN,
        },
        sni: settings?.sni || istioMutualSni(clusterName),
      }),
    );
  }
  const validation =
    settings?.caCertificates && !settings.insecureSkipVerify
      ? { trustedCa: { filename: settings.caCertificates }, matchTypedSubjectAltNames: sanMatchers(sans) }
      : undefined;
  return transportSocket(
    tls.UpstreamTlsContext.fromPartial({
      commonTlsContext: {
        tlsCertificates:
          mode === 'MUTUAL' && settings?.clientCertificate && settings.privateKey
            ? [
                {
                  certificateChain: { filename: settings.clientCertificate },
                  privateKey: { filename: settings.privateKey },
                },
              ]
            : [],
        validationContext: validation,
      },
      sni: settings?.sni ?? '',
    }),
  );
}

/**
 * A gateway server's DownstreamTlsContext: SIMPLE and MUTUAL take the certificate from SDS by credentialName
 * (Istio's gateway SDS; MUTUAL also verifies clients with "<credentialName>-cacert") or from files;
 * ISTIO_MUTUAL uses the workload certificate and mesh roots.
 */
export function downstreamTlsContext(settings: ServerTlsSettings): tls.DownstreamTlsContext {
  const mode = settings.mode ?? 'SIMPLE';
  const mutual = mode === 'MUTUAL' || mode === 'ISTIO_MUTUAL';
  const common: Parameters<typeof tls.CommonTlsContext.fromPartial>[0] = {
    alpnProtocols: mode === 'ISTIO_MUTUAL' ? ISTIO_MTLS_ALPN : ['h2', 'http/1.1'],
  };
  if (mode === 'ISTIO_MUTUAL') {
    common.tlsCertificateSdsSecretConfigs = [sdsSecret(WORKLOAD_SECRET_NAME)];
    common.combinedValidationContext = {
      defaultValidationContext: { matchTypedSubjectAltNames: sanMatchers(settings.subjectAltNames ?? []) },
      validationContextSdsSecretConfig: sdsSecret(ROOT_SECRET_NAME),
    };
  } else if (settings.credentialName) {
    common.tlsCertificateSdsSecretConfigs = [sdsSecret(settings.credentialName)];
    if (mutual) {
      common.combinedValidationContext = {
        defaultValidationContext: { matchTypedSubjectAltNames: sanMatchers(settings.subjectAltNames ?? []) },
        validationContextSdsSecretConfig: sdsSecret(`${settings.credentialName}-cacert`),
      };
    }
  } else {
    if (settings.serverCertificate && settings.privateKey) {
      common.tlsCertificates = [
        {
          certificateChain: { filename: settings.serverCertificate },
          privateKey: { filename: settings.privateKey },
        },
      ];
    }
    if (mutual && settings.caCertificates) {
      common.validationContext = {
        trustedCa: { filename: settings.caCertificates },
        matchTypedSubjectAltNames: sanMatchers(settings.subjectAltNames ?? []),
      };
    }
  }
  return tls.DownstreamTlsContext.fromPartial({
    commonTlsContext: common,
    requireClientCertificate: mutual ? true : undefined,
  });
}

export function downstreamTransportSocket(settings: ServerTlsSettings): core.TransportSocket {
  return core.TransportSocket.fromPartial({
    name: TLS_TRANSPORT_SOCKET,
    typedConfig: packAny(tls.DownstreamTlsContext, downstreamTlsContext(settings)),
  });
}

/** HTTP/1.1 upstream protocol options with connection settings, as a typed_extension_protocol_options entry. */
export function http1ProtocolOptions(common: CommonHttpOptions): Record<string, protobufAny.Any> {
  return {
    [HTTP_PROTOCOL_OPTIONS]: packAny(
      upstreamHttp.HttpProtocolOptions,
      upstreamHttp.HttpProtocolOptions.fromPartial({
        commonHttpProtocolOptions: common,
        explicitHttpConfig: { httpProtocolOptions: {} },
      }),
    ),
  };
}
