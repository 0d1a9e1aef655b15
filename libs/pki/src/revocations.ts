import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** RFC 5280 §5.3.1 CRLReason codes (7 is unused). */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

export interface Revocation {
  /** Lowercase hex serial without leading zeros. */
  serial: string;
  /** ISO 8601. */
  revokedAt: string;
  reason: RevocationReason;
}

/** Where citadel keeps revoked serials: a JSON array in its state folder, written by `flotilla ca revoke`. */
export const REVOCATIONS_FILE = 'revocations.json';

export class RevocationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RevocationError';
  }
}

/** "40:AB:0c…", "0x40ab…", "0040AB" → "40ab…"; anything but hex digits is refused. */
export function normalizeSerial(serial: string): string {
  const hex = serial.trim().replace(/^0x/i, '').replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]+$/.test(hex) || hex.length > 40) {
    throw new RevocationError(`${JSON.stringify(serial)} is not a hex serial number (up to 20 bytes)`);
  }
  return hex.replace(/^0+(?=.)/, '');
}

export function parseReason(reason: string): RevocationReason {
  if (!Object.hasOwn(REVOCATION_REASONS, reason)) {
    throw new RevocationError(
      `${JSON.stringify(reason)} is not a revocation reason (${Object.keys(REVOCATION_REASONS).join(', ')})`,
    );
  }
  return reason as RevocationReason;
}

export function readRevocations(dir: string): Revocation[] {
  let text: string;
  try {
    text = readFileSync(join(dir, REVOCATIONS_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const list = JSON.parse(text) as Revocation[];
  if (!Array.isArray(list)) throw new RevocationError(`${join(dir, REVOCATIONS_FILE)} is not a JSON array`);
  return list.map((r) => ({
    serial: normalizeSerial(r.serial),
    revokedAt: r.revokedAt,
    reason: parseReason(r.reason),
  }));
}

/**
 * Records a revocation (replacing the file atomically, so a reader never sees half of it). Revoking a serial
 * again keeps the first record and returns false.
 */
export function addRevocation(
  dir: string,
  serial: string,
  reason: RevocationReason = 'unspecified',
  now = new Date(),
): { added: boolean; revocation: Revocation } {
  const normalized = normalizeSerial(serial);
  const list = readRevocations(dir);
  const existing = list.find((r) => r.serial === normalized);
  if (existing) return { added: false, revocation: existing };
  const revocation: Revocation = { serial: normalized, revokedAt: now.toISOString(), reason };
  mkdirSync(dir, { recursive: true });
  const path = join(dir, REVOCATIONS_FILE);
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify([...list, revocation], null, 2) + '\n');
  renameSync(temp, path);
  return { added: true, revocation };
}

/** The revocations file, re-read whenever it changes on disk (checked at most once per `checkEveryMs`). */
export class RevocationStore {
  private revocations = new Map<string, Revocation>();
  private stamp = '';
  private checkedAt = -Infinity;
  /** Bumped on every change: lets callers cache what they build from the list. */
  version = 0;

  constructor(
    readonly dir: string,
    private readonly checkEveryMs = 1000,
  ) {
    this.refresh(true);
  }

  private refresh(force = false): void {
    const now = Date.now();
    if (!force && now - this.checkedAt < this.checkEveryMs) return;
    this.checkedAt = now;
    let stamp = 'absent';
    try {
      const s = statSync(join(this.dir, REVOCATIONS_FILE));
      stamp = `${s.mtimeMs}:${s.size}:${s.ino}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (stamp === this.stamp) return;
    this.revocations = new Map(readRevocations(this.dir).map((r) => [r.serial, r]));
    this.stamp = stamp;
    this.version++;
  }

  list(): Revocation[] {
    this.refresh();
    return [...this.revocations.values()];
  }

  get(serial: string): Revocation | undefined {
    this.refresh();
    return this.revocations.get(normalizeSerial(serial));
  }
}
