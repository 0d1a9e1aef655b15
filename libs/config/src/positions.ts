// Line/column of a field path, computed on demand by re-parsing one document with `yaml` (which keeps source
// ranges). Only done when reporting, so the fast path never pays for it.
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Node } from 'yaml';
import { parsePath } from './issues';
import type { ResourceSource } from './model';

export interface Position {
  /** 1-based line in the file. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
}

interface Parsed {
  readonly root: unknown;
  readonly counter: LineCounter;
}

const cache = new WeakMap<ResourceSource, Parsed>();

function parsed(source: ResourceSource): Parsed {
  let p = cache.get(source);
  if (!p) {
    const counter = new LineCounter();
    const doc = parseDocument(source.text, { lineCounter: counter, uniqueKeys: false, strict: false });
    p = { root: doc.contents, counter };
    cache.set(source, p);
  }
  return p;
}

/** The child node on a path segment, and the node to point at (a map entry's key). */
function child(node: unknown, seg: string | number): { value: unknown; at: unknown } | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      const k = isScalar(pair.key) ? pair.key.value : pair.key;
      if (String(k) === String(seg)) return { value: pair.value ?? pair.key, at: pair.key };
    }
    return undefined;
  }
  if (isSeq(node) && typeof seg === 'number' && node.items[seg] !== undefined) {
    return { value: node.items[seg], at: node.items[seg] };
  }
  return undefined;
}

/** The position of the deepest existing node on the path (a missing field points at its parent). */
export function locate(source: ResourceSource, path: string): Position | undefined {
  const { root, counter } = parsed(source);
  const segs = [...(source.itemPath ?? []), ...parsePath(path)];
  let node: unknown = root;
  let best = node;
  for (const s of segs) {
    const next = child(node, s);
    if (!next) break;
    node = next.value;
    best = next.at;
  }
  const range = (best as Node | undefined)?.range;
  if (!range) return { line: source.lineOffset + 1, column: 1 };
  const at = counter.linePos(range[0]);
  return { line: source.lineOffset + at.line, column: at.col };
}
