// Durations as Go's time.ParseDuration reads them ("300ms", "1.5s", "1h30m"), in nanoseconds.

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Nanoseconds, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  PART.lastIndex = 0;
  let at = 0;
  while (at < s.length) {
    PART.lastIndex = at;
    const m = PART.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_NS[m[2]];
    at = PART.lastIndex;
  }
  return sign * total;
}

export const MS = 1e6;

/** Istio's duration rule: at least 1ms and a whole number of milliseconds. */
export function checkDuration(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  const ns = parseDuration(text);
  if (ns === undefined) return `invalid duration "${text}"`;
  if (ns < MS) return 'duration must be greater than 1ms';
  if (Math.abs(ns % MS) > 1e-6 && Math.abs((ns % MS) - MS) > 1e-6)
    return 'only durations to ms precision are supported';
  return undefined;
}

/** The CRD-level check on duration fields: parses and is at least 1ms. */
export function durationAtLeast1ms(text: string): boolean {
  const ns = parseDuration(text);
  return ns !== undefined && ns >= MS;
}

export function isDuration(text: string): boolean {
  return parseDuration(text) !== undefined;
}
