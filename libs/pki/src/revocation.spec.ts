import fc from 'fast-check';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openssl, opensslCsr, opensslResult, tempDir, writeTemp } from '@flotilla/testing';
import { CertificateAuthority } from './authority';
import { selfSignedMaterial } from './ca-material';
import { buildCrl } from './crl';
import { x509 } from './crypto';
import { csrPemToDer } from './csr';
import { DerError, derToPem } from './der';
import { buildOcspResponse, ocspErrorResponse, parseOcspRequest } from './ocsp';
import { RevocationStore, addRevocation, normalizeSerial, readRevocations } from './revocations';

const TD = 'cluster.local';
const ALICE = `spiffe://${TD}/ns/default/sa/alice`;
const HOUR = 3600 * 1000;

async function setUp() {
  const dir = tempDir('flotilla-revoke-');
  const ca = new CertificateAuthority(await selfSignedMaterial(dir, TD), {
    trustDomain: TD,
    defaultTtlMs: 24 * HOUR,
    maxTtlMs: 24 * HOUR,
  });
  const issue = async (name: string) => {
    const issued = await ca.issueWorkload(csrPemToDer(opensslCsr(dir, name, { uris: [ALICE] })), ALICE, 0);
    return { ...issued, path: writeTemp(dir, `${name}.pem`, issued.chainPem[0]) };
  };
  return { dir, ca, issue, rootPath: join(dir, 'root-cert.pem') };
}

describe('revocations file', () => {
  it('normalises serials as openssl and x509 tools print them', () => {
    expect(normalizeSerial('40:AB:0C')).toBe('40ab0c');
    expect(normalizeSerial('0x0040ab')).toBe('40ab');
    expect(() => normalizeSerial('xyz')).toThrow(/not a hex serial/);
  });

  it('records a serial once, and the store sees changes made by another writer', () => {
    const dir = tempDir();
    const store = new RevocationStore(dir, 0);
    expect(store.list()).toEqual([]);
    expect(addRevocation(dir, 'AB:01', 'keyCompromise').added).toBe(true);
    expect(addRevocation(dir, 'ab01').added).toBe(false);
    expect(readRevocations(dir)).toHaveLength(1);
    expect(store.get('AB01')).toMatchObject({ serial: 'ab01', reason: 'keyCompromise' });
  });
});

describe('CRL', () => {
  it('is signed by the CA, lists serials with reasons, and makes `openssl verify -crl_check` refuse revoked leaves only', async () => {
    const { dir, ca, issue, rootPath } = await setUp();
    const revoked = await issue('revoked');
    const kept = await issue('kept');
    addRevocation(dir, revoked.serial, 'keyCompromise');
    addRevocation(dir, 'abcdef', 'unspecified');
    const now = new Date();
    const der = await buildCrl(ca.material.signer, ca.signingCertificate, readRevocations(dir), {
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + HOUR),
      crlNumber: 7,
    });
    const crlPath = writeTemp(dir, 'crl.pem', derToPem(der, 'X509 CRL'));
    const text = openssl(['crl', '-in', crlPath, '-CAfile', rootPath, '-noout', '-text']);
    expect(openssl(['crl', '-in', crlPath, '-CAfile', rootPath, '-noout'])).toBe('');
    expect(opensslResult(['crl', '-in', crlPath, '-CAfile', rootPath, '-noout']).stderr).toMatch(/verify OK/);
    expect(text).toContain(`Serial Number: ${revoked.serial.toUpperCase()}`);
    expect(text).toMatch(/Key Compromise/);
    expect(text).toContain('Serial Number: ABCDEF');
    expect(text).toMatch(/X509v3 CRL Number:\s+7/);
    expect(text).toMatch(/X509v3 Authority Key Identifier/);

    const verify = (leaf: string) =>
      opensslResult(['verify', '-x509_strict', '-crl_check', '-CAfile', rootPath, '-CRLfile', crlPath, leaf]);
    const refused = verify(revoked.path);
    expect(refused.status).not.toBe(0);
    expect(refused.stdout + refused.stderr).toMatch(/certificate revoked/);
    expect(verify(kept.path).status).toBe(0);

    // A second parser reads the same entries.
    const crl = new x509.X509Crl(new Uint8Array(der));
    expect(crl.entries.map((e) => e.serialNumber.toLowerCase()).sort()).toEqual(
      [revoked.serial, 'abcdef'].sort(),
    );
  });

  it('does not verify against another CA', async () => {
    const { ca } = await setUp();
    const other = await setUp();
    const now = new Date();
    const der = await buildCrl(ca.material.signer, ca.signingCertificate, [], {
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + HOUR),
      crlNumber: 1,
    });
    const path = writeTemp(other.dir, 'crl.pem', derToPem(der, 'X509 CRL'));
    expect(opensslResult(['crl', '-in', path, '-CAfile', other.rootPath, '-noout']).stderr).toMatch(
      /verify failure/,
    );
  });
});

