import { readFileSync, stat, statSync } from 'node:fs';
import type { Stats } from 'node:fs';

/**
 * A trust bundle file (citadel's trust-bundle.pem, or a mounted istio-ca-root-cert ConfigMap): `read` returns
 * its current contents, and `watch` reports when they change. When citadel rotates its root it writes the old
 * and new roots there; an agent that re-reads it keeps trusting both, and rotates its own certificate at once.
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
    this.last = readFileSync(path, 'utf8');
  }

  /** The file's contents now (the last good contents if it cannot be read at the moment). */
  read = (): string => {
    try {
      this.last = readFileSync(this.path, 'utf8');
    } catch {
      // Mid-replacement or briefly absent: keep trusting what was there.
    }
    return this.last;
  };

  /** Calls `listener` with the new contents whenever they differ from the last seen; returns a stop function. */
  watch(listener: (pem: string) => void): () => void {
    let seen = this.last;
    let seenStat = this.lastStat;
    let polling = false;
    const timer = setInterval(() => {
      if (polling) return;
      polling = true;
      stat(this.path, (err, now) => {
        polling = false;
        if (err || sameFile(now, seenStat)) return;
        seenStat = now;
        const contents = this.read();
        if (contents === seen) return;
        seen = contents;
        listener(contents);
      });
    }, this.intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}
