import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import {
  freePorts,
  opensslCsr,
  opensslResult,
  tempDir,
  VaultDouble,
  waitFor,
  writeTemp,
} from '@flotilla/testing';
import { CertificateAuthority } from '../authority';
import type { CaKeyMaterial } from '../authority';
import { CaError } from '../ca-error';
import { parseCertificateDer, parseSubjectAltNames } from '../certificate';
import { csrPemToDer } from '../csr';
import { OID } from '../oids';
import { VaultClient } from './client';
import { VaultIntermediateRenewer } from './intermediate-renewer';
import { loadVaultIntermediate, saveVaultIntermediate } from './intermediate-store';
import { VaultLeafIssuer, vaultSignedIntermediate } from './vault-pki';

const HOUR_MS = 3600 * 1000;
const TRUST_DOMAIN = 'cluster.local';
const SPIFFE_ID = `spiffe://${TRUST_DOMAIN}/ns/default/sa/web`;
const K8S_JWT = 'eyJhbGciOiJSUzI1NiJ9.double-service-account-token.sig';
const DAY_MS = 24 * HOUR_MS;

/** validFrom and validTo of a DER certificate, in milliseconds. */
function lifetimeOf(der: Buffer): { from: number; to: number } {
  const cert = new X509Certificate(der);
  return { from: Date.parse(cert.validFrom), to: Date.parse(cert.validTo) };
}

/** The moment `fraction` of the certificate's lifetime is left. */
function whenLeft(der: Buffer, fraction: number): number {
  const { from, to } = lifetimeOf(der);
  return to - fraction * (to - from);
}

const spkiOf = (material: CaKeyMaterial) => material.signer.publicKey.export({ format: 'der', type: 'spki' });

/** `openssl verify -x509_strict` of a chain (leaf first, root last) against the double's root. */
function verifyChain(
  dir: string,
  chainPem: string[],
  rootPem: string,
): { status: number | null; out: string } {
  const root = writeTemp(dir, 'root.pem', `${rootPem}\n`);
  const untrusted = writeTemp(dir, 'untrusted.pem', `${chainPem.slice(1, -1).join('\n')}\n`);
  const leaf = writeTemp(dir, 'leaf.pem', `${chainPem[0]}\n`);
  const args = ['verify', '-x509_strict', '-CAfile', root];
  if (chainPem.length > 2) args.push('-untrusted', untrusted);
  const r = opensslResult([...args, leaf]);
  return { status: r.status, out: r.stdout + r.stderr };
}

function uriSans(pem: string): string[] {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const san = parseCertificateDer(der).extensions.get(OID.subjectAltName);
  return san ? parseSubjectAltNames(san.value).uris : [];
}

async function caErrorOf(promise: Promise<unknown>): Promise<CaError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof CaError) return err;
    throw err;
  }
  throw new Error('expected a CaError');
}

