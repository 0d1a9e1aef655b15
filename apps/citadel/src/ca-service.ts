import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { CaError, csrPemToDer } from '@flotilla/pki';
import type { CertificateAuthority } from '@flotilla/pki';
import type { ca as caProto } from '@flotilla/proto';
import type { Logger } from '@flotilla/service-kit';
import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { authenticate, bearerTokenOf } from './authn';
import type { Authenticator, Credentials } from './authn';
import { STATUS_OF, toServiceError } from './grpc-errors';

/** What signs workload certificates: citadel's CertificateAuthority, or Vault (VaultLeafIssuer). */
export type WorkloadIssuer = Pick<CertificateAuthority, 'issueWorkload'>;

export interface CertificateServiceDeps {
  ca: WorkloadIssuer;
  authenticators: readonly Authenticator[];
  logger: Logger;
  metrics: Registry;
}

function credentialsOf(call: ServerUnaryCall<unknown, unknown>): Credentials {
  const authorization = call.metadata.get('authorization')[0];
  const auth = call.getAuthContext?.();
  return {
    bearerToken: bearerTokenOf(typeof authorization === 'string' ? authorization : authorization?.toString()),
    peerCertificate: auth?.sslPeerCertificate,
  };
}

/**
 * istio.v1.auth.IstioCertificateService: authenticate the caller, check the CSR asks for exactly the caller's
 * SPIFFE ID, and answer the signed chain (leaf first, root last).
 */
export function certificateService(deps: CertificateServiceDeps): caProto.IstioCertificateServiceServer {
  const { ca, authenticators, logger, metrics } = deps;
  const requests = new Counter({
    name: 'flotilla_citadel_csr_requests_total',
    help: 'CreateCertificate calls, by gRPC status code name.',
    labelNames: ['code'],
    registers: [metrics],
  });
  const latency = new Histogram({
    name: 'flotilla_citadel_csr_duration_seconds',
    help: 'Time to authenticate, check and sign one CreateCertificate request.',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [metrics],
  });

  const ok = { code: 'OK' };

  /**
   * One call, as one async function: the handler runs for every certificate, so it builds no per-call closures
   * or timer objects, and the debug line's fields only when debug logging is on.
   */
  async function createCertificate(
    call: ServerUnaryCall<caProto.IstioCertificateRequest, caProto.IstioCertificateResponse>,
    callback: sendUnaryData<caProto.IstioCertificateResponse>,
  ): Promise<void> {
    const start = performance.now();
    let chainPem: string[];
    try {
      const caller = await authenticate(authenticators, credentialsOf(call));
      const { csr, validityDuration } = call.request;
      if (!csr) throw new CaError('invalid-request', 'the request has no csr');
      const issued = await ca.issueWorkload(csrPemToDer(csr), caller.identity, Number(validityDuration));
      if (logger.isLevelEnabled('debug')) {
        logger.debug(
          { identity: caller.identity, by: caller.by, serial: issued.serial, notAfter: issued.notAfter },
          'issued a workload certificate',
        );
      }
      chainPem = issued.chainPem;
    } catch (err) {
      latency.observe((performance.now() - start) / 1000);
      requests.inc({ code: err instanceof CaError ? err.kind : 'internal' });
      if (err instanceof CaError) {
        logger.info(
          { code: STATUS_OF[err.kind], reason: err.message, peer: call.getPeer() },
          'certificate request refused',
        );
      } else {
        logger.error({ err }, 'certificate request failed');
      }
      callback(toServiceError(err));
      return;
    }
    latency.observe((performance.now() - start) / 1000);
    requests.inc(ok);
    callback(null, { certChain: chainPem });
  }

  return {
    createCertificate(call, callback) {
      void createCertificate(call, callback);
    },
  };
}
