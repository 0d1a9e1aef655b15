// Collects validation problems with their field paths. The current path is kept as a stack of segments and only
// rendered to a string when a problem is recorded, so walking valid input allocates nothing per field.

export interface Issue {
  /** Field path like `spec.http[0].route[1].weight`; empty for the whole resource. */
  readonly path: string;
  readonly message: string;
}

/** A path segment: a property name, an array index, or a map key (rendered in brackets). */
export type Segment = string | number | MapKey;

export class MapKey {
  constructor(readonly key: string) {}
}

export function formatPath(segments: readonly Segment[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (s instanceof MapKey) out += `[${s.key}]`;
    else out += out === '' ? s : `.${s}`;
  }
  return out;
}

/** Splits a rendered path back into segments (numbers for `[n]`, strings otherwise). */
export function parsePath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  let i = 0;
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      i++;
    } else if (c === '[') {
      const end = path.indexOf(']', i);
      const inner = end < 0 ? path.slice(i + 1) : path.slice(i + 1, end);
      out.push(/^\d+$/.test(inner) ? Number(inner) : inner);
      i = end < 0 ? path.length : end + 1;
    } else {
      let j = i;
      while (j < path.length && path[j] !== '.' && path[j] !== '[') j++;
      out.push(path.slice(i, j));
      i = j;
    }
  }
  return out;
}

export class Issues {
  readonly errors: Issue[] = [];
  readonly warnings: Issue[] = [];
  // The path as plain strings and numbers, with a parallel flag per segment for map keys, so that walking a
  // map does not allocate a MapKey per entry; segments are only turned into text when a problem is recorded.
  private readonly stack: (string | number)[] = [];
  private readonly mapKey: boolean[] = [];

  push(segment: Segment): void {
    if (segment instanceof MapKey) this.pushMapKey(segment.key);
    else {
      this.stack.push(segment);
      this.mapKey.push(false);
    }
  }

  /** Enters a map entry; rendered as `[key]`. */
  pushMapKey(key: string): void {
    this.stack.push(key);
    this.mapKey.push(true);
  }

  pop(): void {
    this.stack.pop();
    this.mapKey.pop();
  }

  /** The current path, optionally extended by more segments. */
  path(...more: Segment[]): string {
    const segments: Segment[] = this.stack.map((s, i) => (this.mapKey[i] ? new MapKey(s as string) : s));
    return formatPath(more.length === 0 ? segments : [...segments, ...more]);
  }

  /** Records an error at the current path (or below it). */
  error(message: string, ...more: Segment[]): void {
    this.errors.push({ path: this.path(...more), message });
  }

  /** Records an error at an explicit path. */
  errorAt(path: string, message: string): void {
    this.errors.push({ path, message });
  }

  warn(message: string, ...more: Segment[]): void {
    this.warnings.push({ path: this.path(...more), message });
  }

  get depth(): number {
    return this.stack.length;
  }
}
