import type { ValueType } from '@flotilla/mixer-adapter-sdk';
import type { AttributeInfo } from './vocabulary';
import { STANDARD_VOCABULARY } from './vocabulary';

export class ManifestConflictError extends Error {
  constructor(
    readonly attribute: string,
    readonly existing: ValueType,
    readonly wanted: ValueType,
    readonly source: string,
  ) {
    super(`${source}: attribute ${attribute} is declared ${wanted} but is already ${existing}`);
    this.name = 'ManifestConflictError';
  }
}

/**
 * The attributes mixer knows and their types: what expressions are type-checked against. Built from the standard
 * vocabulary plus every attributemanifest in config; an attribute declared twice with different types is refused.
 */
export class AttributeManifest {
  private readonly attrs: Map<string, AttributeInfo>;

  constructor(base: ReadonlyMap<string, AttributeInfo> = STANDARD_VOCABULARY) {
    this.attrs = new Map(base);
  }

  static standard(): AttributeManifest {
    return new AttributeManifest();
  }

  /** Adds declarations; throws ManifestConflictError when one contradicts an existing declaration. */
  add(
    attributes: ReadonlyMap<string, AttributeInfo> | Record<string, AttributeInfo>,
    source = 'manifest',
  ): this {
    const entries = attributes instanceof Map ? [...attributes] : Object.entries(attributes);
    for (const [name, info] of entries) {
      const existing = this.attrs.get(name);
      if (existing && existing.valueType !== info.valueType)
        throw new ManifestConflictError(name, existing.valueType, info.valueType, source);
      this.attrs.set(name, existing && !info.description ? existing : info);
    }
    return this;
  }

  typeOf(name: string): ValueType | undefined {
    return this.attrs.get(name)?.valueType;
  }

  has(name: string): boolean {
    return this.attrs.has(name);
  }

  get size(): number {
    return this.attrs.size;
  }

  entries(): IterableIterator<[string, AttributeInfo]> {
    return this.attrs.entries();
  }
}
