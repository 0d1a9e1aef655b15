// What a semantic validator knows about the resource besides its spec.
import type { Issues } from '../../issues';
import type { Obj } from '../../schema/types';

export interface ResourceContext {
  readonly name: string;
  /** The namespace the resource lives in (`default` when the document does not say). */
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** Istio's webhook-level checks for one kind. Called with `issues` positioned at `spec`. */
export type SemanticValidator = (spec: Obj, ctx: ResourceContext, issues: Issues) => void;
