// Model B keeps its intermediate: the certificate Vault signed and the key made here are written to citadel's
// state folder in Istio's cacerts layout, and a restart reuses them while enough of their life is left. Without
// this, every start asked Vault for a new intermediate, and leaves issued before a restart chained to one the
// running citadel no longer knew.
import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaKeyMaterial } from '../authority';
import { CACERTS_FILES, loadCacerts } from '../ca-material';
import { remainingLifetimeFraction } from '../root-rotation';
import type { VaultIntermediate } from './vault-pki';

/**
 * At or below this share of its lifetime left, the intermediate is replaced, at start or by the running citadel's
 * periodic check (Istio's root rotator uses 20%).
 */
export const INTERMEDIATE_RENEW_FRACTION = 0.2;

/** Writes the intermediate, its key (mode 0600), Vault's chain and root, each file replaced atomically. */
export function saveVaultIntermediate(dir: string, intermediate: VaultIntermediate): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const write = (file: string, content: string, mode = 0o644) => {
    const tmp = join(dir, `.${file}.tmp`);
    writeFileSync(tmp, content, { mode });
    chmodSync(tmp, mode);
    renameSync(tmp, join(dir, file));
  };
  const chain = intermediate.chainPem.map((p) => (p.endsWith('\n') ? p : `${p}\n`));
  write(CACERTS_FILES.key, intermediate.privateKeyPem, 0o600);
  write(CACERTS_FILES.chain, chain.join(''));
  write(CACERTS_FILES.root, chain[chain.length - 1]);
  // Last: a folder with ca-cert.pem is complete.
  write(CACERTS_FILES.cert, chain[0]);
}

/**
 * The kept intermediate, checked as any cacerts folder is (key matches, chain verifies to the root), or undefined
 * when there is none or `threshold` of its lifetime or less is left.
 */
export function loadVaultIntermediate(
  dir: string,
  now: number = Date.now(),
  threshold: number = INTERMEDIATE_RENEW_FRACTION,
): CaKeyMaterial | undefined {
  if (!existsSync(join(dir, CACERTS_FILES.cert))) return undefined;
  const material = loadCacerts(dir);
  if (remainingLifetimeFraction(material.signingCertificate, now) <= threshold) return undefined;
  return material;
}
