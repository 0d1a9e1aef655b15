import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Stats } from 'node:fs';

/**
 * A trust bundle file (citadel's trust-bundle.pem, or a mounted istio-ca-root-cert ConfigMap): `read` returns
 * its current contents, and `onChange` fires when they change. When citadel rotates its root it writes the old
 * and new roots there; an agent that re-reads it keeps trusting both, and rotates its own certificate at once.
 *
 * Polls the file's stat (fs.watchFile), which sees atomic renames and ConfigMap symlink swaps alike, where
 * fs.watch would lose the inode it watched.
 */
export class TrustBundleFile {
  private last: string;

  constructor(
    readonly path: string,
    private readonly intervalMs = 2000,
  ) {
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
    const onStat = (current: Stats, previous: Stats) => {
      if (current.mtimeMs === previous.mtimeMs && current.ino === previous.ino) return;
      const now = this.read();
      if (now === seen) return;
      seen = now;
      listener(now);
    };
    watchFile(this.path, { interval: this.intervalMs, persistent: false }, onStat);
    return () => unwatchFile(this.path, onStat);
  }
}
