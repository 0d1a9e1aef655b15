import { generateKeyPairSync } from 'node:crypto';
import type { CaKeyMaterial, IssuedCertificate } from '../authority';
import { CaError } from '../ca-error';
import { certificatesFromPem, parseCertificateDer, parseSubjectAltNames } from '../certificate';
import type { ParsedCertificate } from '../certificate';
import { verifyWorkloadCsr } from '../csr';
import { Tag, bitString, derToPem, oid, seq, set, tlv, unsignedInteger } from '../der';
import { OID } from '../oids';
import { SoftwareSigner } from '../signer';
import type { VaultClient } from './client';

export interface VaultPkiOptions {
  /** Where Vault's PKI secrets engine is mounted (e.g. "pki" or "pki_int"). */
  mount: string;
}

function pemOf(der: Buffer): string {
  return derToPem(der, 'CERTIFICATE');
}

function isSelfIssued(cert: ParsedCertificate): boolean {
  return cert.subject.equals(cert.issuer);
}

/** The certificates of a Vault `data` object: `certificate`, then `ca_chain` (or `issuing_ca`), deduplicated. */
function chainOf(data: Record<string, unknown> | undefined, path: string): Buffer[] {
  const certificate = typeof data?.certificate === 'string' ? data.certificate : '';
  const ders = certificatesFromPem(certificate);
  if (ders.length === 0) throw new CaError('internal', `Vault ${path} returned no certificate`);
  const chain = Array.isArray(data?.ca_chain)
    ? data.ca_chain.filter((c): c is string => typeof c === 'string')
    : typeof data?.issuing_ca === 'string'
      ? [data.issuing_ca]
      : [];
  for (const pem of chain) {
    for (const der of certificatesFromPem(pem)) if (!ders.some((d) => d.equals(der))) ders.push(der);
  }
  return ders;
}

/** Reads the mount's CA chain (issuing CA first, root last if Vault knows it): GET /v1/<mount>/cert/ca_chain. */
export async function readVaultCaChain(client: VaultClient, mount: string): Promise<Buffer[]> {
  const path = `/v1/${mount}/cert/ca_chain`;
  const answer = await client.request('GET', path);
  const data = answer.data as Record<string, unknown> | undefined;
  const ders = [
    ...certificatesFromPem(typeof data?.certificate === 'string' ? data.certificate : ''),
    ...(Array.isArray(data?.ca_chain) ? data.ca_chain : []).flatMap((c) =>
      typeof c === 'string' ? certificatesFromPem(c) : [],
    ),
  ];
  const unique = ders.filter((d, i) => ders.findIndex((e) => e.equals(d)) === i);
  if (unique.length === 0) throw new CaError('internal', `Vault ${path} returned no CA certificates`);
  return unique;
}

/** Completes a chain so that it ends in a self-issued root, reading the mount's CA chain if Vault left it off. */
async function completeChain(client: VaultClient, mount: string, chain: Buffer[]): Promise<Buffer[]> {
  if (isSelfIssued(parseCertificateDer(chain[chain.length - 1]))) return chain;
  const caChain = await readVaultCaChain(client, mount);
  const out = [...chain];
  for (const der of caChain) if (!out.some((d) => d.equals(der))) out.push(der);
  if (!isSelfIssued(parseCertificateDer(out[out.length - 1]))) {
    throw new CaError(
      'internal',
      `Vault mount ${mount} does not know its root: the CA chain ends below a root`,
    );
  }
  return out;
}

export interface VaultLeafIssuerOptions extends VaultPkiOptions {
  /** The PKI role that signs workload certificates: POST /v1/<mount>/sign/<role>. */
  role: string;
  trustDomain: string;
  /** Lifetime when the request asks for none. */
  defaultTtlMs: number;
  /** Longest lifetime a request may ask for (Vault's role max_ttl may cut it further). */
  maxTtlMs: number;
}

/**
 * Model A, "Vault signs every leaf": the CSR is checked here as CertificateAuthority checks it (signature, one URI
 * SAN equal to the caller's proven SPIFFE ID, trust domain), then sent with uri_sans and ttl to
 * POST /v1/<mount>/sign/<role>. The answer is Vault's certificate and ca_chain, leaf first and root last. No CA key
 * is in citadel.
 */
export class VaultLeafIssuer {
  constructor(
    readonly client: VaultClient,
    readonly options: VaultLeafIssuerOptions,
  ) {}

  /** The roots (PEM) of the mount's chain, for the trust bundle. */
  async rootsPem(): Promise<string[]> {
    const chain = await completeChain(
      this.client,
      this.options.mount,
      await readVaultCaChain(this.client, this.options.mount),
    );
    return [pemOf(chain[chain.length - 1])];
  }

