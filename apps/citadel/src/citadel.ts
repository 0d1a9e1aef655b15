import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  CertificateAuthority,
  Pkcs11Signer,
  RevocationStore,
  loadCacerts,
  loadOrCreateSignerRoot,
  loadOrCreateTokenKey,
  selfSignedMaterial,
} from '@flotilla/pki';
import { ca as caProto } from '@flotilla/proto';
import { createApp, createLogger, parseOptions, runUntilSignalled } from '@flotilla/service-kit';
import type { Tracing } from '@flotilla/tracing';
import {
  ClientCertificateAuthenticator,
  KubernetesTokenAuthenticator,
  LocalTokenAuthenticator,
} from './authn';
import type { Authenticator } from './authn';
import { certificateService } from './ca-service';
import { OptionalClientCertCredentials } from './credentials';
import { citadelCommand } from './options';
import type { CitadelOptions } from './options';
import { addRevocationRoutes } from './revocation-routes';
import { APP_VERSION } from './version';

/** Citadel's own serving certificate is re-issued at every start; it lives 90 days. */
const SERVING_CERT_LIFETIME_MS = 90 * 24 * 3600 * 1000;
export const TRUST_BUNDLE_FILE = 'trust-bundle.pem';

export interface Citadel {
  ca: CertificateAuthority;
  credentials: OptionalClientCertCredentials;
  authenticators: Authenticator[];
  revocations: RevocationStore;
}

/** The CA, its TLS credentials and authenticators, from citadel's options. */
export async function buildCitadel(options: CitadelOptions): Promise<Citadel> {
  const stateDir = resolve(options.stateDir);
  const material = options.cacertsDir
    ? loadCacerts(options.cacertsDir)
    : options.pkcs11Module
      ? await loadOrCreateSignerRoot(
          stateDir,
          options.trustDomain,
          await Pkcs11Signer.open({
            module: options.pkcs11Module,
            tokenLabel: options.pkcs11TokenLabel,
            keyLabel: options.pkcs11KeyLabel,
            pin: options.pkcs11Pin,
          }),
        )
      : await selfSignedMaterial(stateDir, options.trustDomain);
  const ca = new CertificateAuthority(material, {
    trustDomain: options.trustDomain,
    defaultTtlMs: options.defaultCertTtl,
    maxTtlMs: options.maxCertTtl,
    ocspUrl: options.ocspUrl || undefined,
    crlUrl: options.crlUrl || undefined,
  });
  const rootsPem = ca.rootsPem.join('');
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, TRUST_BUNDLE_FILE), rootsPem);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const serving = await ca.issueServing(privateKey, options.servingDnsNames, SERVING_CERT_LIFETIME_MS);
  const credentials = new OptionalClientCertCredentials(
    rootsPem,
    serving.chainPem.slice(0, -1).join(''),
    privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
  );
  const revocations = new RevocationStore(stateDir);
  const authenticators: Authenticator[] = [
    new ClientCertificateAuthenticator(options.trustDomain, revocations),
  ];
  if (options.localTokens) {
    authenticators.push(new LocalTokenAuthenticator(loadOrCreateTokenKey(stateDir), options.trustDomain));
  }
  if (options.kubeApiServer) {
    authenticators.push(
      new KubernetesTokenAuthenticator(
        {
          apiServer: options.kubeApiServer,
          tokenFile: options.kubeTokenFile || undefined,
          caFile: options.kubeCaFile || undefined,
        },
        options.trustDomain,
      ),
    );
  }
  return { ca, credentials, authenticators, revocations };
}

export async function main(argv: readonly string[], tracing: Tracing): Promise<void> {
  const options = parseOptions<CitadelOptions>(citadelCommand(), argv);
  const stateDir = resolve(options.stateDir);
  let citadel: Citadel;
  try {
    citadel = await buildCitadel(options);
  } catch (err) {
    const where = options.cacertsDir ? `from ${options.cacertsDir}` : `in ${stateDir}`;
    createLogger('citadel').fatal(`cannot load or create the CA ${where}: ${(err as Error).message}`);
    process.exit(1);
  }
  const app = createApp({
    component: 'citadel',
    version: APP_VERSION,
    options,
    credentials: citadel.credentials,
    onStop: async () => {
      await citadel.ca.material.signer.close?.();
      await tracing.shutdown();
    },
  });
  app.grpc.addService(
    caProto.IstioCertificateServiceService,
    certificateService({
      ca: citadel.ca,
      authenticators: citadel.authenticators,
      logger: app.logger,
      metrics: app.metrics,
    }),
  );
  addRevocationRoutes(app.monitoring, citadel.ca, citadel.revocations, app.logger);
  app.logger.info(
    {
      stateDir,
      rootCert: resolve(stateDir, 'root-cert.pem'),
      trustBundle: join(stateDir, TRUST_BUNDLE_FILE),
      signer: citadel.ca.material.signer.description,
      authenticators: citadel.authenticators.map((a) => a.name),
    },
    'CA loaded',
  );
  await runUntilSignalled(app.component, options.shutdownTimeout * 1000);
}
