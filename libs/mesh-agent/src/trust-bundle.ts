import { X509Certificate } from 'node:crypto';
import { readFileSync, stat, statSync } from 'node:fs';
import type { Stats } from 'node:fs';

const BEGIN = '-----BEGIN CERTIFICATE-----';
const END = '-----END CERTIFICATE-----';

/** What is wrong with a trust bundle, and where it came from (a file's path). */
export class TrustBundleError extends Error {
  constructor(
    readonly source: string,
    readonly problem: string,
  ) {
    super(`trust bundle ${source}: ${problem}`);
    this.name = 'TrustBundleError';
  }
}

/**
 * The PEM certificates of a trust bundle, in order, each one checked to parse as X.509. Throws TrustBundleError
 * naming `source` and what is wrong: empty, no PEM certificate, a certificate block without its END line, or
 * certificate #N (counted from 1) that does not parse. Text outside the blocks (comments, other PEM types) is
 * ignored, as OpenSSL ignores it.
 */
export function trustBundleCertificates(pem: string, source: string): string[] {
  if (pem.trim() === '') {
    throw new TrustBundleError(source, `empty, expected one or more PEM certificates (${BEGIN})`);
  }
  const certificates: string[] = [];
  for (let begin = pem.indexOf(BEGIN); begin !== -1; begin = pem.indexOf(BEGIN, begin + BEGIN.length)) {
    const number = certificates.length + 1;
    const end = pem.indexOf(END, begin + BEGIN.length);
    const next = pem.indexOf(BEGIN, begin + BEGIN.length);
    if (end === -1 || (next !== -1 && next < end)) {
      throw new TrustBundleError(source, `certificate #${number} has no ${END} line`);
    }
    const block = pem.slice(begin, end + END.length);
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new TrustBundleError(
        source,
        `certificate #${number} cannot be parsed: ${(err as Error).message}`,
      );
    }
    certificates.push(block);
  }
  if (certificates.length === 0) {
    throw new TrustBundleError(source, `no PEM certificate (no ${BEGIN} line)`);
  }
  return certificates;
}

/**
 * A trust bundle file (citadel's trust-bundle.pem, or a mounted istio-ca-root-cert ConfigMap): `read` returns
 * its current contents, and `watch` reports when they change. When citadel rotates its root it writes the old
 * and new roots there; an agent that re-reads it keeps trusting both, and rotates its own certificate at once.
 *
 * Every error about the bundle names the file. The constructor throws when the file cannot be read or is not a
 * bundle (TrustBundleError: empty, no PEM certificate, certificate #N unparsable). Later, contents that are not a
 * bundle are never returned: `read` keeps the last good bundle, as it does while the file is briefly absent, and
 * `watch` reports the TrustBundleError to its `onInvalid` listener.
 *
 * Watching polls the file's stat (inode, size, modification time) every `intervalMs`, against the stat taken when
 * the contents were first read, so a replacement is seen however early it happens, by rename or by a ConfigMap's
 * symlink swap alike (fs.watch would keep watching the inode that was replaced).
 */
export class TrustBundleFile {
  private last: string;
  private lastStat: Stats;

  constructor(
    readonly path: string,
    private readonly intervalMs = 2000,
  ) {
    this.lastStat = statSync(path);
    const contents = readFileSync(path, 'utf8');
    trustBundleCertificates(contents, path);
    this.last = contents;
  }

  /** The file's contents now, or the last good contents if it cannot be read or is not a bundle at the moment. */
  read = (): string => {
    this.readChecked();
    return this.last;
  };

  /**
   * Calls `listener` with the new contents whenever they differ from the last seen, and `onInvalid` when the file
   * changed to something that is not a bundle (once per such contents); returns a stop function.
   */
  watch(listener: (pem: string) => void, onInvalid?: (err: TrustBundleError) => void): () => void {
    let seen = this.last;
    let seenStat = this.lastStat;
    let rejected: string | undefined;
    let polling = false;
    const timer = setInterval(() => {
      if (polling) return;
      polling = true;
      stat(this.path, (err, now) => {
        polling = false;
        if (err || sameFile(now, seenStat)) return;
        seenStat = now;
        const problem = this.readChecked();
        if (problem) {
          if (problem.contents !== rejected) onInvalid?.(problem.error);
          rejected = problem.contents;
          return;
        }
        rejected = undefined;
        const contents = this.last;
        if (contents === seen) return;
        seen = contents;
        listener(contents);
      });
    }, this.intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Re-reads the file, keeping good contents; says what was wrong with contents that are not a bundle. */
  private readChecked(): { contents: string; error: TrustBundleError } | undefined {
    let contents: string;
    try {
      contents = readFileSync(this.path, 'utf8');
    } catch {
      // Mid-replacement or briefly absent: keep trusting what was there.
      return undefined;
    }
    try {
      trustBundleCertificates(contents, this.path);
    } catch (err) {
      if (err instanceof TrustBundleError) return { contents, error: err };
      throw err;
    }
    this.last = contents;
    return undefined;
  }
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}
