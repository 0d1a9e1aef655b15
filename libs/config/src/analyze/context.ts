// What analyzers see: every input resource (Istio and Kubernetes), indexed by kind, plus the mesh config.
import type { Resource } from '../model';
import { effectiveNamespace } from '../model';
import type { Obj } from '../schema/types';
import type { Level, MessageType } from './messages';

export interface AnalysisMessage {
  readonly code: string;
  readonly level: Level;
  /** `Kind namespace/name` (or `Kind name` for cluster-scoped kinds), as istioctl prints it. */
  readonly origin: string;
  readonly message: string;
  /** The resource the message is about, and a field path for locating it. */
  readonly resource?: Resource;
  readonly path?: string;
}

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'Node',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'GatewayClass',
]);

export function origin(r: Resource): string {
  return CLUSTER_SCOPED.has(r.kind) ? `${r.kind} ${r.name}` : `${r.kind} ${effectiveNamespace(r)}/${r.name}`;
}

/** `namespace/name` of a namespaced resource. */
export function fullName(r: Resource): string {
  return `${effectiveNamespace(r)}/${r.name}`;
}

export function ns(r: Resource): string {
  return effectiveNamespace(r);
}

export function specOf(r: Resource): Obj {
  const s = r.object.spec;
  return typeof s === 'object' && s !== null && !Array.isArray(s) ? (s as Obj) : {};
}

export function labelsOf(r: Resource): Record<string, string> {
  return stringMap((r.object.metadata as Obj | undefined)?.labels);
}

export function annotationsOf(r: Resource): Record<string, string> {
  return stringMap((r.object.metadata as Obj | undefined)?.annotations);
}

export function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  }
  return out;
}

export class AnalysisContext {
  readonly messages: AnalysisMessage[] = [];
  private readonly byKind = new Map<string, Resource[]>();

  constructor(
    readonly resources: readonly Resource[],
    readonly meshConfig: Obj,
    /** Validation problems per resource, computed once by the caller. */
    readonly validationOf?: (r: Resource) => {
      errors: readonly { path: string; message: string }[];
      warnings: readonly { path: string; message: string }[];
    },
    /** MeshNetworks (as YAML-decoded object); empty when the mesh has none. */
    readonly meshNetworks: Obj = {},
  ) {
    for (const r of resources) {
      const list = this.byKind.get(r.kind) ?? [];
      list.push(r);
      this.byKind.set(r.kind, list);
    }
  }

  /** Resources of a kind (optionally restricted to an API group). */
  all(kind: string, group?: string): readonly Resource[] {
    const list = this.byKind.get(kind) ?? [];
    return group === undefined ? list : list.filter((r) => r.group === group);
  }

  find(kind: string, namespace: string, name: string, group?: string): Resource | undefined {
    return this.all(kind, group).find(
      (r) => r.name === name && (CLUSTER_SCOPED.has(kind) || ns(r) === namespace),
    );
  }

  /** Pods, plus the pod templates of workload controllers (what a cluster would run). */
  workloads(): readonly {
    resource: Resource;
    namespace: string;
    labels: Record<string, string>;
    podSpec: Obj;
  }[] {
    const out: { resource: Resource; namespace: string; labels: Record<string, string>; podSpec: Obj }[] = [];
    for (const p of this.all('Pod'))
      out.push({ resource: p, namespace: ns(p), labels: labelsOf(p), podSpec: specOf(p) });
    return out;
  }

  report(type: MessageType, r: Resource | undefined, message: string, path?: string): void {
    this.messages.push({
      code: type.code,
      level: type.level,
      origin: r ? origin(r) : '',
      message,
      resource: r,
      path,
    });
  }
}

export interface Analyzer {
  readonly name: string;
  analyze(ctx: AnalysisContext): void;
}

/** Kubernetes label selector match (equality only, as Istio's selectors are). */
export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}
