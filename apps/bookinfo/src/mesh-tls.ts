// Mutual TLS between the sample workloads from the files their mesh agent writes (cert-chain.pem, key.pem,
// root-cert.pem: the layout grpc's file_watcher certificate provider reads). grpc-js's own
// FileWatcherCertificateProvider re-reads them every refresh interval, so a rotated certificate is used by new
// connections without restarting a server or rebuilding a channel.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { CERT_CHAIN_FILE, KEY_FILE, ROOT_CERT_FILE } from '@flotilla/mesh-agent';
import { spiffeIdOf as workloadSpiffeId } from '@flotilla/pki';

/** The trust domain of the local mesh's citadel. */
export const TRUST_DOMAIN = 'cluster.local';

/** How often the provider re-reads the files (Istio's agent rotates at 50% of a 24 h certificate). */
const DEFAULT_REFRESH_MS = 5000;

/**
 * The service account of an app's workloads, as examples/bookinfo's WorkloadEntries name it (`serviceAccount:
 * bookinfo-reviews`), and so the identity a caller expects of that app.
 */
export function serviceAccountOf(app: string): string {
  return `bookinfo-${app}`;
}

export function spiffeIdOf(namespace: string, serviceAccount: string): string {
  return workloadSpiffeId({ trustDomain: TRUST_DOMAIN, namespace, serviceAccount });
}

/** The SPIFFE ID in a certificate's URI SAN (an X.509-SVID carries exactly one), or undefined. */
export function spiffeIdOfCertificate(
  cert: Pick<PeerCertificate, 'subjectaltname'> | undefined,
): string | undefined {
  const uris = (cert?.subjectaltname ?? '')
    .split(', ')
    .filter((name) => name.startsWith('URI:spiffe://'))
    .map((name) => name.slice('URI:'.length));
  return uris.length === 1 ? uris[0] : undefined;
}

/** The caller's SPIFFE ID on a server call made over mTLS; undefined on a plaintext call. */
export function peerSpiffeId(call: {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate };
}): string | undefined {
  return spiffeIdOfCertificate(call.getAuthContext().sslPeerCertificate);
}

/**
 * A tls checkServerIdentity that accepts the server only when its certificate's SPIFFE ID is `expected`. It
 * replaces the host-name check: workload certificates carry no DNS names, only the identity (Istio's clients
 * verify the same way, against the service's identities that pilot sends).
 */
export function expectSpiffeId(expected: string) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    const actual = spiffeIdOfCertificate(cert);
    if (actual === expected) return undefined;
    return new Error(`server identity ${actual ?? '(no SPIFFE ID)'} is not the expected ${expected}`);
  };
}

/** How a workload serves and dials: mTLS from its agent's files, or plaintext (only when asked for). */
export interface WorkloadTransport {
  /** Credentials of the workload's server. */
  server(): grpc.ServerCredentials;
  /** Credentials for calling `serverSpiffeId`'s workloads. */
  channel(serverSpiffeId: string): grpc.ChannelCredentials;
}

type CertificateProvider = grpc.experimental.CertificateProvider;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;
type IdentityUpdate = grpc.experimental.IdentityCertificateUpdate;

function keyMatchesCertificate(update: IdentityUpdate): boolean {
  try {
    return new X509Certificate(update.certificate).checkPrivateKey(createPrivateKey(update.privateKey));
  } catch {
    return false; // a file caught half-written or not PEM: wait for the next read
  }
}

/**
 * Passes on a provider's identity updates only when the key belongs to the leaf certificate. The mesh agent
 * renames the new key.pem into place before the new cert-chain.pem, so a read between the two renames finds a
 * new key with the old certificate; grpc-js would then drop the workload's TLS credentials, refusing every new
 * connection, until its next read. Skipping that update keeps the previous pair in use instead.
 */
export class MatchedKeyProvider implements CertificateProvider {
  private readonly wrapped = new Map<IdentityListener, IdentityListener>();

  constructor(private readonly files: CertificateProvider) {}

  addCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.files.addCaCertificateListener(listener);
  }

  removeCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.files.removeCaCertificateListener(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    const matchedOnly: IdentityListener = (update) => {
      if (update === null || keyMatchesCertificate(update)) listener(update);
    };
    this.wrapped.set(listener, matchedOnly);
    this.files.addIdentityCertificateListener(matchedOnly);
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    const matchedOnly = this.wrapped.get(listener);
    if (!matchedOnly) return;
    this.wrapped.delete(listener);
    this.files.removeIdentityCertificateListener(matchedOnly);
  }
}

/** mTLS from the three files in `certDir`; the server requires a client certificate from the same trust. */
export class FileWatcherTransport implements WorkloadTransport {
  private readonly provider: CertificateProvider;
  private readonly channels = new Map<string, grpc.ChannelCredentials>();
  private serverCredentials: grpc.ServerCredentials | undefined;

  constructor(certDir: string, refreshIntervalMs = DEFAULT_REFRESH_MS) {
    const files = new grpc.experimental.FileWatcherCertificateProvider({
      certificateFile: join(certDir, CERT_CHAIN_FILE),
      privateKeyFile: join(certDir, KEY_FILE),
      caCertificateFile: join(certDir, ROOT_CERT_FILE),
      refreshIntervalMs,
    });
    this.provider = new MatchedKeyProvider(files);
  }

  server(): grpc.ServerCredentials {
    // grpc-js 1.14 names the parameters (ca, identity, …) but uses the first as the identity provider (as
    // grpc-js-xds calls it); one provider serves both here, so the order cannot matter.
    this.serverCredentials ??= grpc.experimental.createCertificateProviderServerCredentials(
      this.provider,
      this.provider,
      true,
    );
    return this.serverCredentials;
  }

  channel(serverSpiffeId: string): grpc.ChannelCredentials {
    let credentials = this.channels.get(serverSpiffeId);
    if (!credentials) {
      credentials = grpc.experimental.createCertificateProviderChannelCredentials(
        this.provider,
        this.provider,
        {
          checkServerIdentity: expectSpiffeId(serverSpiffeId),
        },
      );
      this.channels.set(serverSpiffeId, credentials);
    }
    return credentials;
  }
}

/** No TLS at all: kept for running the samples without citadel (`bookinfo --plaintext`). */
export class PlaintextTransport implements WorkloadTransport {
  server(): grpc.ServerCredentials {
    return grpc.ServerCredentials.createInsecure();
  }

  channel(): grpc.ChannelCredentials {
    return grpc.credentials.createInsecure();
  }
}
