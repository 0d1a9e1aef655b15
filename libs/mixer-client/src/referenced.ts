/**
 * istio.mixer.v1 ReferencedAttributes: which attributes (and which keys of string maps) a Check decision looked
 * at, and whether each had to be present (EXACT: its value is part of the cache key) or absent (ABSENCE).
 */
import { mixerCheck } from '@flotilla/proto';
import type { AttributeValue, Attributes } from './attributes';
import { valueKey } from './attributes';

/** Name (and map key, when the reference is to one key of a string map). */
export interface AttributeRef {
  name: string;
  mapKey?: string;
}

export class Referenced {
  constructor(
    readonly exact: readonly AttributeRef[],
    readonly absence: readonly AttributeRef[],
  ) {}

  /**
   * Reads ReferencedAttributes whose words index the message's own words (the client sends global_word_count 0,
   * so a mixer never answers with global indices). Returns undefined when the answer cannot be used as a cache
   * key: an index outside the words, a global index, or a REGEX condition (Istio's client does not cache those).
   */
  static parse(refs: mixerCheck.ReferencedAttributes | undefined): Referenced | undefined {
    if (!refs) return new Referenced([], []);
    const word = (i: number): string | undefined => (i < 0 ? refs.words[-i - 1] : undefined);
    const exact: AttributeRef[] = [];
    const absence: AttributeRef[] = [];
    for (const m of refs.attributeMatches) {
      const name = word(m.name);
      if (name === undefined) return undefined;
      let ref: AttributeRef = { name };
      if (m.mapKey !== 0) {
        const key = word(m.mapKey);
        if (key === undefined) return undefined;
        ref = { name, mapKey: key };
      }
      if (m.condition === mixerCheck.ReferencedAttributes_Condition.EXACT) exact.push(ref);
      else if (m.condition === mixerCheck.ReferencedAttributes_Condition.ABSENCE) absence.push(ref);
      else return undefined;
    }
    const order = (a: AttributeRef, b: AttributeRef) =>
      a.name === b.name ? (a.mapKey ?? '').localeCompare(b.mapKey ?? '') : a.name.localeCompare(b.name);
    return new Referenced(exact.sort(order), absence.sort(order));
  }

  /** Identifies this set of references (which attributes, not their values). */
  get hash(): string {
    const part = (r: AttributeRef) => JSON.stringify(r.mapKey === undefined ? [r.name] : [r.name, r.mapKey]);
    return `E${this.exact.map(part).join(',')}|A${this.absence.map(part).join(',')}`;
  }

  /**
   * The cache key of `attrs` under these references: the referenced values, or undefined when `attrs` does not
   * fit (an EXACT attribute or key is missing, or an ABSENCE one is present).
   */
  signature(attrs: Attributes): string | undefined {
    for (const r of this.absence) if (lookup(attrs, r) !== undefined) return undefined;
    const parts: string[] = [this.hash];
    for (const r of this.exact) {
      const v = lookup(attrs, r);
      if (v === undefined) return undefined;
      parts.push(valueKey(v));
    }
    return JSON.stringify(parts);
  }
}

function lookup(attrs: Attributes, ref: AttributeRef): AttributeValue | undefined {
  const v = attrs.get(ref.name);
  if (ref.mapKey === undefined || v === undefined) return v;
  if (typeof v !== 'object' || v instanceof Date || v instanceof Uint8Array) return undefined;
  const map = v as Readonly<Record<string, unknown>>;
  const mv = Object.prototype.hasOwnProperty.call(map, ref.mapKey) ? map[ref.mapKey] : undefined;
  return typeof mv === 'string' ? mv : undefined;
}
