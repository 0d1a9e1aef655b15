/**
 * Renders the kustomizations under deploy/k8s the way `kustomize build` does for the two fields they use:
 * `resources` (files, or folders holding a kustomization) and `namespace`. Anything else in a kustomization
 * is an error here, so the manifests cannot drift into features this renderer would silently ignore.
 * Each object keeps the file it came from, for messages.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { rel } from './facts';

export type K8sObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> } & Record<string, unknown>;
};

export interface Rendered {
  /** The file the object was read from, relative to the repository root. */
  source: string;
  object: K8sObject;
}

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const SUPPORTED_KEYS = new Set(['apiVersion', 'kind', 'resources', 'namespace']);

/** Kinds that have no namespace; `namespace:` leaves them alone. */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'IngressClass',
  'RuntimeClass',
  'APIService',
  'CSIDriver',
  'Node',
]);

/**
 * Kinds whose bodies kustomize also rewrites for `namespace:`; this renderer does not, so it refuses them.
 * RoleBinding is handled below as kustomize's default (setRoleBindingSubjects: defaultOnly) does.
 */
const NAMESPACE_REFERENCING = new Set([
  'ClusterRoleBinding',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'APIService',
]);

export function kustomizationFile(dir: string): string | undefined {
  return KUSTOMIZATION_FILES.map((name) => path.join(dir, name)).find((file) => fs.existsSync(file));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses every YAML document of a file; empty documents are skipped. */
export function readYamlDocuments(file: string): unknown[] {
  const docs = parseAllDocuments(fs.readFileSync(file, 'utf8'));
  const out: unknown[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      throw new Error(`${rel(file)}: YAML error: ${doc.errors.map((e) => e.message).join('; ')}`);
    }
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function asK8sObject(value: unknown, file: string, index: number): K8sObject {
  const where = `${rel(file)} (document ${index + 1})`;
  if (!isRecord(value)) throw new Error(`${where}: not a Kubernetes object`);
  const { apiVersion, kind, metadata } = value;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
    throw new Error(`${where}: apiVersion and kind must be strings`);
  }
  if (!isRecord(metadata) || typeof metadata.name !== 'string' || metadata.name === '') {
    throw new Error(`${where}: ${kind} has no metadata.name`);
  }
  return value as K8sObject;
}

export function objectId(object: K8sObject): string {
  const group = object.apiVersion.includes('/') ? object.apiVersion.split('/')[0] : '';
  const ns = object.metadata.namespace ?? '';
  return `${group}/${object.kind}/${ns}/${object.metadata.name}`;
}

/** `kind/name` for messages. */
export function describe(object: K8sObject): string {
  return `${object.kind}/${object.metadata.name}`;
}

/** Renders the kustomization in `dir`, recursing into folders listed in its `resources`. */
export function renderKustomization(dir: string): Rendered[] {
  const file = kustomizationFile(dir);
  if (!file) throw new Error(`${rel(dir)}: no kustomization.yaml`);
  const docs = readYamlDocuments(file);
  if (docs.length !== 1 || !isRecord(docs[0])) throw new Error(`${rel(file)}: expected one mapping`);
  const kustomization = docs[0];

  for (const key of Object.keys(kustomization)) {
    if (!SUPPORTED_KEYS.has(key)) {
      throw new Error(
        `${rel(file)}: "${key}" is not supported by deploy/test's renderer (only resources and namespace); ` +
          'keep deploy/k8s to those fields or teach deploy/test/support/kustomize.ts the new one',
      );
    }
  }
  if (kustomization.kind !== undefined && kustomization.kind !== 'Kustomization') {
    throw new Error(`${rel(file)}: kind must be Kustomization, not ${String(kustomization.kind)}`);
  }
  const resources = kustomization.resources ?? [];
  if (!Array.isArray(resources) || !resources.every((r): r is string => typeof r === 'string')) {
    throw new Error(`${rel(file)}: resources must be a list of paths`);
  }
  const namespace = kustomization.namespace;
  if (namespace !== undefined && typeof namespace !== 'string') {
    throw new Error(`${rel(file)}: namespace must be a string`);
  }

  const out: Rendered[] = [];
  for (const entry of resources) {
    if (/^[a-z]+:\/\//i.test(entry) || entry.startsWith('github.com/')) {
      throw new Error(`${rel(file)}: remote resource ${entry} is not supported`);
    }
    const target = path.resolve(dir, entry);
    if (!fs.existsSync(target)) throw new Error(`${rel(file)}: resource ${entry} does not exist`);
    if (fs.statSync(target).isDirectory()) {
      out.push(...renderKustomization(target));
    } else {
      readYamlDocuments(target).forEach((doc, i) =>
        out.push({ source: rel(target), object: asK8sObject(doc, target, i) }),
      );
    }
  }

  if (namespace !== undefined) {
    for (const { source, object } of out) {
      if (NAMESPACE_REFERENCING.has(object.kind)) {
        throw new Error(
          `${source}: ${describe(object)}: kustomize rewrites namespaces inside a ${object.kind}; not supported here`,
        );
      }
      if (!CLUSTER_SCOPED.has(object.kind)) object.metadata.namespace = namespace;
      if (object.kind === 'RoleBinding') setDefaultSubjectsNamespace(object, namespace);
    }
  }

  const seen = new Map<string, string>();
  for (const { source, object } of out) {
    const id = objectId(object);
    const first = seen.get(id);
    if (first !== undefined) {
      throw new Error(`${rel(file)}: ${describe(object)} is defined twice (${first} and ${source})`);
    }
    seen.set(id, source);
  }
  return out;
}

/** The kubectl to cross-check with: $KUBECTL, or `kubectl` on PATH. */
export function findKubectl(): string | undefined {
  const candidate = process.env.KUBECTL || 'kubectl';
  const probe = spawnSync(candidate, ['version', '--client'], { encoding: 'utf8' });
  return probe.error || probe.status !== 0 ? undefined : candidate;
}

/**
 * The kustomize version kubectl embeds, from `kubectl version --client` ("Kustomize Version: v5.5.0"; kubectl
 * 1.24 and later print it). Older kubectls embed kustomize v2, which takes only files in `resources`.
 */
export function kubectlKustomizeMajor(kubectl: string): number | undefined {
  const out = spawnSync(kubectl, ['version', '--client'], { encoding: 'utf8' }).stdout ?? '';
  const match = /Kustomize Version:\s*v?(\d+)\./.exec(out);
  return match ? Number(match[1]) : undefined;
}

/** `kubectl kustomize dir`, parsed. Throws with kubectl's message when it fails. */
export function renderWithKubectl(kubectl: string, dir: string): K8sObject[] {
  const result = spawnSync(kubectl, ['kustomize', dir], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${kubectl} kustomize ${rel(dir)} failed:\n${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((doc) => doc.toJS() as unknown)
    .filter((value): value is K8sObject => isRecord(value));
}

/**
 * kustomize's `namespace:` on a RoleBinding: besides the binding's own namespace, only subjects named "default"
 * get the new namespace (its default setRoleBindingSubjects mode, defaultOnly); every other subject keeps its own.
 */
function setDefaultSubjectsNamespace(binding: K8sObject, namespace: string): void {
  const subjects = binding['subjects'];
  if (!Array.isArray(subjects)) return;
  for (const subject of subjects) {
    if (isRecord(subject) && subject['name'] === 'default') subject['namespace'] = namespace;
  }
}
