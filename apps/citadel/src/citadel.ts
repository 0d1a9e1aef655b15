import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  CertificateAuthority,
  Pkcs11Signer,
  RevocationStore,
  VaultClient,
  VaultLeafIssuer,
  loadCacerts,
  loadOrCreateSignerRoot,
  loadOrCreateTokenKey,
  selfSignedMaterial,
  vaultSignedIntermediate,
} from '@flotilla/pki';
import type { CaKeyMaterial } from '@flotilla/pki';
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
import type { WorkloadIssuer } from './ca-service';
import { OptionalClientCertCredentials } from './credentials';
import { citadelCommand } from './options';
import type { CitadelOptions } from './options';
import { addRevocationRoutes } from './revocation-routes';
import { APP_VERSION } from './version';

/** Citadel's own serving certificate is re-issued at every start; it lives 90 days. */
const SERVING_CERT_LIFETIME_MS = 90 * 24 * 3600 * 1000;
export const TRUST_BUNDLE_FILE = 'trust-bundle.pem';
/** What citadel asks of Vault for its intermediate in sign-intermediate mode (Vault may cut it to the mount's max). */
const VAULT_INTERMEDIATE_TTL_MS = 365 * 24 * 3600 * 1000;
const SERVICE_ACCOUNT_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface Citadel {
  /** Citadel's own CA: its serving certificate, CRL and OCSP, and workload certificates unless Vault signs them. */
  ca: CertificateAuthority;
  /** What signs workload certificates: `ca`, or Vault with --vault-mode sign-leaf. */
  issuer: WorkloadIssuer;
  credentials: OptionalClientCertCredentials;
  authenticators: Authenticator[];
  revocations: RevocationStore;
}

function vaultClientOf(options: CitadelOptions): VaultClient {
  if (options.vaultK8sRole) {
    return new VaultClient({
      address: options.vaultAddress,
      auth: {
        kind: 'kubernetes',
        role: options.vaultK8sRole,
        jwtFile: options.kubeTokenFile || SERVICE_ACCOUNT_TOKEN_FILE,
      },
    });
  }
  if (!options.vaultTokenFile) {
    throw new Error(
      '--vault-address needs --vault-token-file (token auth) or --vault-k8s-role (Kubernetes auth)',
    );
  }
  return new VaultClient({
    address: options.vaultAddress,
    auth: { kind: 'token', token: readFileSync(options.vaultTokenFile, 'utf8').trim() },
  });
}

/** The CA, its TLS credentials and authenticators, from citadel's options. */
export async function buildCitadel(options: CitadelOptions): Promise<Citadel> {
  const stateDir = resolve(options.stateDir);
  const vault = options.vaultAddress ? vaultClientOf(options) : undefined;
  const material: CaKeyMaterial = options.cacertsDir
    ? loadCacerts(options.cacertsDir)
    : vault && options.vaultMode === 'sign-intermediate'
      ? (
          await vaultSignedIntermediate(vault, {
            mount: options.vaultMount,
            trustDomain: options.trustDomain,
            ttlMs: VAULT_INTERMEDIATE_TTL_MS,
          })
        ).material
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
  let issuer: WorkloadIssuer = ca;
  let roots = ca.rootsPem;
  if (vault && options.vaultMode === 'sign-leaf') {
    const vaultIssuer = new VaultLeafIssuer(vault, {
      mount: options.vaultMount,
      role: options.vaultRole,
      trustDomain: options.trustDomain,
      defaultTtlMs: options.defaultCertTtl,
      maxTtlMs: options.maxCertTtl,
    });
    issuer = vaultIssuer;
    // Workloads trust Vault's root (their certificates) and citadel's own (its serving certificate).
    roots = [...(await vaultIssuer.rootsPem()), ...roots];
  }
  const rootsPem = roots.map((pem) => (pem.endsWith('\n') ? pem : `${pem}\n`)).join('');
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
  return { ca, issuer, credentials, authenticators, revocations };
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
      ca: citadel.issuer,
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
      signer:
        options.vaultAddress && options.vaultMode === 'sign-leaf'
          ? `Vault ${options.vaultAddress} mount ${options.vaultMount} role ${options.vaultRole}`
          : citadel.ca.material.signer.description,
      authenticators: citadel.authenticators.map((a) => a.name),
    },
    'CA loaded',
  );
  await runUntilSignalled(app.component, options.shutdownTimeout * 1000);
}
