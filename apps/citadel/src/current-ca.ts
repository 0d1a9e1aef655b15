import { EventEmitter } from 'node:events';
import { CertificateAuthority } from '@flotilla/pki';
import type { AuthorityOptions, CaKeyMaterial, IssuedCertificate } from '@flotilla/pki';

const withNewline = (pem: string) => (pem.endsWith('\n') ? pem : `${pem}\n`);

/**
 * The CA citadel signs with now. A root rotation swaps in a new CertificateAuthority (`replace`), and everything
 * that signs or serves the trust bundle reads it from here, so nothing keeps using the old one. Emits `change`
 * (CertificateAuthority) after a swap.
 */
export class CurrentCa extends EventEmitter {
  private authority: CertificateAuthority;

  constructor(
    material: CaKeyMaterial,
    private readonly options: AuthorityOptions,
    /** Roots trusted besides the CA's own, first in the bundle (Vault's, when Vault signs workload certificates). */
    private readonly extraRootsPem: readonly string[] = [],
  ) {
    super();
    this.authority = new CertificateAuthority(material, options);
  }

  get ca(): CertificateAuthority {
    return this.authority;
  }

  /** Every root workloads trust, PEM, one after another: the trust bundle. */
  get trustBundlePem(): string {
    return [...this.extraRootsPem, ...this.authority.rootsPem].map(withNewline).join('');
  }

  issueWorkload(csrDer: Buffer, callerId: string, ttlSeconds: number): Promise<IssuedCertificate> {
    return this.authority.issueWorkload(csrDer, callerId, ttlSeconds);
  }

  replace(material: CaKeyMaterial): void {
    this.authority = new CertificateAuthority(material, this.options);
    this.emit('change', this.authority);
  }
}
