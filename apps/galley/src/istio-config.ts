import { createRegistry, effectiveNamespace, parseText, validateResource } from '@flotilla/config';
import type { Registry, Resource } from '@flotilla/config';
import type { FileParser } from './sources/directory-source';
import type { SourceResource } from './sources/snapshot';

/** A validated Istio (or Kubernetes) object as galley serves it. */
export interface ConfigValue {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: Record<string, unknown>;
}

/**
 * The collection a resource is served in, named as Istio names its MCP collections: group, Istio's internal
 * version of the kind (whatever version the object was written in) and kind, e.g.
 * "networking.istio.io/v1alpha3/VirtualService". Kubernetes objects keep their own version ("core" for the core
 * group): "core/v1/Service", "discovery.k8s.io/v1/EndpointSlice".
 */
export function collectionOf(group: string, version: string, kind: string): string {
  const istioVersion: Record<string, string> = {
    'networking.istio.io': 'v1alpha3',
    'security.istio.io': 'v1beta1',
    'telemetry.istio.io': 'v1alpha1',
    'extensions.istio.io': 'v1alpha1',
    'config.istio.io': 'v1alpha2',
  };
  return `${group || 'core'}/${istioVersion[group] ?? version}/${kind}`;
}

function stringMap(value: unknown): Record<string, string> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, string>) : {};
}

function valueOf(resource: Resource): ConfigValue {
  const metadata = (resource.object.metadata ?? {}) as Record<string, unknown>;
  const spec = resource.object.spec;
  return {
    namespace: effectiveNamespace(resource),
    name: resource.name,
    labels: stringMap(metadata.labels),
    annotations: stringMap(metadata.annotations),
    spec: spec && typeof spec === 'object' && !Array.isArray(spec) ? (spec as Record<string, unknown>) : {},
  };
}

/** Validation with Istio's verdicts, shared by the folder source, the Kubernetes source and the webhook. */
export class IstioConfig {
  constructor(private readonly registry: Registry = createRegistry()) {}

  /** The directory source's parser: every document of a file, each validated. */
  readonly parseFile: FileParser<ConfigValue> = (file, text) => {
    const { resources, problems } = parseText(text, file);
    // A document that is not even YAML makes the file unreadable as a whole: its resources keep their last good
    // versions rather than half the file being taken.
    const broken = problems.find((p) => p.kind === undefined);
    if (broken) {
      const where =
        broken.line !== undefined
          ? `:${broken.line}${broken.column !== undefined ? `:${broken.column}` : ''}`
          : '';
      return { resources: [], fileError: `document ${broken.index}${where}: ${broken.message}` };
    }
    const out: SourceResource<ConfigValue>[] = problems.map((p) => ({
      collection: collectionOf('', '', p.kind ?? 'Unknown'),
      name: `${p.namespace || 'default'}/${p.name ?? `document-${p.index}`}`,
      value: {
        namespace: p.namespace || 'default',
        name: p.name ?? '',
        labels: {},
        annotations: {},
        spec: {},
      },
      errors: [`document ${p.index}: ${p.message}`],
    }));
    for (const resource of resources) out.push(this.validate(resource));
    return { resources: out };
  };

  /** Validates one parsed resource into a source resource (errors and warnings as "path: message"). */
  validate(resource: Resource): SourceResource<ConfigValue> & { warnings: string[] } {
    const verdict = validateResource(resource, this.registry);
    const value = valueOf(resource);
    const text = (i: { path: string; message: string }) => (i.path ? `${i.path}: ${i.message}` : i.message);
    return {
      collection: collectionOf(resource.group, resource.version, resource.kind),
      name: `${value.namespace}/${value.name}`,
      value,
      errors: verdict.errors.map(text),
      warnings: verdict.warnings.map(text),
    };
  }

  /** Validates an object that arrived whole (from Kubernetes or an AdmissionReview). */
  validateObject(
    object: Record<string, unknown>,
    origin: string,
  ): SourceResource<ConfigValue> & { warnings: string[] } {
    return this.validate(resourceOf(object, origin));
  }
}

/** A whole object (from Kubernetes or an AdmissionReview) as a parsed resource without source text. */
function resourceOf(object: Record<string, unknown>, origin: string): Resource {
  const apiVersion = typeof object.apiVersion === 'string' ? object.apiVersion : '';
  const slash = apiVersion.lastIndexOf('/');
  const metadata = stringMap(object.metadata) as unknown as { name?: string; namespace?: string };
  return {
    apiVersion,
    group: slash < 0 ? '' : apiVersion.slice(0, slash),
    version: slash < 0 ? apiVersion : apiVersion.slice(slash + 1),
    kind: typeof object.kind === 'string' ? object.kind : '',
    name: metadata.name ?? '',
    namespace: metadata.namespace ?? '',
    object: object as Resource['object'],
    source: { file: origin, index: 0, text: '', lineOffset: 0 },
  };
}
