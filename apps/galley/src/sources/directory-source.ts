import { EventEmitter } from 'node:events';
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { advanceSnapshot, versionOf } from './snapshot';
import type { Rejection, ServedResource, Snapshot, SourceResource } from './snapshot';

/** What a parser makes of one file: its resources, or why the whole file cannot be read. */
export interface ParsedFile<T> {
  resources: SourceResource<T>[];
  /** The file as a whole is unreadable (broken YAML, not UTF-8, too large…): nothing in it is taken. */
  fileError?: string;
}

export type FileParser<T> = (file: string, text: string) => ParsedFile<T>;

export interface DirectorySourceOptions<T> {
  dir: string;
  parse: FileParser<T>;
  /** Quiet time after the last file event before the folder is re-read (ms). */
  debounceMs?: number;
  /** Files larger than this are refused whole (bytes). */
  maxFileBytes?: number;
  onError?: (err: Error) => void;
}

const CONFIG_FILE = /\.(ya?ml|json)$/i;
const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;
/** Files read ahead of the parser during a load. */
const READ_AHEAD = 8;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Mesh configuration from a folder, watched recursively. Each change is read after a quiet period and turned into
 * one atomic snapshot. A file that cannot be read keeps its previous resources serving; an invalid resource keeps
 * its last good version serving (or stays absent if it never had one); a deleted file's resources go. Every
 * refusal is kept in `snapshot.rejections` with the file, resource and reason.
 *
 * Emits `snapshot` (Snapshot, changedCollections: Set<string>) after every load that changed something.
 */
export class DirectorySource<T> extends EventEmitter {
  private readonly debounceMs: number;
  private readonly maxFileBytes: number;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private loading: Promise<void> = Promise.resolve();
  private reloadQueued = false;
  /**
   * What each file gave the last time it was read, with the stat it was read at: a file whose stat is unchanged
   * is not read again, so a change costs the changed files, not the whole folder.
   */
  private readonly readCache = new Map<
    string,
    { stamp: string; good: ServedResource<T>[]; rejections: Rejection[] }
  >();
  private current: Snapshot<T> = { generation: 0, collections: new Map(), rejections: [] };

  constructor(private readonly options: DirectorySourceOptions<T>) {
    super();
    this.debounceMs = options.debounceMs ?? 100;
    this.maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  }

  get snapshot(): Snapshot<T> {
    return this.current;
  }

