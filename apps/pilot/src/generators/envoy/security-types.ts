/**
 * The fields of Istio's security APIs (security.istio.io/v1) and MeshConfig extension providers that the Envoy
 * generator reads. Galley has validated every object before pilot sees it.
 */

export type MtlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

/** PeerAuthentication: https://istio.io/latest/docs/reference/config/security/peer_authentication/ */
export interface PeerAuthenticationSpec {
  selector?: { matchLabels?: Record<string, string> };
  mtls?: { mode?: MtlsMode };
  /** Keyed by the workload (target) port, as a string because YAML map keys are. */
  portLevelMtls?: Record<string, { mode?: MtlsMode }>;
}

/** A JWT rule of a RequestAuthentication: https://istio.io/latest/docs/reference/config/security/jwt/ */
export interface JwtRule {
  issuer: string;
  audiences?: string[];
  jwksUri?: string;
  jwks?: string;
  fromHeaders?: { name: string; prefix?: string }[];
  fromParams?: string[];
  outputPayloadToHeader?: string;
  forwardOriginalToken?: boolean;
}

export interface RequestAuthenticationSpec {
  selector?: { matchLabels?: Record<string, string> };
  jwtRules?: JwtRule[];
}

/** MeshConfig.extensionProviders[]: only the ext_authz gRPC kind, which CUSTOM AuthorizationPolicies name. */
export interface ExtensionProvider {
  name: string;
  envoyExtAuthzGrpc?: {
    /** A hostname (a registry service, or any name Envoy can resolve by DNS) and its port. */
    service: string;
    port: number;
    /** "0.2s" form; Envoy's default (200ms) when absent. */
    timeout?: string;
    failOpen?: boolean;
  };
}
