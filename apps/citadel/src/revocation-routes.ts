import {
  DerError,
  buildCrl,
  buildOcspResponse,
  derToPem,
  ocspErrorResponse,
  parseOcspRequest,
} from '@flotilla/pki';
import type { CertificateAuthority, RevocationStore } from '@flotilla/pki';
import type { Logger, MonitoringServer, RouteRequest, RouteResponse } from '@flotilla/service-kit';
import type { CurrentCa } from './current-ca';

export const CRL_PATH = '/ca/crl';
export const CRL_PEM_PATH = '/ca/crl.pem';
export const OCSP_PATH = '/ca/ocsp';
export const TRUST_BUNDLE_PATH = '/ca/trust-bundle.pem';

/** A CRL is valid this long, and re-signed after half of it (or at once when a serial is revoked). */
const CRL_VALIDITY_MS = 24 * 3600 * 1000;
const OCSP_VALIDITY_MS = 3600 * 1000;

/**
 * The CA's CRL, signed by the current CA and cached: signed again when a serial is revoked, when the CA changed
 * (root rotation) or after half of its validity.
 */
export class CrlCache {
  private cached: { der: Buffer; version: number; ca: CertificateAuthority; signedAt: number } | undefined;
  private crlNumber = 0;

  constructor(
    private readonly current: CurrentCa,
    private readonly revocations: RevocationStore,
    private readonly logger: Logger,
  ) {}

  async der(): Promise<Buffer> {
    const list = this.revocations.list();
    const { ca } = this.current;
    const now = Date.now();
    const cached = this.cached;
    if (
      cached &&
      cached.ca === ca &&
      cached.version === this.revocations.version &&
      now - cached.signedAt < CRL_VALIDITY_MS / 2
    ) {
      return cached.der;
    }
    // Seconds since the epoch keep CRL numbers increasing across restarts.
    this.crlNumber = Math.max(this.crlNumber + 1, Math.floor(now / 1000));
    const der = await buildCrl(ca.material.signer, ca.signingCertificate, list, {
      thisUpdate: new Date(now),
      nextUpdate: new Date(now + CRL_VALIDITY_MS),
      crlNumber: this.crlNumber,
    });
    this.cached = { der, version: this.revocations.version, ca, signedAt: now };
    this.logger.info({ crlNumber: this.crlNumber, revoked: list.length }, 'CRL signed');
    return der;
  }

  async pem(): Promise<string> {
    return derToPem(await this.der(), 'X509 CRL');
  }
}

/**
 * Citadel's revocation endpoints, on its monitoring port: the CRL (DER and PEM) signed by the CA, an OCSP
 * responder (RFC 6960: POST, and GET with the base64 request in the path, appendix A.1) and the trust bundle
 * (every root workloads trust, old and new during a root rotation's overlap).
 */
export function addRevocationRoutes(
  monitoring: MonitoringServer,
  current: CurrentCa,
  crl: CrlCache,
  revocations: RevocationStore,
): void {
  const currentCrl = () => crl.der();

  monitoring.addRoute(
    CRL_PATH,
    async () => ({ contentType: 'application/pkix-crl', body: await currentCrl() }),
    {
      description: 'the CA’s certificate revocation list (DER)',
    },
  );
  monitoring.addRoute(
    CRL_PEM_PATH,
    async () => ({ contentType: 'application/x-pem-file', body: derToPem(await currentCrl(), 'X509 CRL') }),
    { description: 'the CA’s certificate revocation list (PEM)' },
  );

  const ocsp = async (req: RouteRequest): Promise<RouteResponse> => {
    let der: Buffer;
    if (req.method === 'POST') der = req.body;
    else {
      const encoded = decodeURIComponent(req.url.pathname.slice(OCSP_PATH.length + 1));
      der = Buffer.from(encoded, 'base64');
    }
    let body: Buffer;
    const { ca } = current;
    try {
      body = await buildOcspResponse(
        ca.material.signer,
        ca.signingCertificate,
        parseOcspRequest(der),
        (s) => revocations.get(s),
        {
          now: new Date(),
          validityMs: OCSP_VALIDITY_MS,
        },
      );
    } catch (err) {
      if (!(err instanceof DerError)) throw err;
      body = ocspErrorResponse('malformedRequest');
    }
    return { contentType: 'application/ocsp-response', body };
  };
  monitoring.addRoute(OCSP_PATH, ocsp, {
    methods: ['GET', 'POST'],
    prefix: true,
    description: 'OCSP responder (RFC 6960), POST or GET /ca/ocsp/<base64 request>',
  });
  monitoring.addRoute(
    TRUST_BUNDLE_PATH,
    () => ({ contentType: 'application/x-pem-file', body: current.trustBundlePem }),
    { description: 'the trust bundle: every root workloads trust (PEM)' },
  );
}
