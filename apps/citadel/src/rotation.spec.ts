import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { setTimeout } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { CONFIG_MAPS, NAMESPACES, SECRETS, kubeConfigFor } from '@flotilla/kube';
import {
  CA_ROOTS_FILE,
  FileRootCertificateStore,
  FileRootStore,
  Pkcs11Signer,
  addRevocation,
  certificatesFromPem,
  createRootWithSigner,
  createSoftwareRoot,
  derToPem,
  generatePkcs11EcKey,
  loadOrCreateTokenKey,
  signLocalToken,
} from '@flotilla/pki';
import { ca as caProto } from '@flotilla/proto';
import { createLogger } from '@flotilla/service-kit';
import {
  KubeApiServerDouble,
  SOFTHSM_MODULE,
  VaultDouble,
  initSoftHsmToken,
  openssl,
  opensslCsr,
  opensslResult,
  tempDir,
  waitFor,
  writeTemp,
} from '@flotilla/testing';
import { startCitadel } from './testing/start-citadel';
import type { RunningCitadel } from './testing/start-citadel';
import {
  CA_SECRET_NAME,
  CA_SECRET_TYPE,
  SOFTWARE_KEY_ENTRIES,
  SecretRootStore,
  TOKEN_KEY_ENTRIES,
} from './secret-root-store';
import { CRL_CONFIG_MAP, ROOT_CERT_CONFIG_MAP } from './trust-distribution';

const TD = 'cluster.local';
const ALICE = `spiffe://${TD}/ns/default/sa/alice`;
const BOB = `spiffe://${TD}/ns/shop/sa/bob`;
const YEAR = 365 * 24 * 3600 * 1000;

async function stopCitadel(running: RunningCitadel): Promise<void> {
  await running.citadel.stop();
  await running.app.component.stop(1000);
}

/** CreateCertificate over TLS, trusting the trust bundle file as it is now (or the file `trusting`). */
function createCertificate(
  running: RunningCitadel,
  csr: string,
  auth: { token?: string; clientCert?: { cert: string; key: string }; trusting?: string },
): Promise<string[]> {
  const roots = readFileSync(auth.trusting ?? running.bundlePath);
  const credentials = auth.clientCert
    ? grpc.credentials.createSsl(roots, Buffer.from(auth.clientCert.key), Buffer.from(auth.clientCert.cert))
    : grpc.credentials.createSsl(roots);
  const client = new caProto.IstioCertificateServiceClient(running.address, credentials, {
    'grpc.ssl_target_name_override': 'localhost',
  });
  const metadata = new grpc.Metadata();
  if (auth.token) metadata.set('authorization', `Bearer ${auth.token}`);
  return new Promise((resolve, reject) => {
    client.createCertificate(
      { csr, validityDuration: 0, metadata: undefined },
      metadata,
      { deadline: Date.now() + 10_000 },
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res.certChain);
      },
    );
  });
}

function tokenFor(running: RunningCitadel, namespace: string, serviceAccount: string): string {
  return signLocalToken(loadOrCreateTokenKey(running.options.stateDir), { namespace, serviceAccount });
}

/** A state folder whose ten-year root was made 8.5 years ago: 15% of its life left, due for rotation. */
async function stateDirWithAgedRoot(): Promise<string> {
  const stateDir = tempDir('flotilla-citadel-');
  await new FileRootStore(stateDir).save(await createSoftwareRoot(TD, Date.now() - 8.5 * YEAR, 10 * YEAR));
  return stateDir;
}

const pemOf = (der: Buffer) => derToPem(der, 'CERTIFICATE');

/** Writes each chain's leaf to <dir>/<name>.pem and expects `openssl verify -x509_strict` to pass it against `caFile`. */
function expectLeavesVerify(dir: string, caFile: string, chains: Record<string, string[]>): void {
  for (const [name, chain] of Object.entries(chains)) {
    const leaf = writeTemp(dir, `${name}.pem`, chain[0]);
    expect(openssl(['verify', '-x509_strict', '-CAfile', caFile, leaf]).trim()).toBe(`${leaf}: OK`);
  }
}

/** citadel's metrics after one intermediate renewal: counted once, and the chain's expiry is the new intermediate's. */
async function expectOneRenewalTo(running: RunningCitadel, intermediatePem: string): Promise<void> {
  const metrics = await (await fetch(`${running.http}/metrics`)).text();
  expect(metrics).toContain('flotilla_citadel_ca_renewals_total{kind="intermediate",result="changed"} 1');
  const notAfter = Date.parse(new X509Certificate(intermediatePem).validTo) / 1000;
  expect(metrics).toContain(`citadel_server_cert_chain_expiry_timestamp ${notAfter}`);
}

