import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeConfigFor } from '@flotilla/kube';
import {
  FileRootCertificateStore,
  FileRootStore,
  Pkcs11RootKeys,
  RevocationStore,
  RootRotator,
  RootStoreConflictError,
  VaultClient,
  VaultIntermediateRenewer,
  VaultLeafIssuer,
  loadCacerts,
  loadOrCreateTokenKey,
} from '@flotilla/pki';
import type {
  CaKeyMaterial,
  CertificateAuthority,
  RootRotatorOptions,
  RootStore,
  RotationOutcome,
  SoftwareRootKey,
  StoredRoot,
  TokenRootKey,
} from '@flotilla/pki';
import { ca as caProto } from '@flotilla/proto';
import { createApp, createLogger, parseOptions, runUntilSignalled } from '@flotilla/service-kit';
import type { App, Logger } from '@flotilla/service-kit';
import type { Tracing } from '@flotilla/tracing';
import {
  ClientCertificateAuthenticator,
  KubernetesTokenAuthenticator,
  LocalTokenAuthenticator,
} from './authn';
import type { Authenticator } from './authn';
import { registerCaMetrics } from './ca-metrics';
import { certificateService } from './ca-service';
import type { WorkloadIssuer } from './ca-service';
import { OptionalClientCertCredentials } from './credentials';
import { CurrentCa } from './current-ca';
import { citadelCommand } from './options';
import type { CitadelOptions } from './options';
import { CrlCache, addRevocationRoutes } from './revocation-routes';
import { SOFTWARE_KEY_ENTRIES, SecretRootStore, TOKEN_KEY_ENTRIES } from './secret-root-store';
import { TrustDistributor } from './trust-distribution';
import { APP_VERSION } from './version';

/** Citadel's own serving certificate is re-issued at every start; it lives 90 days. */
const SERVING_CERT_LIFETIME_MS = 90 * 24 * 3600 * 1000;
export const TRUST_BUNDLE_FILE = 'trust-bundle.pem';
/** What citadel asks of Vault for its intermediate in sign-intermediate mode (Vault may cut it to the mount's max). */
const VAULT_INTERMEDIATE_TTL_MS = 365 * 24 * 3600 * 1000;
/** Where model B keeps the intermediate Vault signed, inside --state-dir. */
const VAULT_INTERMEDIATE_DIR = 'vault-intermediate';
const SERVICE_ACCOUNT_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';
/** How often the CRL is checked for changes (a revocation, a re-signing) and published to istio-ca-crl. */
const CRL_PUBLISH_INTERVAL_MS = 5000;

