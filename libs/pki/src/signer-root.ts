import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaKeyMaterial } from './authority';
import { certificatesFromPem, parseCertificateDer } from './certificate';
import {
  TRUE,
  Tag,
  bitString,
  decodeBitStringBytes,
  decodeTlv,
  derToPem,
  sequence,
  explicit,
  octetString,
  oid,
  seq,
  set,
  time,
  tlv,
  unsignedInteger,
} from './der';
import { OID } from './oids';
import { ROOT_CERT_FILE } from './root-ca';
import type { Signer } from './signer';

const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

function name(trustDomain: string): Buffer {
  const rdn = (type: string, value: string) =>
    set(seq(oid(type), tlv(Tag.UTF8_STRING, Buffer.from(value, 'utf8'))));
  return seq(rdn('2.5.4.10', trustDomain), rdn('2.5.4.3', 'Flotilla Root CA'));
}

/**
 * A self-signed root for a key held by any Signer (an HSM key cannot go through WebCrypto): O=<trust domain>,
 * CN=Flotilla Root CA, CA:TRUE (critical), keyCertSign + cRLSign (critical), SubjectKeyIdentifier.
 */
export async function createRootWithSigner(
  signer: Signer,
  trustDomain: string,
  now = new Date(),
  lifetimeMs = TEN_YEARS_MS,
  /** DER Name to use instead of O=<trust domain>, CN=Flotilla Root CA (a rotated root keeps its predecessor's). */
  subject = name(trustDomain),
): Promise<Buffer> {
  const spki = signer.publicKey.export({ format: 'der', type: 'spki' });
  const keyBits = parseSpkiKeyBits(spki);
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x3f) | 0x40;
  const tbs = seq(
    explicit(0, unsignedInteger(Buffer.from([2]))),
    unsignedInteger(serial),
    signer.algorithmIdentifier,
    subject,
    seq(time(new Date(now.getTime() - 60_000)), time(new Date(now.getTime() + lifetimeMs))),
    subject,
    spki,
    explicit(
      3,
      seq(
        seq(oid(OID.basicConstraints), TRUE, octetString(seq(TRUE))),
        // keyCertSign (bit 5) + cRLSign (bit 6): 0b00000110, one unused bit.
        seq(oid(OID.keyUsage), TRUE, octetString(bitString(Buffer.from([0x06]), 1))),
        seq(
          oid(OID.subjectKeyIdentifier),
          octetString(octetString(createHash('sha1').update(keyBits).digest())),
        ),
      ),
    ),
  );
  return seq(tbs, signer.algorithmIdentifier, bitString(await signer.sign(tbs)));
}

function parseSpkiKeyBits(spki: Buffer): Buffer {
  const [, bits] = sequence(decodeTlv(spki), 'subjectPublicKeyInfo', 2, 2);
  return decodeBitStringBytes(bits, 'subjectPublicKey');
}

/**
 * CA material for a signer whose root lives in `dir` (root-cert.pem): the root is created with the signer the
 * first time, and must carry the signer's public key afterwards.
 */
export async function loadOrCreateSignerRoot(
  dir: string,
  trustDomain: string,
  signer: Signer,
): Promise<CaKeyMaterial> {
  const path = join(dir, ROOT_CERT_FILE);
  let der: Buffer | undefined;
  try {
    der = certificatesFromPem(readFileSync(path, 'utf8'))[0];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (der) {
    const spki = signer.publicKey.export({ format: 'der', type: 'spki' });
    if (!parseCertificateDer(der).spki.equals(spki)) {
      throw new Error(`${path} does not carry the public key of ${signer.description}`);
    }
  } else {
    der = await createRootWithSigner(signer, trustDomain);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path, derToPem(der, 'CERTIFICATE'));
  }
  return { signer, signingCertificate: der, intermediates: [], roots: [der] };
}