/**
 * Starts citadel on a state folder whose root is due, has it issue alice's certificate under the old root, then
 * starts its root check, which rotates; the caller stops the citadel.
 */
async function startAndRotate(args: string[], stateDir: string) {
  const oldRoot = readFileSync(join(stateDir, 'root-cert.pem'), 'utf8');
  const running = await startCitadel(args, stateDir);
  try {
    const dir = tempDir();
    const before = await createCertificate(running, opensslCsr(dir, 'alice', { uris: [ALICE] }), {
      token: tokenFor(running, 'default', 'alice'),
    });
    expect(before.at(-1)).toBe(oldRoot);
    await running.citadel.start(); // its first check finds the root due
    const newRoot = readFileSync(join(stateDir, 'root-cert.pem'), 'utf8');
    expect(newRoot).not.toBe(oldRoot);
    return { running, dir, before, oldRoot, newRoot };
  } catch (err) {
    await stopCitadel(running);
    throw err;
  }
}

describe('citadel rotates its self-signed root', () => {
  it('with --rotate-ca-key: new chains end in the new root, pre-rotation leaves verify against the trust bundle, and renew over mTLS', async () => {
    const stateDir = await stateDirWithAgedRoot();
    const { running, dir, before, oldRoot, newRoot } = await startAndRotate(
      ['--rotate-ca-key', 'true'],
      stateDir,
    );
    try {
      expect(new X509Certificate(newRoot).publicKey.export({ format: 'der', type: 'spki' })).not.toEqual(
        new X509Certificate(oldRoot).publicKey.export({ format: 'der', type: 'spki' }),
      );
      const metrics = await (await fetch(`${running.http}/metrics`)).text();
      expect(metrics).toContain('flotilla_citadel_ca_renewals_total{kind="root",result="changed"} 1');
      expect(metrics).toContain('flotilla_citadel_ca_renewals_total{kind="root",result="error"} 0');
      expect(metrics).toContain(
        `citadel_server_root_cert_expiry_timestamp ${Date.parse(new X509Certificate(newRoot).validTo) / 1000}`,
      );
      const bundle = readFileSync(running.bundlePath, 'utf8');
      expect(certificatesFromPem(bundle).map(pemOf)).toEqual([newRoot, oldRoot]);
      expect(await (await fetch(`${running.http}/ca/trust-bundle.pem`)).text()).toBe(bundle);

      const after = await createCertificate(running, opensslCsr(dir, 'bob', { uris: [BOB] }), {
        token: tokenFor(running, 'shop', 'bob'),
      });
      expect(after.at(-1)).toBe(newRoot);
      expectLeavesVerify(dir, running.bundlePath, { before, after });
      const newRootOnly = writeTemp(dir, 'new-root.pem', newRoot);
      expect(opensslResult(['verify', '-CAfile', newRootOnly, join(dir, 'before.pem')]).status).not.toBe(0);

      // A workload renews with its pre-rotation certificate: citadel's TLS now trusts both roots.
      const renewed = await createCertificate(running, opensslCsr(dir, 'alice-2', { uris: [ALICE] }), {
        clientCert: { cert: before[0], key: openssl(['pkey', '-in', join(dir, 'alice.key')]) },
      });
      expect(renewed.at(-1)).toBe(newRoot);
      expect(new X509Certificate(renewed[0]).subjectAltName).toBe(`URI:${ALICE}`);
      // And with a post-rotation certificate, to a client trusting only the new root: citadel re-issued its
      // serving certificate from the new root and trusts the new root for client certificates.
      const renewedBob = await createCertificate(running, opensslCsr(dir, 'bob-2', { uris: [BOB] }), {
        clientCert: { cert: after[0], key: openssl(['pkey', '-in', join(dir, 'bob.key')]) },
        trusting: newRootOnly,
      });
      expect(new X509Certificate(renewedBob[0]).subjectAltName).toBe(`URI:${BOB}`);
    } finally {
      await stopCitadel(running);
    }
  });

  it('keeps the key by default, and leaves a root with more than 20% of its life alone', async () => {
    const stateDir = await stateDirWithAgedRoot();
    const oldRoot = new X509Certificate(readFileSync(join(stateDir, 'root-cert.pem')));
    const running = await startCitadel([], stateDir);
    try {
      await running.citadel.start();
      const newRoot = new X509Certificate(readFileSync(join(stateDir, 'root-cert.pem')));
      expect(newRoot.serialNumber).not.toBe(oldRoot.serialNumber);
      expect(newRoot.publicKey.equals(oldRoot.publicKey)).toBe(true);
      expect(certificatesFromPem(readFileSync(running.bundlePath, 'utf8'))).toHaveLength(2);
      // Fresh for another eight years: the next check changes nothing.
      expect(await running.citadel.rotator!.check()).toBe('unchanged');
    } finally {
      await stopCitadel(running);
    }
  });
});

