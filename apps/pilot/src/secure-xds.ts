// Pilot's mTLS xDS port (Istio's 15012): pilot is a workload of the mesh like any other, so it gets its serving
// certificate from citadel through the mesh agent (libs/mesh-agent: key + CSR, CreateCertificate with a token,
// rotation at half the lifetime) and serves xDS only to callers presenting a certificate from the same trust
// bundle. The certificate is held in memory and handed to grpc-js through its certificate-provider interface,
// so rotation reaches new connections without restarting the server and no key is written to disk.
import * as grpc from '@grpc/grpc-js';
import { CertificateFetcher, SecretManager } from '@flotilla/mesh-agent';
import type { SecretSource, WorkloadSecret } from '@flotilla/mesh-agent';

/** The identity pilot asks citadel for (Istio's istiod runs as service account istiod in istio-system). */
export const PILOT_SPIFFE_ID = 'spiffe://cluster.local/ns/istio-system/sa/pilot';
/** Istio's mTLS xDS port. */
export const SECURE_XDS_PORT = 15012;

type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;
type CaListener = grpc.experimental.CaCertificateUpdateListener;

/**
 * A grpc-js CertificateProvider fed by the mesh agent's SecretManager: every new certificate (and trust bundle)
 * goes to every listener, and a listener added later gets the current one at once.
 */
export class AgentCertificateProvider implements grpc.experimental.CertificateProvider {
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly caListeners = new Set<CaListener>();
  private current: WorkloadSecret | undefined;

  constructor(secrets: SecretManager) {
    this.current = secrets.secret;
    secrets.on('secret', (secret) => {
      this.current = secret;
      for (const l of this.identityListeners) l(this.identity(secret));
      for (const l of this.caListeners) l(this.ca(secret));
    });
  }

  private identity(secret: WorkloadSecret) {
    return {
      certificate: Buffer.from(secret.chainPem.join('')),
      privateKey: Buffer.from(secret.keyPem),
    };
  }

  private ca(secret: WorkloadSecret) {
    return { caCertificate: Buffer.from(secret.rootPem) };
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    this.deliverCurrent(listener, (secret) => listener(this.identity(secret)));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    this.deliverCurrent(listener, (secret) => listener(this.ca(secret)));
  }

  /**
   * Gives a new listener the current certificate on the next tick, not inside `add…Listener`: grpc-js's server
   * credentials add their provider listeners before registering the server that waits for the result, so an
   * update delivered synchronously would reach no server and leave it refusing every connection.
   */
  private deliverCurrent(
    listener: IdentityListener | CaListener,
    deliver: (secret: WorkloadSecret) => void,
  ): void {
    setImmediate(() => {
      const stillListening =
        this.identityListeners.has(listener as IdentityListener) ||
        this.caListeners.has(listener as CaListener);
      if (this.current && stillListening) deliver(this.current);
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }
}

export interface SecureXdsOptions {
  /** citadel's gRPC address, host:port. */
  citadelAddress: string;
  /** PEM root(s) that verify citadel, and that client certificates must chain to; a function is re-read per request. */
  rootCertPem: string | (() => string);
  /** The bearer token citadel accepts for pilot's identity (service-account token or `flotilla token`). */
  token: () => string | Promise<string>;
  /** Default PILOT_SPIFFE_ID. */
  spiffeId?: string;
  /** TLS name to check citadel's certificate against when the address is an IP ("localhost" locally). */
  citadelServerName?: string;
  /** Requested certificate lifetime in seconds (0: citadel's default). */
  ttlSeconds?: number;
  /** Where certificates come from; a CertificateFetcher to citadel unless a test passes another. */
  source?: SecretSource;
}

/** What pilot's second xDS server needs: credentials that require client certificates, and a way to stop rotating. */
export interface SecureXdsCredentials {
  credentials: grpc.ServerCredentials;
  /** The serving certificate in use. */
  secret(): WorkloadSecret;
  /** Gets a new certificate (and with it the current trust bundle) now: the bundle changed. */
  rotateNow(): void;
  stop(): void;
}

/**
 * Fetches pilot's serving certificate from citadel (retrying with backoff until citadel answers) and returns
 * server credentials requiring a client certificate that chains to the trust bundle; the certificate rotates
 * at half its lifetime for as long as `stop` is not called.
 */
export async function secureXdsCredentials(options: SecureXdsOptions): Promise<SecureXdsCredentials> {
  const source =
    options.source ??
    new CertificateFetcher({
      address: options.citadelAddress,
      rootCertPem: options.rootCertPem,
      spiffeId: options.spiffeId ?? PILOT_SPIFFE_ID,
      token: options.token,
      serverName: options.citadelServerName,
      ttlSeconds: options.ttlSeconds,
    });
  const secrets = new SecretManager({ source });
  const provider = new AgentCertificateProvider(secrets);
  await secrets.start();
  // grpc-js takes the identity provider first (as grpc-js-xds calls it); one provider serves both here.
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(provider, provider, true);
  return {
    credentials,
    secret: () => secrets.secret!,
    rotateNow: () => secrets.rotateNow(),
    stop: () => secrets.stop(),
  };
}
