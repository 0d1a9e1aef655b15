// Whether a workload runs in the mesh, as Istio's analyzers decide it (pkg/config/analysis/analyzers/util/in_mesh.go).
import type { Resource } from '../model';
import { list, obj, str } from '../validate/common/access';
import type { AnalysisContext } from './context';
import { annotationsOf, labelsOf, ns, specOf } from './context';

export const ISTIO_PROXY = 'istio-proxy';
export const INJECTION_LABEL = 'istio-injection';
export const REVISION_LABEL = 'istio.io/rev';
export const DATAPLANE_MODE_LABEL = 'istio.io/dataplane-mode';
export const SIDECAR_INJECT = 'sidecar.istio.io/inject';

/** The image of the pod spec's istio-proxy container (regular or init), or '' when it has none. */
export function proxyImage(podSpec: Record<string, unknown>): string {
  for (const c of [...list(podSpec.containers), ...list(podSpec.initContainers)]) {
    const container = obj(c);
    if (container?.name === ISTIO_PROXY) return str(container.image);
  }
  return '';
}

/**
 * A pod is in the mesh when it already has a proxy, or else when its sidecar.istio.io/inject label (then
 * annotation) says "true", or else when its namespace is labelled istio-injection=enabled.
 */
export function podInMesh(ctx: AnalysisContext, pod: Resource): boolean {
  if (proxyImage(specOf(pod)) !== '') return true;
  const labels = labelsOf(pod);
  if (SIDECAR_INJECT in labels) return labels[SIDECAR_INJECT] === 'true';
  const annotations = annotationsOf(pod);
  if (SIDECAR_INJECT in annotations) return annotations[SIDECAR_INJECT] === 'true';
  const namespace = ctx.find('Namespace', '', ns(pod));
  return !!namespace && labelsOf(namespace)[INJECTION_LABEL] === 'enabled';
}

/** Ambient pods carry the redirection annotation istio-cni writes. */
export function podInAmbient(pod: Resource): boolean {
  return annotationsOf(pod)['ambient.istio.io/redirection'] === 'enabled';
}

/** The sidecar injector ConfigMap of a revision (`default` and '' mean the default revision). */
export function injectorConfigMapName(revision: string): string {
  return revision === '' || revision === 'default'
    ? 'istio-sidecar-injector'
    : `istio-sidecar-injector-${revision}`;
}