/** This file's own SoftHSM2 token, in the token folder jest.softhsm.cjs points SOFTHSM2_CONF at. */
const TOKEN = initSoftHsmToken('citadel-rotation');
const pkcs11Args = (keyLabel: string, token = TOKEN) => [
  '--pkcs11-module',
  SOFTHSM_MODULE,
  '--pkcs11-token-label',
  token,
  '--pkcs11-key-label',
  keyLabel,
  '--pkcs11-pin',
  '1234',
];

/**
 * A state folder whose ten-year root was signed 8.5 years ago by a new key pair labelled `keyLabel` on the
 * token: 15% of its life left, due for rotation. As --pkcs11-module keeps it: root-cert.pem, no key file.
 */
async function stateDirWithAgedTokenRoot(keyLabel: string, token = TOKEN): Promise<string> {
  const config = { module: SOFTHSM_MODULE, tokenLabel: token, keyLabel, pin: '1234' };
  await generatePkcs11EcKey(config);
  const signer = await Pkcs11Signer.open(config);
  try {
    const stateDir = tempDir('flotilla-citadel-hsm-');
    const certificate = await createRootWithSigner(signer, TD, new Date(Date.now() - 8.5 * YEAR), 10 * YEAR);
    await new FileRootCertificateStore(stateDir).save({ certificate, bundle: [certificate] });
    return stateDir;
  } finally {
    await signer.close();
  }
}

describe('citadel rotates a self-signed root whose key is on a PKCS #11 token (SoftHSM2)', () => {
  it('re-signs the due root with the same token key at start: trust-bundle.pem and ca-roots.pem hold both roots, leaves from before and after verify -x509_strict, and a pre-rotation certificate renews over mTLS', async () => {
    const stateDir = await stateDirWithAgedTokenRoot('ca');
    const { running, dir, before, oldRoot, newRoot } = await startAndRotate(pkcs11Args('ca'), stateDir);
    try {
      const [next, previous] = [new X509Certificate(newRoot), new X509Certificate(oldRoot)];
      expect(next.serialNumber).not.toBe(previous.serialNumber);
      expect(next.subject).toBe(previous.subject);
      expect(next.publicKey.equals(previous.publicKey)).toBe(true);
      expect(Date.parse(next.validFrom)).toBeGreaterThan(Date.now() - 3600_000);
      expect(existsSync(join(stateDir, 'root-key.pem'))).toBe(false);
      const bundle = readFileSync(running.bundlePath, 'utf8');
      expect(certificatesFromPem(bundle).map(pemOf)).toEqual([newRoot, oldRoot]);
      expect(readFileSync(join(stateDir, CA_ROOTS_FILE), 'utf8')).toBe(bundle);
      expect(await (await fetch(`${running.http}/ca/trust-bundle.pem`)).text()).toBe(bundle);

      const after = await createCertificate(running, opensslCsr(dir, 'bob', { uris: [BOB] }), {
        token: tokenFor(running, 'shop', 'bob'),
      });
      expect(after.at(-1)).toBe(newRoot);
      expectLeavesVerify(dir, running.bundlePath, { before, after });
      const renewed = await createCertificate(running, opensslCsr(dir, 'alice-2', { uris: [ALICE] }), {
        clientCert: { cert: before[0], key: openssl(['pkey', '-in', join(dir, 'alice.key')]) },
        trusting: writeTemp(dir, 'new-root.pem', newRoot),
      });
      expect(renewed.at(-1)).toBe(newRoot);
      expect(await running.citadel.rotator!.check()).toBe('unchanged');
      expect(running.citadel.rootSource).toBe(
        `folder ${stateDir}, key: PKCS#11 token "${TOKEN}" keys labelled "ca"`,
      );
    } finally {
      await stopCitadel(running);
    }
  });

  it('with --rotate-ca-key: a new key pair on the token signs the new root, old leaves verify only through the bundle, and a restart keeps signing with the new key', async () => {
    const stateDir = await stateDirWithAgedTokenRoot('rotating');
    const oldRoot = readFileSync(join(stateDir, 'root-cert.pem'), 'utf8');
    const args = [...pkcs11Args('rotating'), '--rotate-ca-key', 'true'];
    const running = await startCitadel(args, stateDir);
    const dir = tempDir();
    let newSigner: string;
    try {
      const oldSigner = running.citadel.ca.material.signer.description;
      const before = await createCertificate(running, opensslCsr(dir, 'alice', { uris: [ALICE] }), {
        token: tokenFor(running, 'default', 'alice'),
      });
      await running.citadel.start();

      const newRoot = readFileSync(join(stateDir, 'root-cert.pem'), 'utf8');
      expect(new X509Certificate(newRoot).publicKey.equals(new X509Certificate(oldRoot).publicKey)).toBe(
        false,
      );
      newSigner = running.citadel.ca.material.signer.description;
      expect(newSigner).not.toBe(oldSigner);
      expect(newSigner).toMatch(new RegExp(`^PKCS#11 token "${TOKEN}" key "rotating" id [0-9a-f]{32}$`));
      expect(certificatesFromPem(readFileSync(running.bundlePath, 'utf8')).map(pemOf)).toEqual([
        newRoot,
        oldRoot,
      ]);
      const after = await createCertificate(running, opensslCsr(dir, 'bob', { uris: [BOB] }), {
        token: tokenFor(running, 'shop', 'bob'),
      });
      expect(after.at(-1)).toBe(newRoot);
      const newRootOnly = writeTemp(dir, 'new-root.pem', newRoot);
      expectLeavesVerify(dir, running.bundlePath, { before, after });
      expect(opensslResult(['verify', '-CAfile', newRootOnly, join(dir, 'before.pem')]).status).not.toBe(0);
    } finally {
      await stopCitadel(running);
    }

    const restarted = await startCitadel(args, stateDir);
    try {
      expect(restarted.citadel.ca.material.signer.description).toBe(newSigner);
      await restarted.citadel.start();
      expect(await restarted.citadel.rotator!.check()).toBe('unchanged');
      const carol = await createCertificate(restarted, opensslCsr(dir, 'carol', { uris: [ALICE] }), {
        token: tokenFor(restarted, 'default', 'alice'),
      });
      expectLeavesVerify(dir, restarted.bundlePath, { carol });
    } finally {
      await stopCitadel(restarted);
    }
  });
});