  /** Reads the folder once, then watches it. */
  async start(): Promise<Snapshot<T>> {
    await this.reload();
    this.watcher = watch(this.options.dir, { recursive: true }, (_event, file) => {
      if (file === null || CONFIG_FILE.test(file) || !file.includes('.')) this.schedule();
    });
    this.watcher.on('error', (err) => this.options.onError?.(err));
    return this.current;
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer) clearTimeout(this.timer);
    await this.loading;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reload();
    }, this.debounceMs);
  }

  /** Re-reads the folder; loads never overlap, and a change during a load triggers one more. */
  reload(): Promise<void> {
    if (this.reloadQueued) return this.loading;
    this.reloadQueued = true;
    this.loading = this.loading.then(async () => {
      this.reloadQueued = false;
      try {
        await this.load();
      } catch (err) {
        this.options.onError?.(err as Error);
      }
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    const files = (await listConfigFiles(this.options.dir)).sort();
    const rejections: Rejection[] = [];
    const previous = this.current.collections;
    const next = new Map<string, Map<string, ServedResource<T>>>();
    const seen = new Set(files);

    for (const file of [...this.readCache.keys()]) if (!seen.has(file)) this.readCache.delete(file);

    // Stat every file at once, then read the changed ones a few ahead of the parser: parsing is the only work on
    // this thread, and waiting for one file's stat and read at a time left it idle for much of an initial load.
    const stats = await Promise.all(files.map(statFile));
    const toRead = files.filter((file, i) => {
      const cached = this.readCache.get(file);
      return !cached || stats[i] === undefined || cached.stamp !== stats[i].stamp;
    });
    const sizeOf = new Map(files.map((file, i) => [file, stats[i]?.size]));
    const reader = new ReadAhead(toRead, READ_AHEAD, (file) => this.readText(file, sizeOf.get(file)));

    for (let i = 0; i < files.length; i++) {
      const file = files[i];
      const shown = relative(this.options.dir, file) || file;
      const cached = this.readCache.get(file);
      const stat = stats[i];
      if (cached && stat !== undefined && cached.stamp === stat.stamp) {
        rejections.push(...cached.rejections);
        for (const r of cached.good) add(next, r, rejections, shown, this.options.dir);
        continue;
      }
      const fileRejections: Rejection[] = [];
      const good = this.readFile(
        file,
        shown,
        this.parse(file, await reader.next()),
        previous,
        fileRejections,
      );
      // A file that vanished mid-read gets an empty stamp, which no later stat matches: it is read again.
      this.readCache.set(file, { stamp: stat?.stamp ?? '', good, rejections: fileRejections });
      rejections.push(...fileRejections);
      for (const r of good) add(next, r, rejections, shown, this.options.dir);
    }

    const advanced = advanceSnapshot(this.current, next, rejections);
    if (!advanced) return;
    this.current = advanced.snapshot;
    this.emit('snapshot', this.current, advanced.changed);
  }

  /** The resources of one freshly read file that serve, recording what it refuses in `rejections`. */
  private readFile(
    file: string,
    shown: string,
    parsed: ParsedFile<T>,
    previous: Snapshot<T>['collections'],
    rejections: Rejection[],
  ): ServedResource<T>[] {
    if (parsed.fileError !== undefined) {
      // What the file gave when it was last readable keeps serving.
      const kept = this.readCache.get(file)?.good ?? [];
      rejections.push({ origin: shown, message: parsed.fileError, keptLastGood: kept.length > 0 });
      return kept;
    }
    const good: ServedResource<T>[] = [];
    for (const r of parsed.resources) {
      if (r.errors.length === 0) {
        good.push({
          collection: r.collection,
          name: r.name,
          value: r.value,
          origin: file,
          version: versionOf(r.value),
        });
        continue;
      }
      const last = previous.get(r.collection)?.get(r.name);
      const keptLastGood = last !== undefined && last.origin === file;
      for (const message of r.errors) {
        rejections.push({ origin: shown, collection: r.collection, name: r.name, message, keptLastGood });
      }
      if (keptLastGood) good.push(last);
    }
    return good;
  }

  /** A file's text, or why it cannot be had (too large, gone, not UTF-8). */
  private async readText(
    file: string,
    statSize: number | undefined,
  ): Promise<{ text: string } | { fileError: string }> {
    const tooLarge = (size: number) => ({
      fileError: `file is ${size} bytes; the limit is ${this.maxFileBytes}`,
    });
    // The size from the load's stat refuses an oversized file unread; one that grew since is refused once read.
    if (statSize !== undefined && statSize > this.maxFileBytes) return tooLarge(statSize);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
      if (bytes.length > this.maxFileBytes) return tooLarge(bytes.length);
    } catch (err) {
      // Deleted or renamed between listing and reading: the next event brings the folder's new state.
      return { fileError: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    }
    try {
      return { text: utf8.decode(bytes) };
    } catch {
      return { fileError: 'not valid UTF-8' };
    }
  }

  private parse(file: string, read: { text: string } | { fileError: string }): ParsedFile<T> {
    if ('fileError' in read) return { resources: [], fileError: read.fileError };
    try {
      return this.options.parse(file, read.text);
    } catch (err) {
      return { resources: [], fileError: (err as Error).message };
    }
  }
}

/**
 * Reads files in the given order, keeping up to `ahead` reads in flight so the next file is usually in memory
 * when the parser asks for it. Bounded, so a folder of thousands of files does not open them all at once.
 */
class ReadAhead<R> {
  private readonly pending: Promise<R>[] = [];
  private started = 0;

  constructor(
    private readonly files: readonly string[],
    private readonly ahead: number,
    private readonly read: (file: string) => Promise<R>,
  ) {}

  /** The next file's result, in order. */
  next(): Promise<R> {
    while (this.started < this.files.length && this.pending.length < this.ahead) {
      this.pending.push(this.read(this.files[this.started++]));
    }
    const result = this.pending.shift();
    if (!result) throw new Error('ReadAhead: read past the last file');
    return result;
  }
}

function add<T>(
  into: Map<string, Map<string, ServedResource<T>>>,
  r: ServedResource<T>,
  rejections: Rejection[],
  shownFile: string,
  dir: string,
): void {
  let byName = into.get(r.collection);
  if (!byName) into.set(r.collection, (byName = new Map()));
  const existing = byName.get(r.name);
  if (existing && existing.origin !== r.origin) {
    rejections.push({
      origin: shownFile,
      collection: r.collection,
      name: r.name,
      message: `duplicate: ${r.name} is already defined in ${relative(dir, existing.origin)}; the first definition is kept`,
      keptLastGood: true,
    });
    return;
  }
  byName.set(r.name, r);
}

/** Identifies a file's content cheaply: the stamp changes whenever the file is rewritten. Undefined if it is gone. */
async function statFile(file: string): Promise<{ stamp: string; size: number } | undefined> {
  try {
    const info = await stat(file);
    return { stamp: `${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`, size: info.size };
  } catch {
    return undefined;
  }
}

async function listConfigFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listConfigFiles(path)));
    else if (entry.isFile() && CONFIG_FILE.test(entry.name)) out.push(path);
  }
  return out;
}
