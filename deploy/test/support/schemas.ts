/**
 * Validates rendered objects against the Kubernetes OpenAPI schemas shipped in kubernetes-models. Those
 * schemas check types, required fields and formats; they do not reject unknown fields, which is why the
 * specs also check the fields Flotilla depends on by path.
 */
import { ValidatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import {
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
} from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import type { K8sObject } from './kustomize';
import { fieldPathOf } from './problems';

interface Validatable {
  validate(): void;
}

const MODELS: Record<string, (data: K8sObject) => Validatable> = {
  'v1/Namespace': (data) => new Namespace(data as ConstructorParameters<typeof Namespace>[0]),
  'v1/Service': (data) => new Service(data as ConstructorParameters<typeof Service>[0]),
  'v1/ServiceAccount': (data) => new ServiceAccount(data as ConstructorParameters<typeof ServiceAccount>[0]),
  'apps/v1/Deployment': (data) => new Deployment(data as ConstructorParameters<typeof Deployment>[0]),
  'apiextensions.k8s.io/v1/CustomResourceDefinition': (data) =>
    new CustomResourceDefinition(
      data as unknown as ConstructorParameters<typeof CustomResourceDefinition>[0],
    ),
  'admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration': (data) =>
    new ValidatingWebhookConfiguration(
      data as ConstructorParameters<typeof ValidatingWebhookConfiguration>[0],
    ),
  'rbac.authorization.k8s.io/v1/ClusterRole': (data) =>
    new ClusterRole(data as unknown as ConstructorParameters<typeof ClusterRole>[0]),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': (data) =>
    new ClusterRoleBinding(data as unknown as ConstructorParameters<typeof ClusterRoleBinding>[0]),
  'rbac.authorization.k8s.io/v1/Role': (data) =>
    new Role(data as unknown as ConstructorParameters<typeof Role>[0]),
  'rbac.authorization.k8s.io/v1/RoleBinding': (data) =>
    new RoleBinding(data as unknown as ConstructorParameters<typeof RoleBinding>[0]),
  'policy/v1/PodDisruptionBudget': (data) =>
    new PodDisruptionBudget(data as ConstructorParameters<typeof PodDisruptionBudget>[0]),
};

interface SchemaError {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

function hasErrors(err: unknown): err is { errors: SchemaError[] } {
  return typeof err === 'object' && err !== null && Array.isArray((err as { errors?: unknown }).errors);
}

/** Schema errors as `[fieldPath, message]` pairs; empty when the object is valid. */
export function schemaErrors(object: K8sObject): [string, string][] {
  const model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!model) {
    return [
      ['', `no schema for ${object.apiVersion} ${object.kind}; add it to deploy/test/support/schemas.ts`],
    ];
  }
  try {
    model(object).validate();
    return [];
  } catch (err) {
    if (!hasErrors(err)) return [['', err instanceof Error ? err.message : String(err)]];
    return err.errors.map((e): [string, string] => {
      const missing = e.params?.missingProperty;
      const base = fieldPathOf(e.instancePath ?? '');
      const field = typeof missing === 'string' ? (base ? `${base}.${missing}` : missing) : base;
      return [field, e.message ?? 'invalid'];
    });
  }
}
