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

export const CRL_PATH = '/ca/crl';
export const CRL_PEM_PATH = '/ca/crl.pem';
export const OCSP_PATH = '/ca/ocsp';
export const TRUST_BUNDLE_PATH = '/ca/trust-bundle.pem';

/** A CRL is valid this long, and re-signed after half of it (or at once when a serial is revoked). */
const CRL_VALIDITY_MS = 24 * 3600 * 1000;
const OCSP_VALIDITY_MS = 3600 * 1000;

/**
 * Citadel's revocation endpoints, on its monitoring port: the CRL (DER and PEM) signed by the CA, an OCSP
 * responder (RFC 6960: POST, and GET with the base64 request in the path, appendix A.1) and the trust bundle.
 */
export function addRevocationRoutes(
  monitoring: MonitoringServer,
  ca: CertificateAuthority,
  revocations: RevocationStore,
  logger: Logger,
): void {
  const signer = ca.material.signer;
  let cached: { der: Buffer; version: number; signedAt: number } | undefined;
  let crlNumber = 0;
  const currentCrl = async (): Promise<Buffer> => {
    const list = revocations.list();
    const now = Date.now();
    if (cached && cached.version === revocations.version && now - cached.signedAt < CRL_VALIDITY_MS / 2) {
      return cached.der;
    }
    // Seconds since the epoch keep CRL numbers increasing across restarts.
    crlNumber = Math.max(crlNumber + 1, Math.floor(now / 1000));
    const der = await buildCrl(signer, ca.signingCertificate, list, {
      thisUpdate: new Date(now),
      nextUpdate: new Date(now + CRL_VALIDITY_MS),
      crlNumber,
    });
    cached = { der, version: revocations.version, signedAt: now };
    logger.info({ crlNumber, revoked: list.length }, 'CRL signed');
    return der;
  };

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
    try {
      body = await buildOcspResponse(
        signer,
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
    () => ({ contentType: 'application/x-pem-file', body: ca.rootsPem.join('') }),
    { description: 'the roots workloads trust (PEM)' },
  );
}
