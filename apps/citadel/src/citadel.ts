import { resolve } from 'node:path';
import { ServerCredentials } from '@grpc/grpc-js';
import { issueServingCertificate, loadOrCreateRoot } from '@flotilla/pki';
import { createApp, createLogger, parseOptions, runUntilSignalled } from '@flotilla/service-kit';
import type { Tracing } from '@flotilla/tracing';
import { citadelCommand } from './options';
import type { CitadelOptions } from './options';
import { APP_VERSION } from './version';

/** Citadel's own serving certificate is re-issued at every start; it lives 90 days. */
const SERVING_CERT_LIFETIME_MS = 90 * 24 * 3600 * 1000;

export async function main(argv: readonly string[], tracing: Tracing): Promise<void> {
  const options = parseOptions<CitadelOptions>(citadelCommand(), argv);
  const stateDir = resolve(options.stateDir);
  let credentials: ServerCredentials;
  try {
    const root = await loadOrCreateRoot(stateDir, options.trustDomain);
    const serving = await issueServingCertificate(root, options.servingDnsNames, SERVING_CERT_LIFETIME_MS);
    credentials = ServerCredentials.createSsl(
      Buffer.from(root.certificatePem),
      [{ cert_chain: Buffer.from(serving.certificatePem), private_key: Buffer.from(serving.privateKeyPem) }],
      false,
    );
  } catch (err) {
    createLogger('citadel').fatal(
      `cannot load or create the root CA in ${stateDir}: ${(err as Error).message}`,
    );
    process.exit(1);
  }
  const app = createApp({
    component: 'citadel',
    version: APP_VERSION,
    options,
    credentials,
    onStop: () => tracing.shutdown(),
  });
  app.logger.info({ stateDir, rootCert: resolve(stateDir, 'root-cert.pem') }, 'root CA loaded');
  await runUntilSignalled(app.component, options.shutdownTimeout * 1000);
}