describe('Vault PKI key custody (against the Vault test double)', () => {
  let vault: VaultDouble;
  let dir: string;
  let csrDer: Buffer;

  beforeAll(async () => {
    vault = await VaultDouble.start({
      mount: 'pki_int',
      roles: { citadel: { allowedUriPrefix: `spiffe://${TRUST_DOMAIN}/` } },
      kubernetes: { role: 'citadel', jwt: K8S_JWT },
    });
    dir = tempDir('flotilla-vault-spec-');
    csrDer = csrPemToDer(opensslCsr(dir, 'web', { uris: [SPIFFE_ID] }));
  });

  afterAll(async () => {
    await vault.close();
  });

  function issuer(client: VaultClient, role = 'citadel'): VaultLeafIssuer {
    return new VaultLeafIssuer(client, {
      mount: 'pki_int',
      role,
      trustDomain: TRUST_DOMAIN,
      defaultTtlMs: 24 * HOUR_MS,
      maxTtlMs: 48 * HOUR_MS,
    });
  }

  describe('model A: Vault signs every leaf', () => {
    it('sends the CSR with uri_sans and ttl, and returns a chain openssl verifies, leaf first and root last', async () => {
      const client = new VaultClient({
        address: vault.url,
        auth: { kind: 'token', token: vault.createToken() },
      });
      const issued = await issuer(client).issueWorkload(csrDer, SPIFFE_ID, 3600);

      const sign = vault.requests.filter((r) => r.path === '/v1/pki_int/sign/citadel').at(-1)!;
      expect(sign.body).toMatchObject({ uri_sans: SPIFFE_ID, ttl: '3600s', format: 'pem' });
      expect(sign.body!.csr).toContain('BEGIN CERTIFICATE REQUEST');
      expect(issued.chainPem).toHaveLength(3);
      expect(issued.chainPem[2].trim()).toBe(vault.rootPem);
      expect(issued.chainPem[1].trim()).toBe(vault.issuingPem);
      expect(uriSans(issued.chainPem[0])).toEqual([SPIFFE_ID]);
      const verified = verifyChain(dir, issued.chainPem, vault.rootPem);
      expect(verified.out).toContain('OK');
      expect(verified.status).toBe(0);
      expect((await issuer(client).rootsPem()).map((p) => p.trim())).toEqual([vault.rootPem]);
    });

    it('logs in with Kubernetes auth (role + service-account JWT) and logs in again when Vault answers 403', async () => {
      const jwtFile = writeTemp(dir, 'sa-token', `${K8S_JWT}\n`);
      const client = new VaultClient({
        address: vault.url,
        auth: { kind: 'kubernetes', role: 'citadel', jwtFile },
      });
      const first = await issuer(client).issueWorkload(csrDer, SPIFFE_ID, 0);
      expect(uriSans(first.chainPem[0])).toEqual([SPIFFE_ID]);
      const logins = () => vault.requests.filter((r) => r.path === '/v1/auth/kubernetes/login');
      expect(logins().at(-1)!.body).toEqual({ role: 'citadel', jwt: K8S_JWT });
      const before = logins().length;

      vault.expireTokens();
      const second = await issuer(client).issueWorkload(csrDer, SPIFFE_ID, 0);
      expect(logins()).toHaveLength(before + 1);
      expect(verifyChain(dir, second.chainPem, vault.rootPem).status).toBe(0);
    });

    it('refuses a CSR for another identity before asking Vault', async () => {
      const client = new VaultClient({ address: vault.url, auth: { kind: 'token', token: vault.rootToken } });
      const count = vault.requests.length;
      const err = await caErrorOf(
        issuer(client).issueWorkload(csrDer, `spiffe://${TRUST_DOMAIN}/ns/default/sa/other`, 0),
      );
      expect(err.kind).toBe('permission-denied');
      expect(vault.requests).toHaveLength(count);
    });

    it('reports a bad token, a wrong Kubernetes JWT and a wrong role clearly', async () => {
      const bad = new VaultClient({ address: vault.url, auth: { kind: 'token', token: 'hvs.not-a-token' } });
      const badToken = await caErrorOf(issuer(bad).issueWorkload(csrDer, SPIFFE_ID, 0));
      expect(badToken.kind).toBe('internal');
      expect(badToken.message).toMatch(/sign\/citadel: HTTP 403: permission denied .*credential/);

      const wrongJwt = new VaultClient({
        address: vault.url,
        auth: { kind: 'kubernetes', role: 'citadel', jwt: 'someone-else' },
      });
      const jwtErr = await caErrorOf(issuer(wrongJwt).issueWorkload(csrDer, SPIFFE_ID, 0));
      expect(jwtErr.message).toMatch(/Kubernetes login as role citadel failed: HTTP 403: permission denied/);

      const wrongK8sRole = new VaultClient({
        address: vault.url,
        auth: { kind: 'kubernetes', role: 'nobody', jwt: K8S_JWT },
      });
      const k8sRoleErr = await caErrorOf(issuer(wrongK8sRole).issueWorkload(csrDer, SPIFFE_ID, 0));
      expect(k8sRoleErr.kind).toBe('internal');
      expect(k8sRoleErr.message).toContain('invalid role name "nobody"');

      const good = new VaultClient({ address: vault.url, auth: { kind: 'token', token: vault.rootToken } });
      const roleErr = await caErrorOf(issuer(good, 'no-such-role').issueWorkload(csrDer, SPIFFE_ID, 0));
      expect(roleErr.kind).toBe('internal');
      expect(roleErr.message).toContain('unknown role: no-such-role');
    });

    it('reports Vault down or sealed as unavailable', async () => {
      const [port] = await freePorts(1);
      const down = new VaultClient({
        address: `http://127.0.0.1:${port}`,
        auth: { kind: 'token', token: vault.rootToken },
      });
      const downErr = await caErrorOf(issuer(down).issueWorkload(csrDer, SPIFFE_ID, 0));
      expect(downErr.kind).toBe('unavailable');
      expect(downErr.message).toContain('Vault is unreachable');

      vault.sealed = true;
      try {
        const client = new VaultClient({
          address: vault.url,
          auth: { kind: 'token', token: vault.rootToken },
        });
        const sealedErr = await caErrorOf(issuer(client).issueWorkload(csrDer, SPIFFE_ID, 0));
        expect(sealedErr.kind).toBe('unavailable');
        expect(sealedErr.message).toContain('Vault is sealed');
      } finally {
        vault.sealed = false;
      }
    });
  });

  describe("model B: Vault signs citadel's intermediate", () => {
    it('gets an intermediate for a key made here, and the CA issues leaves openssl verifies up to Vault', async () => {
      const client = new VaultClient({
        address: vault.url,
        auth: { kind: 'token', token: vault.createToken() },
      });
      const intermediate = await vaultSignedIntermediate(client, {
        mount: 'pki_int',
        trustDomain: TRUST_DOMAIN,
        ttlMs: 30 * 24 * HOUR_MS,
      });
      const request = vault.requests.filter((r) => r.path === '/v1/pki_int/root/sign-intermediate').at(-1)!;
      expect(request.body!.csr).toContain('BEGIN CERTIFICATE REQUEST');
      expect(request.body!.csr).not.toContain('PRIVATE KEY');
      expect(intermediate.chainPem.at(-1)!.trim()).toBe(vault.rootPem);
      expect(intermediate.privateKeyPem).toContain('BEGIN PRIVATE KEY');

      const ca = new CertificateAuthority(intermediate.material, {
        trustDomain: TRUST_DOMAIN,
        defaultTtlMs: 24 * HOUR_MS,
        maxTtlMs: 48 * HOUR_MS,
      });
      const issued = await ca.issueWorkload(csrDer, SPIFFE_ID, 0);
      expect(issued.chainPem).toHaveLength(4);
      expect(issued.chainPem.at(-1)!.trim()).toBe(vault.rootPem);
      expect(uriSans(issued.chainPem[0])).toEqual([SPIFFE_ID]);
      const verified = verifyChain(dir, issued.chainPem, vault.rootPem);
      expect(verified.out).toContain('OK');
      expect(verified.status).toBe(0);
    });

    it('keeps the intermediate in the state folder and reuses it until a fifth of its life is left', async () => {
      const client = new VaultClient({
        address: vault.url,
        auth: { kind: 'token', token: vault.createToken() },
      });
      const signRequests = () =>
        vault.requests.filter((r) => r.path === '/v1/pki_int/root/sign-intermediate').length;
      const kept = join(dir, 'vault-intermediate');
      expect(loadVaultIntermediate(kept)).toBeUndefined();
      const before = signRequests();
      const fresh = await vaultSignedIntermediate(client, {
        mount: 'pki_int',
        trustDomain: TRUST_DOMAIN,
        ttlMs: 30 * 24 * HOUR_MS,
      });
      saveVaultIntermediate(kept, fresh);
      expect(statSync(join(kept, 'ca-key.pem')).mode & 0o777).toBe(0o600);
      const loaded = loadVaultIntermediate(kept)!;
      expect(loaded.signingCertificate.equals(fresh.material.signingCertificate)).toBe(true);
      expect(loaded.roots.map((r) => r.equals(fresh.material.roots[0]))).toEqual([true]);
      // The kept key signs: a leaf from the reloaded material verifies up to Vault's root.
      const ca = new CertificateAuthority(loaded, {
        trustDomain: TRUST_DOMAIN,
        defaultTtlMs: HOUR_MS,
        maxTtlMs: HOUR_MS,
      });
      const issued = await ca.issueWorkload(csrDer, SPIFFE_ID, 0);
      expect(verifyChain(dir, issued.chainPem, vault.rootPem).status).toBe(0);
      expect(signRequests()).toBe(before + 1);
      // Near its end it is not reused.
      const validTo = Date.parse(new X509Certificate(loaded.signingCertificate).validTo);
      expect(loadVaultIntermediate(kept, validTo - HOUR_MS)).toBeUndefined();
    });

    describe('VaultIntermediateRenewer', () => {
      const signRequests = () =>
        vault.requests.filter((r) => r.path === '/v1/pki_int/root/sign-intermediate').length;
      let clock: number;
      const options = (dir: string, ttlMs = 30 * DAY_MS) => ({
        dir,
        mount: 'pki_int',
        trustDomain: TRUST_DOMAIN,
        ttlMs,
        threshold: 0.2,
        checkIntervalMs: 50,
        now: () => clock,
      });
      const tokenClient = () =>
        new VaultClient({ address: vault.url, auth: { kind: 'token', token: vault.createToken() } });
      const leafOf = (material: CaKeyMaterial) =>
        new CertificateAuthority(material, {
          trustDomain: TRUST_DOMAIN,
          defaultTtlMs: HOUR_MS,
          maxTtlMs: HOUR_MS,
        }).issueWorkload(csrDer, SPIFFE_ID, 0);
      beforeEach(() => {
        clock = Date.now();
      });

      it('renews once a fifth of its life or less is left: a new key, kept in the folder, and leaves from before and after verify up to the same root', async () => {
        const kept = tempDir('flotilla-vault-renew-');
        const before = signRequests();
        const renewer = await VaultIntermediateRenewer.open(tokenClient(), options(kept));
        expect(signRequests()).toBe(before + 1);
        const first = renewer.material;
        const oldLeaf = await leafOf(first);

        clock = whenLeft(first.signingCertificate, 0.21);
        expect(await renewer.check()).toBe('unchanged');
        expect(signRequests()).toBe(before + 1);

        const changes: CaKeyMaterial[] = [];
        renewer.on('change', (m: CaKeyMaterial) => changes.push(m));
        clock = whenLeft(first.signingCertificate, 0.2);
        // The double's certificates run from the current whole second: a second later the new one ends later.
        await setTimeout(1000);
        expect(await renewer.check()).toBe('renewed');
        expect(signRequests()).toBe(before + 2);
        expect(changes).toEqual([renewer.material]);
        const second = renewer.material;
        expect(second.signingCertificate.equals(first.signingCertificate)).toBe(false);
        expect(spkiOf(second).equals(spkiOf(first))).toBe(false);
        expect(lifetimeOf(second.signingCertificate).to).toBeGreaterThan(
          lifetimeOf(first.signingCertificate).to,
        );
        // Kept as the start-up path keeps it: a restart reads the new one.
        expect(loadVaultIntermediate(kept)!.signingCertificate.equals(second.signingCertificate)).toBe(true);

        const newLeaf = await leafOf(second);
        expect(newLeaf.chainPem[1]).not.toBe(oldLeaf.chainPem[1]);
        for (const chain of [oldLeaf.chainPem, newLeaf.chainPem]) {
          const verified = verifyChain(dir, chain, vault.rootPem);
          expect(verified.out).toContain('OK');
          expect(verified.status).toBe(0);
        }
      });

      it('keeps the current intermediate while Vault cannot sign, reports each failed check, and renews once Vault answers', async () => {
        const kept = tempDir('flotilla-vault-renew-');
        const renewer = await VaultIntermediateRenewer.open(tokenClient(), options(kept));
        const first = renewer.material;
        const keptPem = readFileSync(join(kept, 'ca-cert.pem'), 'utf8');
        clock = whenLeft(first.signingCertificate, 0.1);
        const errors: Error[] = [];
        renewer.on('error', (err: Error) => errors.push(err));
        vault.sealed = true;
        try {
          const err = await caErrorOf(renewer.check());
          expect(err.kind).toBe('unavailable');
          expect(err.message).toContain('Vault is sealed');
          expect(renewer.material).toBe(first);
          expect(readFileSync(join(kept, 'ca-cert.pem'), 'utf8')).toBe(keptPem);
          renewer.start();
          await waitFor('two failed periodic checks', () => errors.length >= 2);
          expect(renewer.material).toBe(first);
          expect(verifyChain(dir, (await leafOf(renewer.material)).chainPem, vault.rootPem).status).toBe(0);
          // The double's certificates run from the current whole second: a second later the new one ends later.
          await setTimeout(1000);
        } finally {
          vault.sealed = false;
        }
        try {
          const renewed = await new Promise<CaKeyMaterial>((resolve) => renewer.once('change', resolve));
          expect(renewed.signingCertificate.equals(first.signingCertificate)).toBe(false);
          expect(readFileSync(join(kept, 'ca-cert.pem'), 'utf8')).not.toBe(keptPem);
        } finally {
          renewer.stop();
        }
      });

      it('starts with a kept intermediate past its threshold while Vault is down, but not with an expired one', async () => {
        const kept = tempDir('flotilla-vault-renew-');
        const first = (await VaultIntermediateRenewer.open(tokenClient(), options(kept))).material;
        const [port] = await freePorts(1);
        const down = new VaultClient({
          address: `http://127.0.0.1:${port}`,
          auth: { kind: 'token', token: 'x' },
        });
        clock = whenLeft(first.signingCertificate, 0.1);
        const renewer = await VaultIntermediateRenewer.open(down, options(kept));
        expect(renewer.material.signingCertificate.equals(first.signingCertificate)).toBe(true);
        expect((await caErrorOf(renewer.check())).kind).toBe('unavailable');
        clock = lifetimeOf(first.signingCertificate).to + 1000;
        expect((await caErrorOf(VaultIntermediateRenewer.open(down, options(kept)))).kind).toBe(
          'unavailable',
        );
      });

      it('refuses an intermediate Vault signed that ends no later than the current one', async () => {
        const kept = tempDir('flotilla-vault-renew-');
        const first = (await VaultIntermediateRenewer.open(tokenClient(), options(kept))).material;
        // The double rounds lifetimes up to whole days: a one-day intermediate ends long before a 30-day one.
        const renewer = await VaultIntermediateRenewer.open(tokenClient(), options(kept, DAY_MS));
        clock = whenLeft(first.signingCertificate, 0.1);
        const err = await caErrorOf(renewer.check());
        expect(err.message).toMatch(/no later than the current one/);
        expect(renewer.material.signingCertificate.equals(first.signingCertificate)).toBe(true);
        expect(loadVaultIntermediate(kept)!.signingCertificate.equals(first.signingCertificate)).toBe(true);
      });
    });

    it('reports a bad token and Vault down', async () => {
      const bad = new VaultClient({ address: vault.url, auth: { kind: 'token', token: 'hvs.wrong' } });
      const err = await caErrorOf(
        vaultSignedIntermediate(bad, { mount: 'pki_int', trustDomain: TRUST_DOMAIN, ttlMs: HOUR_MS }),
      );
      expect(err.message).toContain('permission denied');
      const [port] = await freePorts(1);
      const down = new VaultClient({
        address: `http://127.0.0.1:${port}`,
        auth: { kind: 'token', token: 'x' },
      });
      const downErr = await caErrorOf(
        vaultSignedIntermediate(down, { mount: 'pki_int', trustDomain: TRUST_DOMAIN, ttlMs: HOUR_MS }),
      );
      expect(downErr.kind).toBe('unavailable');
    });
  });
});