describe('citadel in Kubernetes (against the Kubernetes API test double)', () => {
  let api: KubeApiServerDouble;
  let url: string;
  beforeEach(async () => {
    api = new KubeApiServerDouble().register(SECRETS).register(CONFIG_MAPS).register(NAMESPACES);
    url = await api.start();
    for (const name of ['default', 'shop']) api.apply(NAMESPACES, { metadata: { name } });
  });
  afterEach(() => api.stop());

  const kubeArgs = () => ['--kube-api-server', url, '--kube-namespace', 'istio-system'];
  const rootConfigMap = (namespace: string) =>
    api.get(CONFIG_MAPS, namespace, ROOT_CERT_CONFIG_MAP)?.data as Record<string, string> | undefined;

  it('keeps the root in Secret istio-ca-secret and reads it back on restart', async () => {
    const first = await startCitadel(kubeArgs(), tempDir('flotilla-citadel-'));
    await stopCitadel(first);
    const secret = api.get(SECRETS, 'istio-system', CA_SECRET_NAME);
    expect(secret?.type).toBe(CA_SECRET_TYPE);
    const data = secret?.data as Record<string, string>;
    const caCert = Buffer.from(data['ca-cert.pem'], 'base64').toString();
    expect(caCert).toBe(pemOf(first.citadel.ca.signingCertificate.der));
    expect(Buffer.from(data['ca-key.pem'], 'base64').toString()).toMatch(/BEGIN PRIVATE KEY/);
    expect(Buffer.from(data['root-cert.pem'], 'base64').toString()).toBe(caCert);
    // The root is not in the state folder; only the trust bundle file is.
    expect(existsSync(join(first.options.stateDir, 'root-key.pem'))).toBe(false);
    expect(readFileSync(first.bundlePath, 'utf8')).toBe(caCert);

    // Another state folder, as a restarted pod has: the same root.
    const again = await startCitadel(kubeArgs(), tempDir('flotilla-citadel-'));
    await stopCitadel(again);
    expect(pemOf(again.citadel.ca.signingCertificate.der)).toBe(caCert);
  });

  it('publishes istio-ca-root-cert and istio-ca-crl to every namespace, new ones included, and updates them on rotation and revocation', async () => {
    const running = await startCitadel(kubeArgs(), tempDir('flotilla-citadel-'));
    try {
      await running.citadel.start();
      const bundle = readFileSync(running.bundlePath, 'utf8');
      for (const namespace of ['default', 'shop']) {
        expect(rootConfigMap(namespace)).toEqual({ 'root-cert.pem': bundle });
        const crl = (api.get(CONFIG_MAPS, namespace, CRL_CONFIG_MAP)?.data as Record<string, string>)[
          'ca-crl.pem'
        ];
        expect(crl).toMatch(/^-----BEGIN X509 CRL-----/);
      }
      expect(api.get(CONFIG_MAPS, 'default', ROOT_CERT_CONFIG_MAP)?.metadata.labels).toEqual({
        'istio.io/config': 'true',
      });

      api.apply(NAMESPACES, { metadata: { name: 'late' } });
      await waitFor(
        'the new namespace’s ConfigMap',
        () => rootConfigMap('late')?.['root-cert.pem'] === bundle,
      );

      // Another replica (or an operator) stores a root that is due: the next check takes it up and rotates it.
      const store = new SecretRootStore(kubeConfigFor(url, 't'), 'istio-system', SOFTWARE_KEY_ENTRIES);
      await store.load();
      const aged = await createSoftwareRoot(TD, Date.now() - 8.5 * YEAR, 10 * YEAR);
      await store.save(aged);
      expect(await running.citadel.rotator!.check()).toBe('rotated');
      const rotated = readFileSync(running.bundlePath, 'utf8');
      expect(certificatesFromPem(rotated).map(pemOf).slice(1)).toEqual([pemOf(aged.certificate)]);
      await running.citadel.distributor!.idle();
      for (const namespace of ['default', 'shop', 'late']) {
        expect(rootConfigMap(namespace)).toEqual({ 'root-cert.pem': rotated });
      }

      // A revocation reaches istio-ca-crl, signed by the current CA.
      addRevocation(running.options.stateDir, 'abcdef12', 'keyCompromise');
      const dir = tempDir();
      const crlPem = await waitFor(
        'the CRL with the revoked serial',
        () => {
          const pem = (api.get(CONFIG_MAPS, 'shop', CRL_CONFIG_MAP)?.data as Record<string, string>)[
            'ca-crl.pem'
          ];
          const text = openssl(['crl', '-noout', '-text', '-in', writeTemp(dir, 'crl.pem', pem)]);
          return /Serial Number: ABCDEF12/i.test(text) ? pem : undefined;
        },
        15_000,
        250,
      );
      const verified = opensslResult([
        'crl',
        '-noout',
        '-CAfile',
        running.bundlePath,
        '-in',
        writeTemp(dir, 'crl.pem', crlPem),
      ]);
      expect(verified.stderr + verified.stdout).toMatch(/verify OK/);
    } finally {
      await stopCitadel(running);
    }
  }, 30_000); // the CRL is published every 5 s

  describe('with the CA key on a PKCS #11 token (SoftHSM2)', () => {
    const token = initSoftHsmToken('citadel-replicas');
    const configFor = (keyLabel: string) => ({
      module: SOFTHSM_MODULE,
      tokenLabel: token,
      keyLabel,
      pin: '1234',
    });
    /** istio-ca-secret's data, decoded. */
    const secretData = () =>
      Object.fromEntries(
        Object.entries(api.get(SECRETS, 'istio-system', CA_SECRET_NAME)?.data as Record<string, string>).map(
          ([key, value]) => [key, Buffer.from(value, 'base64').toString()],
        ),
      );
    /** The CKA_ID, in hex, of the key a PKCS #11 URI names. */
    const idOfUri = (uri: string) => /;id=((?:%[0-9a-f]{2})+)/.exec(uri)![1].replace(/%/g, '');
    const issueFrom = (running: RunningCitadel, dir: string, name: string) =>
      createCertificate(running, opensslCsr(dir, name, { uris: [ALICE] }), {
        token: tokenFor(running, 'default', 'alice'),
      });

    it('two citadels on one token started together store one root in istio-ca-secret — its certificates and the key’s PKCS #11 URI, never a key — and both issue under it', async () => {
      await generatePkcs11EcKey(configFor('replicas'));
      const args = [...kubeArgs(), ...pkcs11Args('replicas', token)];
      // Both find no Secret and make a root for the token key; the first create wins, the second takes its root.
      api.holdWrites(SECRETS);
      const starting = Promise.all([
        startCitadel(args, tempDir('flotilla-citadel-hsm-')),
        startCitadel(args, tempDir('flotilla-citadel-hsm-')),
      ]);
      await waitFor('both citadels creating istio-ca-secret', () => api.heldWrites === 2);
      api.releaseWrites();
      const [a, b] = await starting;
      try {
        const root = pemOf(a.citadel.ca.signingCertificate.der);
        expect(pemOf(b.citadel.ca.signingCertificate.der)).toBe(root);
        const data = secretData();
        expect(Object.keys(data).sort()).toEqual(['ca-cert.pem', 'ca-key-pkcs11-uri', 'root-cert.pem']);
        expect(data['ca-cert.pem']).toBe(root);
        expect(data['root-cert.pem']).toBe(root);
        expect(data['ca-key-pkcs11-uri']).toMatch(
          new RegExp(`^pkcs11:token=${token};object=replicas;id=(%[0-9a-f]{2}){16};type=private$`),
        );
        const dir = tempDir();
        for (const [running, other] of [
          [a, b],
          [b, a],
        ]) {
          expect(running.citadel.ca.material.signer.description).toBe(
            `PKCS#11 token "${token}" key "replicas" id ${idOfUri(data['ca-key-pkcs11-uri'])}`,
          );
          expect(running.citadel.rootSource).toBe(
            `Secret istio-system/${CA_SECRET_NAME}, key: PKCS#11 token "${token}" keys labelled "replicas"`,
          );
          expect(existsSync(join(running.options.stateDir, 'root-cert.pem'))).toBe(false);
          expect(readFileSync(running.bundlePath, 'utf8')).toBe(root);
          const chain = await issueFrom(running, dir, running === a ? 'from-a' : 'from-b');
          expect(chain.at(-1)).toBe(root);
          expectLeavesVerify(dir, other.bundlePath, { [running === a ? 'from-a' : 'from-b']: chain });
        }
      } finally {
        await stopCitadel(a);
        await stopCitadel(b);
      }
    });

    it('with --rotate-ca-key, two citadels rotating the Secret’s root at once agree on one new root, the replica that lost destroys the key pair it made, and a restart takes the root from the Secret', async () => {
      const config = configFor('rotating-replicas');
      await generatePkcs11EcKey(config);
      const signer = await Pkcs11Signer.open(config);
      try {
        const certificate = await createRootWithSigner(
          signer,
          TD,
          new Date(Date.now() - 8.5 * YEAR),
          10 * YEAR,
        );
        const store = new SecretRootStore(kubeConfigFor(url, 't'), 'istio-system', TOKEN_KEY_ENTRIES);
        await store.load();
        await store.save({ certificate, bundle: [certificate], keyUri: signer.uri });
      } finally {
        await signer.close();
      }
      const oldRoot = secretData()['ca-cert.pem'];
      const args = [...kubeArgs(), ...pkcs11Args('rotating-replicas', token), '--rotate-ca-key', 'true'];
      const loggers = ['a', 'b'].map((name) => createLogger(`citadel-${name}`, 'silent'));
      const infoLogs = loggers.map((logger) => jest.spyOn(logger, 'info'));
      const [a, b] = await Promise.all(
        loggers.map((logger) => startCitadel(args, tempDir('flotilla-citadel-hsm-'), { logger })),
      );
      const dir = tempDir();
      try {
        expect(pemOf(a.citadel.ca.signingCertificate.der)).toBe(oldRoot);
        expect(pemOf(b.citadel.ca.signingCertificate.der)).toBe(oldRoot);
        const before = await issueFrom(a, dir, 'before');

        // Both read the due root, make a new key pair and a successor; the first replace wins.
        api.holdWrites(SECRETS);
        const checks = Promise.all([a.citadel.rotator!.check(), b.citadel.rotator!.check()]);
        await waitFor('both citadels storing a successor', () => api.heldWrites === 2);
        api.releaseWrites();
        expect((await checks).sort()).toEqual(['reloaded', 'rotated']);

        const data = secretData();
        const newRoot = data['ca-cert.pem'];
        expect(newRoot).not.toBe(oldRoot);
        expect(data['root-cert.pem']).toBe(newRoot + oldRoot);
        expect(Object.keys(data)).not.toContain('ca-key.pem');
        const winner = `PKCS#11 token "${token}" key "rotating-replicas" id ${idOfUri(data['ca-key-pkcs11-uri'])}`;
        for (const running of [a, b]) {
          expect(pemOf(running.citadel.ca.signingCertificate.der)).toBe(newRoot);
          expect(running.citadel.ca.material.signer.description).toBe(winner);
          expect(readFileSync(running.bundlePath, 'utf8')).toBe(newRoot + oldRoot);
        }
        // The loser's new pair is gone: the token holds the old pair and the winner's.
        const destroyed = infoLogs
          .flatMap((spy) => spy.mock.calls)
          .filter(([, message]) => message === 'destroyed a CA key that no stored or trusted root carries');
        expect(destroyed).toHaveLength(1);
        expect((destroyed[0][0] as { key: string }).key).toMatch(
          new RegExp(
            `^PKCS#11 token "${token}" key "rotating-replicas" id [0-9a-f]{32} \\(private and public key\\)$`,
          ),
        );
        expect((destroyed[0][0] as { key: string }).key).not.toContain(winner);
        await expect(Pkcs11Signer.open(config)).rejects.toThrow(
          /^2 EC key pairs are labelled "rotating-replicas"/,
        );

        const after = await issueFrom(b, dir, 'after');
        expect(after.at(-1)).toBe(newRoot);
        expectLeavesVerify(dir, a.bundlePath, { before, after });
      } finally {
        await stopCitadel(a);
        await stopCitadel(b);
      }

      const restarted = await startCitadel(args, tempDir('flotilla-citadel-hsm-'));
      try {
        expect(pemOf(restarted.citadel.ca.signingCertificate.der)).toBe(secretData()['ca-cert.pem']);
        await restarted.citadel.start();
        expect(await restarted.citadel.rotator!.check()).toBe('unchanged');
      } finally {
        await stopCitadel(restarted);
      }
    });

    it('moves the root an earlier citadel kept in the state folder for the token key into istio-ca-secret, and signs under it', async () => {
      const stateDir = await stateDirWithAgedTokenRoot('moved', token);
      const kept = readFileSync(join(stateDir, 'root-cert.pem'), 'utf8');
      const running = await startCitadel([...kubeArgs(), ...pkcs11Args('moved', token)], stateDir);
      try {
        const data = secretData();
        expect(data['ca-cert.pem']).toBe(kept);
        expect(data['root-cert.pem']).toBe(kept);
        expect(running.citadel.ca.material.signer.description).toBe(
          `PKCS#11 token "${token}" key "moved" id ${idOfUri(data['ca-key-pkcs11-uri'])}`,
        );
        const chain = await issueFrom(running, tempDir(), 'alice');
        expect(chain.at(-1)).toBe(kept);
      } finally {
        await stopCitadel(running);
      }
    });
  });
});

