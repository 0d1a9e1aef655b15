import type { Value } from '@flotilla/mixer-adapter-sdk';

/** The attributes of one request (or one report entry): name → value. Absent names are simply missing. */
export type AttributeBag = ReadonlyMap<string, Value>;

/** How a Check decision depended on one attribute (or one key of a string-map attribute). */
export type Condition = 'EXACT' | 'ABSENCE';

/**
 * Records which attributes (and which keys of string maps) evaluation looked at, and whether they were present,
 * so the Check answer can tell clients what their cache key is (istio.mixer.v1 ReferencedAttributes).
 */
export class ReferenceTracker {
  /** attribute → condition */
  readonly attributes = new Map<string, Condition>();
  /** attribute → (map key → condition) */
  readonly mapKeys = new Map<string, Map<string, Condition>>();

  attribute(name: string, present: boolean): void {
    // A map referenced as a whole (EXACT) subsumes its per-key references.
    if (this.attributes.get(name) !== 'EXACT') this.attributes.set(name, present ? 'EXACT' : 'ABSENCE');
  }

  mapKey(name: string, key: string, present: boolean): void {
    let keys = this.mapKeys.get(name);
    if (!keys) this.mapKeys.set(name, (keys = new Map()));
    keys.set(key, present ? 'EXACT' : 'ABSENCE');
  }

  /** When the map itself is absent the key lookups collapse to the map's absence. */
  mapAbsent(name: string): void {
    if (!this.attributes.has(name)) this.attributes.set(name, 'ABSENCE');
  }

  merge(other: ReferenceTracker): void {
    for (const [name, c] of other.attributes) {
      if (c === 'EXACT') this.attributes.set(name, 'EXACT');
      else if (!this.attributes.has(name)) this.attributes.set(name, c);
    }
    for (const [name, keys] of other.mapKeys) for (const [k, c] of keys) this.mapKey(name, k, c === 'EXACT');
  }
}