  async issueWorkload(csrDer: Buffer, callerId: string, ttlSeconds: number): Promise<IssuedCertificate> {
    const ttlMs = this.ttlMsFor(ttlSeconds);
    const csr = verifyWorkloadCsr(csrDer, callerId, this.options.trustDomain);
    const path = `/v1/${this.options.mount}/sign/${this.options.role}`;
    const answer = await this.client.request('POST', path, {
      csr: derToPem(csrDer, 'CERTIFICATE REQUEST'),
      uri_sans: callerId,
      ttl: `${Math.round(ttlMs / 1000)}s`,
      format: 'pem',
      exclude_cn_from_sans: true,
    });
    const chain = await completeChain(
      this.client,
      this.options.mount,
      chainOf(answer.data as Record<string, unknown>, path),
    );
    const leaf = parseCertificateDer(chain[0]);
    if (!leaf.spki.equals(csr.spki)) {
      throw new CaError('internal', `Vault ${path} returned a certificate for another key than the CSR's`);
    }
    const san = leaf.extensions.get(OID.subjectAltName);
    const leafUris = san ? parseSubjectAltNames(san.value).uris : [];
    if (leafUris.length !== 1 || leafUris[0] !== callerId) {
      throw new CaError(
        'internal',
        `Vault ${path} returned a certificate for [${leafUris.join(', ')}], not ${callerId}: check the role's allowed_uri_sans`,
      );
    }
    return {
      der: chain[0],
      serial: leaf.serial.toString('hex'),
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      chainPem: chain.map(pemOf),
    };
  }

  private ttlMsFor(requestedSeconds: number): number {
    if (!Number.isFinite(requestedSeconds) || requestedSeconds < 0) {
      throw new CaError('invalid-request', `requested TTL ${requestedSeconds}s is not a non-negative number`);
    }
    if (requestedSeconds === 0) return this.options.defaultTtlMs;
    const ms = requestedSeconds * 1000;
    if (ms > this.options.maxTtlMs) {
      throw new CaError(
        'invalid-request',
        `requested TTL ${requestedSeconds}s is greater than the maximum allowed TTL ${this.options.maxTtlMs / 1000}s`,
      );
    }
    return ms;
  }
}

export interface VaultIntermediateOptions extends VaultPkiOptions {
  trustDomain: string;
  /** Lifetime asked of Vault for citadel's intermediate (Vault may cut it to the mount's max). */
  ttlMs: number;
  /** CN of the intermediate (default "Flotilla Citadel Intermediate CA"). */
  commonName?: string;
}

export interface VaultIntermediate {
  material: CaKeyMaterial;
  /** The new intermediate's private key, PKCS #8 PEM, for citadel to keep (it never goes to Vault). */
  privateKeyPem: string;
  /** The intermediate, then Vault's chain up to the root. */
  chainPem: string[];
}

function nameOf(trustDomain: string, commonName: string): Buffer {
  const rdn = (type: string, value: string) =>
    set(seq(oid(type), tlv(Tag.UTF8_STRING, Buffer.from(value, 'utf8'))));
  return seq(rdn('2.5.4.10', trustDomain), rdn('2.5.4.3', commonName));
}

/** A PKCS #10 CSR (no attributes) for `signer`'s key, signed by it. */
function buildCsr(signer: SoftwareSigner, subject: Buffer): Buffer {
  const info = seq(
    unsignedInteger(Buffer.from([0])),
    subject,
    signer.publicKey.export({ format: 'der', type: 'spki' }),
    tlv(0xa0),
  );
  return seq(info, signer.algorithmIdentifier, bitString(signer.signSync(info)));
}

/**
 * Model B, "Vault signs citadel's intermediate": makes a P-256 key here, sends its CSR to
 * POST /v1/<mount>/root/sign-intermediate, and returns key material for the existing CertificateAuthority: the
 * intermediate as signing certificate, Vault's chain above it, and Vault's root as the trusted root.
 */
export async function vaultSignedIntermediate(
  client: VaultClient,
  options: VaultIntermediateOptions,
): Promise<VaultIntermediate> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const signer = new SoftwareSigner(privateKey);
  const commonName = options.commonName ?? 'Flotilla Citadel Intermediate CA';
  const csr = buildCsr(signer, nameOf(options.trustDomain, commonName));
  const path = `/v1/${options.mount}/root/sign-intermediate`;
  const answer = await client.request('POST', path, {
    csr: derToPem(csr, 'CERTIFICATE REQUEST'),
    common_name: commonName,
    ttl: `${Math.round(options.ttlMs / 1000)}s`,
    format: 'pem',
    use_csr_values: true,
  });
  const chain = await completeChain(
    client,
    options.mount,
    chainOf(answer.data as Record<string, unknown>, path),
  );
  const intermediate = parseCertificateDer(chain[0]);
  if (!intermediate.spki.equals(signer.publicKey.export({ format: 'der', type: 'spki' }))) {
    throw new CaError('internal', `Vault ${path} returned a certificate for another key than citadel's`);
  }
  if (!intermediate.extensions.get(OID.basicConstraints)) {
    throw new CaError('internal', `Vault ${path} returned a certificate without basicConstraints CA:TRUE`);
  }
  return {
    material: {
      signer,
      signingCertificate: chain[0],
      intermediates: chain.slice(1, -1),
      roots: [chain[chain.length - 1]],
    },
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    chainPem: chain.map(pemOf),
  };
}