describe('citadel renews its Vault-signed intermediate while it runs (against the Vault test double)', () => {
  let vault: VaultDouble;
  let tokenFile: string;
  beforeAll(async () => {
    vault = await VaultDouble.start();
    tokenFile = writeTemp(tempDir(), 'vault-token', vault.createToken());
  });
  afterAll(() => vault.close());

  const signRequests = () => vault.requests.filter((r) => r.path === '/v1/pki/root/sign-intermediate').length;

  /**
   * Citadel in --vault-mode sign-intermediate, checking its intermediate every 100 ms against a clock the test moves
   * to the moment 10% of the intermediate's life is left (`makeDue`) and back to now once a new one is in place.
   */
  async function startIntermediateCitadel() {
    let shiftMs = 0;
    const logger = createLogger('citadel-test', 'silent');
    const errorLogs = jest.spyOn(logger, 'error');
    const stateDir = tempDir('flotilla-citadel-vault-');
    const running = await startCitadel(
      [
        '--vault-address',
        vault.url,
        '--vault-mode',
        'sign-intermediate',
        '--vault-token-file',
        tokenFile,
        '--vault-intermediate-check-interval',
        '0.1s',
      ],
      stateDir,
      { logger, now: () => Date.now() + shiftMs },
    );
    running.citadel.current.on('change', () => (shiftMs = 0));
    const keptPem = () => readFileSync(join(stateDir, 'vault-intermediate', 'ca-cert.pem'), 'utf8');
    const makeDue = () => {
      const cert = new X509Certificate(keptPem());
      const from = Date.parse(cert.validFrom);
      const to = Date.parse(cert.validTo);
      shiftMs = to - 0.1 * (to - from) - Date.now();
    };
    const issue = (name: string) =>
      createCertificate(running, opensslCsr(dir, name, { uris: [ALICE] }), {
        token: tokenFor(running, 'default', 'alice'),
      });
    const dir = tempDir();
    return { running, errorLogs, keptPem, makeDue, issue, dir };
  }

  /** `openssl verify -x509_strict` of a chain (leaf, citadel's intermediate, Vault's issuing CA, root) against Vault's root. */
  function verifyAgainstVaultRoot(dir: string, name: string, chain: string[]): string {
    const root = writeTemp(dir, 'vault-root.pem', vault.rootPem);
    const untrusted = writeTemp(dir, `${name}-chain.pem`, chain.slice(1, -1).join(''));
    const leaf = writeTemp(dir, `${name}.pem`, chain[0]);
    const r = opensslResult(['verify', '-x509_strict', '-CAfile', root, '-untrusted', untrusted, leaf]);
    return (r.stdout + r.stderr).trim();
  }

  /** The certificate citadel's TLS port serves now. */
  function servedCertificate(running: RunningCitadel): Promise<X509Certificate> {
    const [host, port] = running.address.split(':');
    return new Promise((resolve, reject) => {
      const socket = connect(
        { host, port: Number(port), servername: 'localhost', ca: vault.rootPem, ALPNProtocols: ['h2'] },
        () => {
          resolve(socket.getPeerX509Certificate()!);
          socket.destroy();
        },
      );
      socket.on('error', reject);
    });
  }

  it('has Vault sign a new intermediate (new key) at the periodic check once 20% of its life is left: later leaves chain to it, and leaves from before and after verify -x509_strict against Vault’s root', async () => {
    const { running, keptPem, makeDue, issue, dir } = await startIntermediateCitadel();
    try {
      await running.citadel.start();
      const before = await issue('before');
      const oldIntermediate = keptPem();
      expect(before[1]).toBe(oldIntermediate);
      const signsBefore = signRequests();

      // The double's certificates run from the current whole second: a second later the new one ends later.
      await setTimeout(1000);
      makeDue();
      await waitFor('a new intermediate in the state folder', () => keptPem() !== oldIntermediate);
      const newIntermediate = new X509Certificate(keptPem());
      expect(signRequests()).toBe(signsBefore + 1);
      expect(newIntermediate.publicKey.equals(new X509Certificate(oldIntermediate).publicKey)).toBe(false);

      const after = await issue('after');
      expect(after[1]).toBe(keptPem());
      await expectOneRenewalTo(running, after[1]);
      expect(after.at(-1)!.trim()).toBe(vault.rootPem);
      expect(new X509Certificate(after[0]).checkIssued(newIntermediate)).toBe(true);
      expect(verifyAgainstVaultRoot(dir, 'before', before)).toMatch(/: OK$/);
      expect(verifyAgainstVaultRoot(dir, 'after', after)).toMatch(/: OK$/);
      // Same root: the trust bundle did not change, and citadel's own serving certificate is re-issued.
      expect(readFileSync(running.bundlePath, 'utf8').trim()).toBe(vault.rootPem);
      await waitFor('a serving certificate from the new intermediate', async () =>
        (await servedCertificate(running)).verify(newIntermediate.publicKey),
      );
      // Fresh again: later checks leave it alone.
      await setTimeout(300);
      expect(signRequests()).toBe(signsBefore + 1);
    } finally {
      await stopCitadel(running);
    }
  });

  it('keeps issuing with the old intermediate while Vault is unreachable, logs each failed check, and renews once Vault answers again', async () => {
    const { running, errorLogs, keptPem, makeDue, issue, dir } = await startIntermediateCitadel();
    try {
      await running.citadel.start();
      const oldIntermediate = keptPem();
      vault.sealed = true;
      makeDue();
      const failures = () =>
        errorLogs.mock.calls.filter(
          ([fields, message]) =>
            /cannot renew the Vault-signed intermediate/.test(String(message)) &&
            /Vault is sealed/.test(String((fields as { err?: Error }).err?.message)),
        ).length;
      await waitFor('two failed checks logged', () => failures() >= 2);
      const renewalErrors = async () =>
        Number(
          /flotilla_citadel_ca_renewals_total\{kind="intermediate",result="error"\} (\d+)/.exec(
            await (await fetch(`${running.http}/metrics`)).text(),
          )?.[1],
        );
      expect(await renewalErrors()).toBeGreaterThanOrEqual(2);

      const during = await issue('during');
      expect(during[1]).toBe(oldIntermediate);
      expect(keptPem()).toBe(oldIntermediate);
      expect(verifyAgainstVaultRoot(dir, 'during', during)).toMatch(/: OK$/);

      // The double's certificates run from the current whole second: a second later the new one ends later.
      await setTimeout(1000);
      vault.sealed = false;
      await waitFor('a new intermediate in the state folder', () => keptPem() !== oldIntermediate);
      const after = await issue('after');
      expect(after[1]).toBe(keptPem());
      await expectOneRenewalTo(running, after[1]);
      expect(verifyAgainstVaultRoot(dir, 'after', after)).toMatch(/: OK$/);
      expect(verifyAgainstVaultRoot(dir, 'during', during)).toMatch(/: OK$/);
    } finally {
      vault.sealed = false;
      await stopCitadel(running);
    }
  });
});