describe('OCSP responses', () => {
  /** openssl makes the request; our responder answers; openssl checks the answer (signature, CertID, nonce). */
  async function ask(name: 'revoked' | 'kept', revoke: boolean) {
    const { dir, ca, issue, rootPath } = await setUp();
    const leaf = await issue(name);
    if (revoke) addRevocation(dir, leaf.serial, 'superseded');
    const reqPath = join(dir, 'req.der');
    openssl(['ocsp', '-issuer', rootPath, '-cert', leaf.path, '-reqout', reqPath]);
    const request = parseOcspRequest(readFileSync(reqPath));
    expect(request.certIds[0].serial).toBe(leaf.serial);
    expect(request.nonce).toBeDefined();
    const store = new RevocationStore(dir, 0);
    const response = await buildOcspResponse(
      ca.material.signer,
      ca.signingCertificate,
      request,
      (s) => store.get(s),
      {
        now: new Date(),
        validityMs: HOUR,
      },
    );
    const respPath = writeTemp(dir, 'resp.der', response);
    // With -reqin (and no -cert, which would make a new request), openssl checks our nonce echo as well as
    // the signature chain to the root.
    const result = opensslResult([
      'ocsp',
      '-reqin',
      reqPath,
      '-respin',
      respPath,
      '-CAfile',
      rootPath,
      '-resp_text',
    ]);
    expect(result.stderr).toMatch(/Response verify OK/);
    expect(result.status).toBe(0);
    return result.stdout;
  }

  it('says good for a certificate that is not revoked, in a response openssl verifies', async () => {
    const out = await ask('kept', false);
    expect(out).toMatch(/Cert Status: good/);
  });

  it('says revoked, with the reason, for a revoked serial', async () => {
    const out = await ask('revoked', true);
    expect(out).toMatch(/Cert Status: revoked/);
    expect(out).toMatch(/Revocation Reason: superseded/);
  });

  it('says unknown for a certificate of another issuer, and answers garbage with malformedRequest', async () => {
    const { ca } = await setUp();
    const other = await setUp();
    const leaf = await other.issue('stranger');
    const reqPath = join(other.dir, 'req.der');
    openssl(['ocsp', '-issuer', other.rootPath, '-cert', leaf.path, '-reqout', reqPath, '-no_nonce']);
    const response = await buildOcspResponse(
      ca.material.signer,
      ca.signingCertificate,
      parseOcspRequest(readFileSync(reqPath)),
      () => undefined,
      { now: new Date(), validityMs: HOUR },
    );
    const respPath = writeTemp(other.dir, 'resp.der', response);
    const text = openssl(['ocsp', '-respin', respPath, '-resp_text', '-noverify']);
    expect(text).toMatch(/Cert Status: unknown/);
    expect(() => parseOcspRequest(Buffer.from('not der'))).toThrow();
    writeFileSync(join(other.dir, 'bad.der'), ocspErrorResponse('malformedRequest'));
    const bad = opensslResult(['ocsp', '-respin', join(other.dir, 'bad.der'), '-resp_text', '-noverify']);
    expect(bad.stdout + bad.stderr).toMatch(/malformedrequest \(0?x?1\)/i);
  });
});

describe('OCSP request parser', () => {
  it('refuses random bytes and corrupted real requests with a DerError only (fuzzed)', async () => {
    const { dir, issue, rootPath } = await setUp();
    const leaf = await issue('fuzz');
    const reqPath = join(dir, 'req.der');
    openssl(['ocsp', '-issuer', rootPath, '-cert', leaf.path, '-reqout', reqPath]);
    const good = readFileSync(reqPath);
    const parsesOrDerError = (der: Buffer) => {
      try {
        parseOcspRequest(der);
      } catch (err) {
        if (!(err instanceof DerError)) throw err;
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => parsesOrDerError(Buffer.from(b))),
      {
        numRuns: 2000,
      },
    );
    fc.assert(
      fc.property(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, mask) => {
        const der = Buffer.from(good);
        der[at] ^= mask;
        parsesOrDerError(der);
      }),
      { numRuns: 2000 },
    );
  });
});
