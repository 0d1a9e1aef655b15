// Model B's intermediate while citadel runs. Leaves are capped at the intermediate's notAfter, so a citadel that
// only renewed it at start would, once past that date, hand out certificates nobody accepts.
import { EventEmitter } from 'node:events';
import type { CaKeyMaterial } from '../authority';
import { CaError } from '../ca-error';
import { parseCertificateDer } from '../certificate';
import { remainingLifetimeFraction } from '../root-rotation';
import type { VaultClient } from './client';
import {
  INTERMEDIATE_RENEW_FRACTION,
  loadVaultIntermediate,
  saveVaultIntermediate,
} from './intermediate-store';
import { vaultSignedIntermediate } from './vault-pki';
import type { VaultIntermediateOptions } from './vault-pki';
import { PeriodicCheck } from '../periodic-check';

export interface VaultIntermediateRenewerOptions extends VaultIntermediateOptions {
  /** Where the intermediate is kept (Istio's cacerts layout, see saveVaultIntermediate). */
  dir: string;
  /** Renew once at most this fraction of the intermediate's lifetime is left (default 0.2). */
  threshold?: number;
  /** How often `start()` checks the intermediate. */
  checkIntervalMs: number;
  now?: () => number;
}

/** What a check did: nothing, or put a new intermediate in place. */
export type IntermediateRenewalOutcome = 'unchanged' | 'renewed';

/**
 * Keeps citadel's Vault-signed intermediate fresh. `open` takes the kept one, or asks Vault for one when there is
 * none or it is due; each check then asks Vault again once `threshold` of the intermediate's life or less is left,
 * keeps the answer in `dir` and emits `change` (material: CaKeyMaterial, outcome). A check that fails (Vault
 * unreachable, sealed, refusing) changes nothing: the current intermediate keeps signing, `start()`'s timer emits
 * `error` (Error) and the next check tries again.
 *
 * Every renewal is for a new key, made here like the first one: the CSR is what Vault signs, and a key that lived
 * on disk for one intermediate's lifetime is not carried into the next. Leaves issued before keep verifying: they
 * carry the old intermediate in their chain, and it chains to the same Vault root until it expires.
 */
export class VaultIntermediateRenewer extends EventEmitter {
  private currentMaterial: CaKeyMaterial;
  private readonly periodic = new PeriodicCheck<IntermediateRenewalOutcome>(
    () => this.checkOnce(),
    (err) => this.emit('error', err),
  );
  private readonly now: () => number;
  private readonly threshold: number;

  private constructor(
    readonly client: VaultClient,
    readonly options: VaultIntermediateRenewerOptions,
    material: CaKeyMaterial,
  ) {
    super();
    this.now = options.now ?? Date.now;
    this.threshold = options.threshold ?? INTERMEDIATE_RENEW_FRACTION;
    this.currentMaterial = material;
  }

  /**
   * The kept intermediate while more than `threshold` of its life is left, else a new one from Vault, kept. When
   * Vault cannot sign and the kept one has not expired, it is used (the first check tries Vault again).
   */
  static async open(
    client: VaultClient,
    options: VaultIntermediateRenewerOptions,
  ): Promise<VaultIntermediateRenewer> {
    const threshold = options.threshold ?? INTERMEDIATE_RENEW_FRACTION;
    if (!(threshold > 0 && threshold < 1)) {
      throw new Error(`the intermediate renewal threshold must be between 0 and 1, not ${threshold}`);
    }
    const now = (options.now ?? Date.now)();
    // The kept intermediate unless it has expired (a threshold of 0): the fallback while Vault cannot sign.
    const kept = loadVaultIntermediate(options.dir, now, 0);
    if (kept && remainingLifetimeFraction(kept.signingCertificate, now) > threshold) {
      return new VaultIntermediateRenewer(client, options, kept);
    }
    try {
      const fresh = await vaultSignedIntermediate(client, options);
      saveVaultIntermediate(options.dir, fresh);
      return new VaultIntermediateRenewer(client, options, fresh.material);
    } catch (err) {
      if (kept) return new VaultIntermediateRenewer(client, options, kept);
      throw err;
    }
  }

  /** Signing key, intermediate, Vault's chain and root, for a CertificateAuthority. */
  get material(): CaKeyMaterial {
    return this.currentMaterial;
  }

  /** Checks the intermediate once (concurrent calls share one check); rejects when Vault cannot renew it. */
  check(): Promise<IntermediateRenewalOutcome> {
    return this.periodic.run();
  }

  start(): void {
    this.periodic.start(this.options.checkIntervalMs);
  }

  stop(): void {
    this.periodic.stop();
  }

  private async checkOnce(): Promise<IntermediateRenewalOutcome> {
    const current = this.currentMaterial.signingCertificate;
    if (remainingLifetimeFraction(current, this.now()) > this.threshold) return 'unchanged';
    const fresh = await vaultSignedIntermediate(this.client, this.options);
    const oldEnd = parseCertificateDer(current).notAfter;
    const newEnd = parseCertificateDer(fresh.material.signingCertificate).notAfter;
    if (newEnd.getTime() <= oldEnd.getTime()) {
      // Vault cut the lifetime (its root or the mount's max_ttl ends first): switching would only make it worse.
      throw new CaError(
        'internal',
        `Vault signed an intermediate ending ${newEnd.toISOString()}, no later than the current one (${oldEnd.toISOString()}); check the lifetime of mount ${this.options.mount}'s root and its max_ttl`,
      );
    }
    saveVaultIntermediate(this.options.dir, fresh);
    this.currentMaterial = fresh.material;
    this.emit('change', this.currentMaterial, 'renewed');
    return 'renewed';
  }
}
