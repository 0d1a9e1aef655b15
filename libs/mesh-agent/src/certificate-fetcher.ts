import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { ca } from '@flotilla/proto';
import { createKeyAndCsr } from './csr';
import { trustBundleCertificates } from './trust-bundle';

/** One workload certificate with its key, as the agent holds it. */
export interface WorkloadSecret {
  /** PKCS #8 PEM. */
  keyPem: string;
  /** Leaf first, then intermediates; citadel's trailing root is left out (it is in the root bundle). */
  chainPem: string[];
  /** The trust bundle: one or more PEM roots. */
  rootPem: string;
  /** When the agent received it (ms since the epoch): rotation counts from here, not the back-dated notBefore. */
  fetchedAt: number;
  notBefore: number;
  notAfter: number;
  serial: string;
}

export interface CertificateFetcherOptions {
  /** citadel's gRPC address, host:port. */
  address: string;
  /**
   * PEM root(s) that verify citadel's serving certificate; also the workload's trust bundle. A function is called
   * for every request, so a bundle file re-read there follows citadel's root rotation (old and new roots).
   */
  rootCertPem: string | (() => string);
  /** The identity to ask for, spiffe://<td>/ns/<ns>/sa/<sa>. */
  spiffeId: string;
  /** The bearer token (a Kubernetes service-account token or a `flotilla token`); read on every request. */
  token: () => string | Promise<string>;
  /** Requested lifetime in seconds; 0 lets citadel choose. */
  ttlSeconds?: number;
  /** TLS server name to check citadel's certificate against, when the address is an IP (e.g. "localhost"). */
  serverName?: string;
  /** Per-call deadline, ms. */
  timeoutMs?: number;
}

/** Makes a key and a CSR and has citadel sign it, over IstioCertificateService/CreateCertificate with TLS. */
export class CertificateFetcher {
  constructor(private readonly options: CertificateFetcherOptions) {}

  get spiffeId(): string {
    return this.options.spiffeId;
  }

  async fetch(): Promise<WorkloadSecret> {
    const roots = this.options.rootCertPem;
    const rootPem = typeof roots === 'string' ? roots : roots();
    // A TrustBundleFile's read() returns only contents it checked (its errors name its file); a string is checked here.
    const rootCertificates = trustBundleCertificates(rootPem, 'given as rootCertPem');
    const { keyPem, csrPem } = await createKeyAndCsr(this.options.spiffeId);
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${await this.options.token()}`);
    const chain = await this.call(
      { csr: csrPem, validityDuration: this.options.ttlSeconds ?? 0, metadata: {} },
      metadata,
      rootPem,
    );
    if (chain.length === 0) throw new Error('citadel returned an empty certificate chain');
    const leaf = new X509Certificate(chain[0]);
    const rootFingerprints = new Set(rootCertificates.map((p) => new X509Certificate(p).fingerprint256));
    const last = chain.at(-1)!;
    const withoutRoot =
      chain.length > 1 && rootFingerprints.has(new X509Certificate(last).fingerprint256)
        ? chain.slice(0, -1)
        : chain;
    return {
      keyPem,
      chainPem: withoutRoot.map(normalizePem),
      rootPem: normalizePem(rootPem),
      fetchedAt: Date.now(),
      notBefore: Date.parse(leaf.validFrom),
      notAfter: Date.parse(leaf.validTo),
      serial: leaf.serialNumber,
    };
  }

  private call(
    request: ca.IstioCertificateRequest,
    metadata: grpc.Metadata,
    rootPem: string,
  ): Promise<string[]> {
    const channelOptions: grpc.ChannelOptions = this.options.serverName
      ? { 'grpc.ssl_target_name_override': this.options.serverName }
      : {};
    const client = new ca.IstioCertificateServiceClient(
      this.options.address,
      grpc.credentials.createSsl(Buffer.from(rootPem)),
      channelOptions,
    );
    const deadline = Date.now() + (this.options.timeoutMs ?? 10_000);
    return new Promise<string[]>((resolve, reject) =>
      client.createCertificate(request, metadata, { deadline }, (err, response) => {
        client.close();
        if (err) reject(err);
        else resolve(response.certChain);
      }),
    );
  }
}

function normalizePem(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}
