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
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}
