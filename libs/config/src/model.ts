// A configuration resource as read from a file.
import type { Obj } from './schema/types';

export interface ResourceSource {
  /** The file name as given by the caller. */
  readonly file: string;
  /** 0-based index of the YAML document in the file. */
  readonly index: number;
  /** The document's text and its first line in the file (0-based), for locating fields. */
  readonly text: string;
  readonly lineOffset: number;
  /** Set when the resource is an item of a `List` document: the path of the item inside the document. */
  readonly itemPath?: readonly (string | number)[];
}

export interface Resource {
  readonly apiVersion: string;
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly name: string;
  /** metadata.namespace as written ('' when absent). */
  readonly namespace: string;
  readonly object: Obj;
  readonly source: ResourceSource;
}

export const DEFAULT_NAMESPACE = 'default';

/** The namespace a resource lands in when applied without one. */
export function effectiveNamespace(r: Resource): string {
  return r.namespace === '' ? DEFAULT_NAMESPACE : r.namespace;
}

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0
    ? { group: '', version: internName(apiVersion) }
    : { group: internName(apiVersion.slice(0, slash)), version: internName(apiVersion.slice(slash + 1)) };
}

const INTERNED = new Map<string, string>();
const MAX_INTERNED = 1024;

/**
 * One flat string per distinct group, version or kind. Strings the YAML parser returns are slices of the file's
 * text: a Map lookup must hash every such slice anew, which cost a fifth of validation time in bench/galley, and
 * holding one would keep the whole file in memory. The table is bounded, so hostile input cannot grow it.
 */
export function internName(s: string): string {
  const known = INTERNED.get(s);
  if (known !== undefined) return known;
  if (INTERNED.size >= MAX_INTERNED) return s;
  const flat = Buffer.from(s, 'utf8').toString('utf8');
  INTERNED.set(flat, flat);
  return flat;
}
