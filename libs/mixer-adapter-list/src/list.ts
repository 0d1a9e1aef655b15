import {
  Code,
  ParamsReader,
  checkDenied,
  checkOk,
  defineAdapter,
  parseIp,
} from '@flotilla/mixer-adapter-sdk';
import type { ListEntryHandler } from '@flotilla/mixer-adapter-sdk';

export type EntryType = 'STRINGS' | 'CASE_INSENSITIVE_STRINGS' | 'IP_ADDRESSES' | 'REGEX';

export interface ListParams {
  /** Entries always in the list. */
  readonly overrides: readonly string[];
  /** Fetched list: one entry a line (blank lines and # comments ignored), merged with the overrides. */
  readonly providerUrl?: string;
  readonly refreshIntervalMs: number;
  /** A fetched list older than this (failed refreshes) is dropped; 0 keeps it forever. */
  readonly ttlMs: number;
  readonly cachingIntervalMs: number;
  readonly cachingUseCount: number;
  readonly entryType: EntryType;
  /** true: listed values are denied (a deny list); false: only listed values are allowed. */
  readonly blacklist: boolean;
}

type Matcher = (value: string) => boolean;

/** An IPv4/IPv6 address or CIDR range → a test on address text. */
function ipMatcher(entry: string): Matcher | undefined {
  const [addr, bitsText] = entry.split('/');
  const net = parseIp(addr);
  if (!net) return undefined;
  const bits = bitsText === undefined ? net.length * 8 : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > net.length * 8) return undefined;
  return (value) => {
    const ip = parseIp(value);
    if (!ip || ip.length !== net.length) return false;
    for (let i = 0; i < bits; i++) {
      const mask = 0x80 >> (i % 8);
      if ((ip[i >> 3] & mask) !== (net[i >> 3] & mask)) return false;
    }
    return true;
  };
}

/** Builds one matcher for a whole list; entries that do not parse are reported. */
export function compileList(
  entries: readonly string[],
  type: EntryType,
): { match: Matcher; invalid: string[] } {
  const invalid: string[] = [];
  if (type === 'STRINGS') {
    const set = new Set(entries);
    return { match: (v) => set.has(v), invalid };
  }
  if (type === 'CASE_INSENSITIVE_STRINGS') {
    const set = new Set(entries.map((e) => e.toLowerCase()));
    return { match: (v) => set.has(v.toLowerCase()), invalid };
  }
  const matchers: Matcher[] = [];
  for (const e of entries) {
    if (type === 'IP_ADDRESSES') {
      const m = ipMatcher(e);
      if (m) matchers.push(m);
      else invalid.push(e);
    } else {
      try {
        const re = new RegExp(e);
        matchers.push((v) => re.test(v));
      } catch {
        invalid.push(e);
      }
    }
  }
  return { match: (v) => matchers.some((m) => m(v)), invalid };
}

function parseListText(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/**
 * list (Istio 1.4 mixer/adapter/list): checks listentry values against a list of strings, IP ranges or regexes,
 * given inline (overrides) and/or fetched from a URL and refreshed periodically. An allow list answers NOT_FOUND
 * for values not on it; a deny list (blacklist) answers PERMISSION_DENIED for values on it.
 */
export function createListAdapter(fetchText: (url: string) => Promise<string> = defaultFetch) {
  return defineAdapter<ListParams, ListEntryHandler>({
    name: 'list',
    description: 'allow or deny lists of strings, IP ranges or regexes',
    templates: ['listentry'],
    validate(raw) {
      const p = new ParamsReader(raw).only(
        'overrides',
        'providerUrl',
        'refreshInterval',
        'ttl',
        'cachingInterval',
        'cachingUseCount',
        'entryType',
        'blacklist',
      );
      const overrides = p.stringList('overrides');
      const providerUrl = p.string('providerUrl');
      if (providerUrl !== undefined && !/^https?:\/\//.test(providerUrl))
        p.problem('providerUrl', 'must be an http(s) URL');
      const entryType = p.oneOf(
        'entryType',
        ['STRINGS', 'CASE_INSENSITIVE_STRINGS', 'IP_ADDRESSES', 'REGEX'] as const,
        'STRINGS',
      );
      const invalid = compileList(overrides, entryType).invalid;
      if (invalid.length) p.problem('overrides', `not valid ${entryType}: ${invalid.join(', ')}`);
      const params: ListParams = {
        overrides,
        providerUrl,
        refreshIntervalMs: p.durationMs('refreshInterval', 60_000),
        ttlMs: p.durationMs('ttl', 0),
        cachingIntervalMs: p.durationMs('cachingInterval', 300_000),
        cachingUseCount: p.number('cachingUseCount', 10_000),
        entryType,
        blacklist: p.boolean('blacklist', false),
      };
      if (params.providerUrl && params.refreshIntervalMs < 100)
        p.problem('refreshInterval', 'must be at least 100ms');
      p.done();
      return params;
    },
    async build(params, env) {
      let fetched: string[] = [];
      let fetchedAt = 0;
      let list = compileList(params.overrides, params.entryType).match;
      const rebuild = () => {
        const stale = params.ttlMs > 0 && Date.now() - fetchedAt > params.ttlMs;
        list = compileList([...params.overrides, ...(stale ? [] : fetched)], params.entryType).match;
      };
      const refresh = async () => {
        if (!params.providerUrl) return;
        try {
          const entries = parseListText(await fetchText(params.providerUrl));
          const { invalid } = compileList(entries, params.entryType);
          if (invalid.length)
            env.logger.warn(
              { handler: env.handlerName, invalid: invalid.slice(0, 5) },
              'list entries ignored',
            );
          fetched = entries.filter((e) => !invalid.includes(e));
          fetchedAt = Date.now();
        } catch (err) {
          env.logger.warn({ handler: env.handlerName, err: (err as Error).message }, 'list refresh failed');
        }
        rebuild();
      };
      await refresh();
      const timer = params.providerUrl
        ? setInterval(() => void refresh(), params.refreshIntervalMs)
        : undefined;
      timer?.unref();
      return {
        async handleListEntry(instance) {
          const listed = list(instance.value);
          if (params.blacklist && listed)
            return checkDenied(
              `${instance.value} is blacklisted`,
              Code.PERMISSION_DENIED,
              params.cachingIntervalMs,
              params.cachingUseCount,
            );
          if (!params.blacklist && !listed)
            return checkDenied(
              `${instance.value} is not whitelisted`,
              Code.NOT_FOUND,
              params.cachingIntervalMs,
              params.cachingUseCount,
            );
          return checkOk(params.cachingIntervalMs, params.cachingUseCount);
        },
        async close() {
          if (timer) clearInterval(timer);
        },
      };
    },
  });
}

async function defaultFetch(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.text();
}

export const listAdapter = createListAdapter();
