/**
 * Reading an adapter's params (the handler config's `params`, a YAML object) into typed values. Each reader
 * records a message naming the field when the value has the wrong shape, so `validate` can report every problem
 * at once instead of the first.
 */
export class ParamsError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'ParamsError';
  }
}

type Raw = Record<string, unknown>;

export class ParamsReader {
  readonly problems: string[] = [];
  private readonly raw: Raw;

  constructor(
    raw: unknown,
    private readonly path = '',
  ) {
    if (raw === undefined || raw === null) this.raw = {};
    else if (typeof raw === 'object' && !Array.isArray(raw)) this.raw = raw as Raw;
    else {
      this.raw = {};
      this.problems.push(`${path || 'params'}: expected an object`);
    }
  }

  private where(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  /** Records a problem with field `key` (named with its full path). */
  problem(key: string, message: string): void {
    this.problems.push(`${this.where(key)}: ${message}`);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  /** Keys not in `known` are reported, so a misspelt field does not silently fall back to its default. */
  only(...known: string[]): this {
    for (const key of Object.keys(this.raw)) {
      if (!known.includes(key))
        this.problems.push(`${this.where(key)}: unknown field (known: ${known.join(', ')})`);
    }
    return this;
  }

  string(key: string, fallback: string): string;
  string(key: string): string | undefined;
  string(key: string, fallback?: string): string | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string') {
      this.problems.push(`${this.where(key)}: expected a string, got ${JSON.stringify(v)}`);
      return fallback;
    }
    return v;
  }

  number(key: string, fallback: number, check?: (n: number) => string | undefined): number {
    const v = this.raw[key];
    if (v === undefined || v === null) return fallback;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      this.problems.push(`${this.where(key)}: expected a number, got ${JSON.stringify(v)}`);
      return fallback;
    }
    const problem = check?.(n);
    if (problem) {
      this.problems.push(`${this.where(key)}: ${problem}`);
      return fallback;
    }
    return n;
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') {
      this.problems.push(`${this.where(key)}: expected true or false, got ${JSON.stringify(v)}`);
      return fallback;
    }
    return v;
  }

  /** A duration as Istio writes it ("10s", "1m", "500ms", "1h30m") or a number of seconds → milliseconds. */
  durationMs(key: string, fallbackMs: number): number {
    const v = this.raw[key];
    if (v === undefined || v === null) return fallbackMs;
    const ms = typeof v === 'number' ? v * 1000 : typeof v === 'string' ? parseDurationMs(v) : undefined;
    if (ms === undefined || ms < 0) {
      this.problems.push(
        `${this.where(key)}: expected a duration such as "10s" or "1m", got ${JSON.stringify(v)}`,
      );
      return fallbackMs;
    }
    return ms;
  }

  oneOf<T extends string>(key: string, values: readonly T[], fallback: T): T {
    const v = this.string(key);
    if (v === undefined) return fallback;
    if (!(values as readonly string[]).includes(v)) {
      this.problems.push(
        `${this.where(key)}: expected one of ${values.join(', ')}, got ${JSON.stringify(v)}`,
      );
      return fallback;
    }
    return v as T;
  }

  stringList(key: string): string[] {
    const v = this.raw[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' && typeof s !== 'number')) {
      this.problems.push(`${this.where(key)}: expected a list of strings`);
      return [];
    }
    return v.map(String);
  }

  stringMap(key: string): Record<string, string> {
    const v = this.raw[key];
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.problems.push(`${this.where(key)}: expected a map of strings`);
      return {};
    }
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v as Raw)) {
      if (typeof val === 'string' || typeof val === 'number' || typeof val === 'boolean')
        out[k] = String(val);
      else this.problems.push(`${this.where(key)}.${k}: expected a string`);
    }
    return out;
  }

  /** A list of objects, each read by `read` with its own reader (problems are collected here). */
  list<T>(key: string, read: (item: ParamsReader, index: number) => T): T[] {
    const v = this.raw[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.problems.push(`${this.where(key)}: expected a list`);
      return [];
    }
    return v.map((item, i) => {
      const reader = new ParamsReader(item, `${this.where(key)}[${i}]`);
      const out = read(reader, i);
      this.problems.push(...reader.absorb().problems);
      return out;
    });
  }

  /**
   * A reader for the map at `key` (undefined when absent). Its problems are collected here when `done()` or
   * `absorb()` is called on this reader, so nested fields report with their full path.
   */
  nested(key: string): ParamsReader | undefined {
    if (!this.has(key)) return undefined;
    const child = new ParamsReader(this.raw[key], this.where(key));
    this.children.push(child);
    return child;
  }

  private readonly children: ParamsReader[] = [];

  /** Moves the problems of nested readers into this one. */
  absorb(): this {
    for (const c of this.children.splice(0)) this.problems.push(...c.absorb().problems.splice(0));
    return this;
  }

  /** Throws ParamsError listing every problem found so far. */
  done(): void {
    this.absorb();
    if (this.problems.length > 0) throw new ParamsError(this.problems);
  }
}

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's time.ParseDuration syntax (what Istio's YAML uses): "1h2m3.5s", "250ms". */
export function parseDurationMs(text: string): number | undefined {
  const s = text.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]];
    pos = re.lastIndex;
  }
  return pos === 0 ? undefined : total;
}