export interface Citadel {
  /** The CA signing now (it changes when the root rotates). */
  current: CurrentCa;
  /** Citadel's own CA: its serving certificate, CRL and OCSP, and workload certificates unless Vault signs them. */
  readonly ca: CertificateAuthority;
  /** What signs workload certificates: `current`, or Vault with --vault-mode sign-leaf. */
  issuer: WorkloadIssuer;
  credentials: OptionalClientCertCredentials;
  authenticators: Authenticator[];
  revocations: RevocationStore;
  crl: CrlCache;
  /** Rotates the self-signed root, its key in software or on a PKCS #11 token; absent with cacerts or a Vault intermediate. */
  rotator?: CitadelRootRotator;
  /** Has Vault sign a new intermediate when the current one nears its end; present with --vault-mode sign-intermediate. */
  intermediateRenewer?: VaultIntermediateRenewer;
  /** Publishes the trust bundle and CRL to every namespace; present with --kube-api-server and --kube-namespace. */
  distributor?: TrustDistributor;
  /** Where the root lives: the state folder, istio-ca-secret, cacerts, a token, Vault. */
  rootSource: string;
  /** Starts the periodic root or intermediate check and the distribution to namespaces. */
  start(): Promise<void>;
  /** Stops them, and closes the signers the rotator opened (a token's sessions). */
  stop(): Promise<void>;
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

function kubeConfigOf(options: CitadelOptions): KubeConfig {
  const tokenFile = options.kubeTokenFile || SERVICE_ACCOUNT_TOKEN_FILE;
  const token = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : '';
  return kubeConfigFor(options.kubeApiServer, token, undefined, options.kubeCaFile || undefined);
}

/** The rotator of citadel's self-signed root, whichever custody its key is in. */
export type CitadelRootRotator = RootRotator<SoftwareRootKey> | RootRotator<TokenRootKey>;

/**
 * Citadel's self-signed root with its rotator. With --pkcs11-module the key is on the token and what is kept is
 * the certificates (and a reference to the key): in istio-ca-secret in Kubernetes, shared by every replica using
 * the token, otherwise in the state folder (root-cert.pem, ca-roots.pem). A software key is kept with its root
 * in istio-ca-secret or the state folder. All rotate the same way, with the same options.
 */
async function openRotator(
  options: CitadelOptions,
  stateDir: string,
  kc: KubeConfig | undefined,
  logger: Logger,
  now: () => number,
): Promise<CitadelRootRotator> {
  const rotation: RootRotatorOptions = {
    trustDomain: options.trustDomain,
    threshold: options.rootRotationThreshold,
    rotateKey: options.rotateCaKey,
    checkIntervalMs: options.rootRotationCheckInterval,
    now,
  };
  if (options.pkcs11Module) {
    const keys = new Pkcs11RootKeys({
      module: options.pkcs11Module,
      tokenLabel: options.pkcs11TokenLabel,
      keyLabel: options.pkcs11KeyLabel,
      pin: options.pkcs11Pin,
    });
    const store: RootStore<StoredRoot<TokenRootKey>> = kc
      ? await tokenRootSecret(kc, options.kubeNamespace, keys, stateDir, logger)
      : new FileRootCertificateStore(stateDir);
    return RootRotator.open(store, rotation, keys);
  }
  const store: RootStore = kc
    ? new SecretRootStore(kc, options.kubeNamespace, SOFTWARE_KEY_ENTRIES)
    : new FileRootStore(stateDir);
  return RootRotator.open(store, rotation);
}

/**
 * istio-ca-secret for a root whose key is on a PKCS #11 token. Citadel used to keep such a root in the state
 * folder even in Kubernetes: when the Secret holds no root and the folder does, the folder's root (and its trust
 * bundle) is stored in the Secret first, so the upgrade keeps the root workloads trust. From then on the folder's
 * copy is not read.
 */
async function tokenRootSecret(
  kc: KubeConfig,
  namespace: string,
  keys: Pkcs11RootKeys,
  stateDir: string,
  logger: Logger,
): Promise<SecretRootStore<TokenRootKey>> {
  const store = new SecretRootStore(kc, namespace, TOKEN_KEY_ENTRIES);
  if (await store.load()) return store;
  const folder = new FileRootCertificateStore(stateDir);
  const kept = await folder.load();
  if (!kept) return store;
  try {
    await store.save({ ...kept, ...(await keys.referenceOf(kept)) });
    logger.info(
      { from: folder.description, to: store.description },
      'moved the root of the token key from the state folder to the Secret; the folder copy is no longer read',
    );
  } catch (err) {
    if (!(err instanceof RootStoreConflictError)) throw err;
    logger.info(
      { folder: folder.description, secret: store.description },
      'another replica stored a root in the Secret first; using that one, not the state folder’s',
    );
  }
  return store;
}

/**
 * Model B: the intermediate Vault signed, kept in the state folder (cacerts layout), reused while more than
 * --vault-intermediate-renew-threshold of its life is left, and renewed by the running citadel after that.
 */
function openIntermediateRenewer(
  options: CitadelOptions,
  stateDir: string,
  vault: VaultClient,
  now: () => number,
): Promise<VaultIntermediateRenewer> {
  return VaultIntermediateRenewer.open(vault, {
    dir: join(stateDir, VAULT_INTERMEDIATE_DIR),
    mount: options.vaultMount,
    trustDomain: options.trustDomain,
    ttlMs: VAULT_INTERMEDIATE_TTL_MS,
    threshold: options.vaultIntermediateRenewThreshold,
    checkIntervalMs: options.vaultIntermediateCheckInterval,
    now,
  });
}

/** A fresh serving certificate for citadel's own TLS port, from the current CA. */
async function servingIdentity(ca: CertificateAuthority, names: readonly string[]) {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const serving = await ca.issueServing(privateKey, names, SERVING_CERT_LIFETIME_MS);
  return {
    chain: serving.chainPem.slice(0, -1).join(''),
    key: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
  };
}

/**
 * The CA, its TLS credentials and authenticators, from citadel's options. With a self-signed root (the default,
 * key in software or with --pkcs11-module on a token) the root is rotated when `--root-rotation-threshold` of its
 * life is left; with --vault-mode sign-intermediate Vault signs a new intermediate when
 * `--vault-intermediate-renew-threshold` of the current one's life is left. After either the trust bundle file, the
 * /ca/trust-bundle.pem route, the roots TLS trusts, citadel's serving certificate and (in Kubernetes) every
 * namespace's istio-ca-root-cert and istio-ca-crl follow. `now` is the clock the root's and the intermediate's
 * checks read.
 */
export async function buildCitadel(
  options: CitadelOptions,
  logger: Logger = createLogger('citadel', options.logLevel),
  now: () => number = Date.now,
): Promise<Citadel> {
  const stateDir = resolve(options.stateDir);
  mkdirSync(stateDir, { recursive: true });
  const vault = options.vaultAddress ? vaultClientOf(options) : undefined;
  const kc = options.kubeApiServer && options.kubeNamespace ? kubeConfigOf(options) : undefined;
  const intermediateRenewer =
    !options.cacertsDir && vault && options.vaultMode === 'sign-intermediate'
      ? await openIntermediateRenewer(options, stateDir, vault, now)
      : undefined;
  const plugged: CaKeyMaterial | undefined = options.cacertsDir
    ? loadCacerts(options.cacertsDir)
    : intermediateRenewer?.material;
  const rotator = plugged ? undefined : await openRotator(options, stateDir, kc, logger, now);
  const authorityOptions = {
    trustDomain: options.trustDomain,
    defaultTtlMs: options.defaultCertTtl,
    maxTtlMs: options.maxCertTtl,
    ocspUrl: options.ocspUrl || undefined,
    crlUrl: options.crlUrl || undefined,
  };
  let issuer: WorkloadIssuer | undefined;
  let extraRoots: string[] = [];
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
    extraRoots = await vaultIssuer.rootsPem();
  }
  const current = new CurrentCa(plugged ?? rotator!.material, authorityOptions, extraRoots);
  const trustBundlePath = join(stateDir, TRUST_BUNDLE_FILE);
  writeFileSync(trustBundlePath, current.trustBundlePem);
  const serving = await servingIdentity(current.ca, options.servingDnsNames);
  const credentials = new OptionalClientCertCredentials(current.trustBundlePem, serving.chain, serving.key);
  const revocations = new RevocationStore(stateDir);
  const crl = new CrlCache(current, revocations, logger);
  const distributor = kc ? new TrustDistributor(kc, logger) : undefined;

