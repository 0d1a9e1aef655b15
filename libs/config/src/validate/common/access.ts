// Type-tolerant readers for resource specs. Semantic validation runs even when the schema check failed, so every
// read must cope with a field of the wrong type (it is then treated as unset; the schema check reports it).
import type { Obj } from '../../schema/types';

const EMPTY: readonly unknown[] = [];

export function obj(v: unknown): Obj | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
}
export function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
export function num(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}
export function list(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : EMPTY;
}
export function strList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
export function bool(v: unknown): boolean {
  return v === true;
}
/** A field is "set" the way protobuf sees it: present and not null. */
export function isSet(v: unknown): boolean {
  return v !== undefined && v !== null;
}
/** Non-empty repeated field. */
export function nonEmpty(v: unknown): boolean {
  return Array.isArray(v) && v.length > 0;
}
export function keys(v: unknown): string[] {
  const o = obj(v);
  return o ? Object.keys(o) : [];
}
/** The wrapped value of a google.protobuf wrapper (written as a plain scalar in YAML). */
export function wrapped(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}
