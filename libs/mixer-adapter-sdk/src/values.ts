/**
 * Attribute and instance-field values as adapters see them. Istio's policy/v1beta1 ValueType names the kinds; in
 * JavaScript they are represented as:
 *
 *   STRING, EMAIL_ADDRESS, URI, DNS_NAME → string
 *   INT64, DOUBLE                         → number (INT64 beyond ±2^53 loses precision, as with ts-proto's int64)
 *   BOOL                                  → boolean
 *   TIMESTAMP                             → Date
 *   DURATION                              → Duration ({ seconds, nanos }, like google.protobuf.Duration)
 *   IP_ADDRESS                            → Uint8Array of 4 (IPv4) or 16 (IPv6) bytes
 *   STRING_MAP                            → StringMap (a plain object of string → string)
 */
export const VALUE_TYPES = [
  'STRING',
  'INT64',
  'DOUBLE',
  'BOOL',
  'TIMESTAMP',
  'IP_ADDRESS',
  'EMAIL_ADDRESS',
  'URI',
  'DNS_NAME',
  'DURATION',
  'STRING_MAP',
] as const;

export type ValueType = (typeof VALUE_TYPES)[number];

export interface Duration {
  readonly seconds: number;
  readonly nanos: number;
}

export type StringMap = Readonly<Record<string, string>>;

export type Value = string | number | boolean | Date | Duration | Uint8Array | StringMap;

export function isValueType(name: string): name is ValueType {
  return (VALUE_TYPES as readonly string[]).includes(name);
}

export function durationFromMs(ms: number): Duration {
  const seconds = Math.trunc(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

export function durationToMs(d: Duration): number {
  return d.seconds * 1000 + d.nanos / 1e6;
}

export function isDuration(v: unknown): v is Duration {
  return (
    typeof v === 'object' &&
    v !== null &&
    !(v instanceof Date) &&
    !(v instanceof Uint8Array) &&
    typeof (v as Duration).seconds === 'number' &&
    typeof (v as Duration).nanos === 'number'
  );
}

/** Dotted IPv4 or RFC 4291 IPv6 text → bytes; undefined when the text is not an address. */
export function parseIp(text: string): Uint8Array | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const bytes = v4.slice(1).map(Number);
    return bytes.every((b) => b <= 255) ? Uint8Array.from(bytes) : undefined;
  }
  if (!text.includes(':')) return undefined;
  let hex = text;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    // An embedded IPv4 tail (::ffff:10.0.0.1) is two hex groups.
    const tail = parseIp(text.slice(lastColon + 1));
    if (!tail || tail.length !== 4) return undefined;
    hex = `${text.slice(0, lastColon + 1)}${((tail[0] << 8) | tail[1]).toString(16)}:${((tail[2] << 8) | tail[3]).toString(16)}`;
  }
  const halves = hex.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const left = groups(halves[0]);
  const right = halves.length === 2 ? groups(halves[1]) : [];
  if (![...left, ...right].every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  const count = left.length + right.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return undefined;
  const words = [...left, ...Array<string>(8 - count).fill('0'), ...right].map((g) => parseInt(g, 16));
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  });
  return out;
}

/** Bytes of an address → its usual text (dotted IPv4; IPv6 groups in hex, without zero compression). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
    return groups.join(':');
  }
  return Buffer.from(bytes).toString('hex');
}

/** A value rendered as text: what a label, a log field or a list lookup uses. */
export function valueToString(v: Value): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return formatIp(v);
  if (isDuration(v)) return `${durationToMs(v) / 1000}s`;
  return Object.entries(v)
    .map(([k, val]) => `${k}=${val}`)
    .join('&');
}