  const publishCrl = async () => distributor?.setCrl(await crl.pem());
  /** The re-issue of the serving certificate and CRL after the latest CA change. */
  let refreshed: Promise<void> = Promise.resolve();
  current.on('change', () => {
    const bundle = current.trustBundlePem;
    writeFileSync(trustBundlePath, bundle);
    distributor?.setTrustBundle(bundle);
    refreshed = servingIdentity(current.ca, options.servingDnsNames)
      .then(({ chain, key }) => credentials.update(bundle, chain, key))
      .then(publishCrl)
      .catch((err: unknown) =>
        logger.error({ err }, 'cannot re-issue the serving certificate or CRL after the CA changed'),
      );
  });
  rotator?.on('change', (material: CaKeyMaterial, outcome: RotationOutcome) => {
    const root = new X509Certificate(material.signingCertificate);
    logger.info(
      { outcome, serial: root.serialNumber, notAfter: root.validTo, trustBundleRoots: material.roots.length },
      outcome === 'rotated' ? 'root rotated' : 'root changed',
    );
    current.replace(material);
  });
  rotator?.on('error', (err: Error) => logger.error({ err }, 'root rotation check failed; retrying'));
  rotator?.on('keyDestroyed', (key: string) =>
    logger.info({ key }, 'destroyed a CA key that no stored or trusted root carries'),
  );
  rotator?.on('keyDestroyError', (err: Error) =>
    logger.error({ err }, 'cannot destroy a retired CA key; it stays on the token, and citadel carries on'),
  );
  intermediateRenewer?.on('change', (material: CaKeyMaterial) => {
    const intermediate = new X509Certificate(material.signingCertificate);
    logger.info(
      { serial: intermediate.serialNumber, notAfter: intermediate.validTo, vault: options.vaultAddress },
      'Vault signed a new intermediate; issuing with it',
    );
    current.replace(material);
  });
  intermediateRenewer?.on('error', (err: Error) => {
    const kept = new X509Certificate(current.ca.material.signingCertificate);
    logger.error(
      { err, notAfter: kept.validTo, retryInMs: options.vaultIntermediateCheckInterval },
      'cannot renew the Vault-signed intermediate; still issuing with the current one, retrying at the next check',
    );
  });

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
  let crlTimer: NodeJS.Timeout | undefined;
  return {
    current,
    get ca() {
      return current.ca;
    },
    issuer: issuer ?? current,
    credentials,
    authenticators,
    revocations,
    crl,
    rotator,
    intermediateRenewer,
    distributor,
    rootSource: rotator
      ? `${rotator.store.description}, key: ${rotator.keys.description}`
      : options.cacertsDir || stateDir,
    async start() {
      if (rotator) {
        // A root that came due while citadel was down is rotated now, not an interval later.
        await rotator.check();
        await refreshed;
        rotator.start();
      }
      if (intermediateRenewer) {
        // An intermediate kept past its threshold because Vault was down at start is renewed now if Vault answers.
        await intermediateRenewer.check().catch((err: unknown) => intermediateRenewer.emit('error', err));
        await refreshed;
        intermediateRenewer.start();
      }
      if (distributor) {
        distributor.setTrustBundle(current.trustBundlePem);
        await publishCrl();
        await distributor.start();
        crlTimer = setInterval(() => {
          publishCrl().catch((err: unknown) => logger.warn({ err }, 'cannot publish the CRL'));
        }, CRL_PUBLISH_INTERVAL_MS);
        crlTimer.unref();
      }
    },
    async stop() {
      await rotator?.close();
      intermediateRenewer?.stop();
      if (crlTimer) clearInterval(crlTimer);
      await distributor?.stop();
    },
  };
}

