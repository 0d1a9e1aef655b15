import { EventEmitter } from 'node:events';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorkloadSecret } from './certificate-fetcher';

/** The files grpc's file_watcher certificate provider reads (and Istio's agent writes with OUTPUT_CERTS). */
export const CERT_CHAIN_FILE = 'cert-chain.pem';
export const KEY_FILE = 'key.pem';
export const ROOT_CERT_FILE = 'root-cert.pem';

/** Anything that turns a CSR into a workload certificate; CertificateFetcher in production. */
export interface SecretSource {
  fetch(): Promise<WorkloadSecret>;
}

export interface SecretManagerOptions {
  source: SecretSource;
  /** Where to write cert-chain.pem, key.pem and root-cert.pem; none: no files. */
  outputDir?: string;
  /** Fraction of the lifetime after which to rotate (default 0.5). */
  rotationRatio?: number;
  /** ± fraction of that delay added at random (default 0.1), so that a fleet does not rotate in step. */
  jitter?: number;
  /** First retry delay after a failed fetch, ms (default 1 s); doubles up to maxBackoffMs (default 60 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** [0, 1); Math.random by default. */
  random?: () => number;
}

export interface SecretManagerEvents {
  /** A new certificate is in place (files written first, when there is an output folder). */
  secret: [WorkloadSecret];
  /** A fetch failed; the next try is in `retryInMs`. */
  fetchError: [Error, number];
}

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Keeps the workload's current certificate and root bundle: fetches one, rotates it at `rotationRatio` of its
 * lifetime (± jitter), retries failures with exponential backoff, writes the file_watcher files atomically
 * (write a temporary file, then rename over the old one) and emits 'secret' on every change.
 */
export class SecretManager extends EventEmitter<SecretManagerEvents> {
  private current: WorkloadSecret | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;
  private fetching = false;
  private firstSecret: Promise<WorkloadSecret>;
  private resolveFirst!: (secret: WorkloadSecret) => void;

  constructor(private readonly options: SecretManagerOptions) {
    super();
    this.firstSecret = new Promise((resolve) => (this.resolveFirst = resolve));
  }

  /** The current certificate, if one has been fetched. */
  get secret(): WorkloadSecret | undefined {
    return this.current;
  }

  /** Starts fetching; resolves with the first certificate (failures are retried, not thrown). */
  start(): Promise<WorkloadSecret> {
    this.stopped = false;
    this.schedule(0);
    return this.firstSecret;
  }

  /**
   * Fetches a new certificate now instead of at its rotation time (the trust bundle changed, say); a fetch
   * already under way is not doubled.
   */
  rotateNow(): void {
    if (this.stopped || this.fetching) return;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The delay before rotating `secret`: rotationRatio of its lifetime, ± jitter. */
  rotationDelayMs(secret: WorkloadSecret): number {
    const ratio = this.options.rotationRatio ?? 0.5;
    const jitter = this.options.jitter ?? 0.1;
    const random = this.options.random ?? Math.random;
    const lifetime = Math.max(0, secret.notAfter - secret.fetchedAt);
    return Math.max(0, lifetime * ratio * (1 + jitter * (2 * random() - 1)));
  }

  /** The delay before retry number `failures` (1-based). */
  backoffMs(failures: number): number {
    const initial = this.options.initialBackoffMs ?? 1000;
    const max = this.options.maxBackoffMs ?? 60_000;
    return Math.min(max, initial * 2 ** Math.max(0, failures - 1));
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), Math.min(delayMs, MAX_TIMER_MS));
  }

  private async refresh(): Promise<void> {
    this.timer = undefined;
    let secret: WorkloadSecret;
    this.fetching = true;
    try {
      secret = await this.options.source.fetch();
      if (this.options.outputDir) await writeFiles(this.options.outputDir, secret);
    } catch (err) {
      if (this.stopped) return;
      this.failures += 1;
      const retryInMs = this.backoffMs(this.failures);
      this.schedule(retryInMs);
      this.emit('fetchError', err as Error, retryInMs);
      return;
    } finally {
      this.fetching = false;
    }
    if (this.stopped) return;
    this.failures = 0;
    this.current = secret;
    this.schedule(this.rotationDelayMs(secret));
    this.resolveFirst(secret);
    this.emit('secret', secret);
  }
}

/** Writes the three file_watcher files; each is replaced by rename, so a reader never sees half a file. */
export async function writeFiles(dir: string, secret: WorkloadSecret): Promise<void> {
  await mkdir(dir, { recursive: true });
  // The key first: a watcher that sees the new chain must find its key already there.
  await writeAtomically(join(dir, KEY_FILE), secret.keyPem, 0o600);
  await writeAtomically(join(dir, CERT_CHAIN_FILE), secret.chainPem.join(''), 0o644);
  await writeAtomically(join(dir, ROOT_CERT_FILE), secret.rootPem, 0o644);
}

async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temporary, content, { mode });
  await rename(temporary, path);
}
