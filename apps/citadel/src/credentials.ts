import { ServerCredentials } from '@grpc/grpc-js';

/**
 * TLS server credentials that ask for a client certificate but do not require one: a workload renewing with
 * its still-valid certificate presents it (TLS verifies it against `ca`, and grpc-js then exposes it in the
 * call's auth context), while a first request authenticates with a token only. grpc-js's createSsl can only
 * require client certificates or not ask at all.
 */
export class OptionalClientCertCredentials extends ServerCredentials {
  constructor(ca: string, certChain: string, privateKey: string) {
    super(
      { requestCert: true, rejectUnauthorized: false },
      { ca: Buffer.from(ca), cert: Buffer.from(certChain), key: Buffer.from(privateKey) },
    );
  }

  /** New roots or serving certificate (after a root rotation): connections from now on use them. */
  update(ca: string, certChain: string, privateKey: string): void {
    this.updateSecureContextOptions({
      ca: Buffer.from(ca),
      cert: Buffer.from(certChain),
      key: Buffer.from(privateKey),
    });
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}