/** What citadel serves: IstioCertificateService on the gRPC port, and the CRL, OCSP and trust bundle over HTTP. */
export function serveCitadel(app: App, citadel: Citadel): void {
  app.grpc.addService(
    caProto.IstioCertificateServiceService,
    certificateService({
      ca: citadel.issuer,
      authenticators: citadel.authenticators,
      logger: app.logger,
      metrics: app.metrics,
    }),
  );
  addRevocationRoutes(app.monitoring, citadel.current, citadel.crl, citadel.revocations);
  registerCaMetrics(app.metrics, citadel);
}

export async function main(argv: readonly string[], tracing: Tracing): Promise<void> {
  const options = parseOptions<CitadelOptions>(citadelCommand(), argv);
  const stateDir = resolve(options.stateDir);
  let citadel: Citadel;
  try {
    citadel = await buildCitadel(options, createLogger('citadel', options.logLevel));
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
      await citadel.stop();
      await citadel.ca.material.signer.close?.();
      await tracing.shutdown();
    },
  });
  serveCitadel(app, citadel);
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
      root: citadel.rootSource,
      rootRotation: citadel.rotator
        ? { threshold: options.rootRotationThreshold, rotateKey: options.rotateCaKey }
        : 'off',
      ...(citadel.intermediateRenewer && {
        intermediateRenewal: {
          threshold: options.vaultIntermediateRenewThreshold,
          checkIntervalMs: options.vaultIntermediateCheckInterval,
        },
      }),
    },
    'CA loaded',
  );
  await citadel.start();
  await runUntilSignalled(app.component, options.shutdownTimeout * 1000);
}
