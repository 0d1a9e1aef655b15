// Sidecar injection (Istio's injection.Analyzer, ImageAnalyzer and ImageAutoAnalyzer): namespaces without an
// injection label (IST0102, or IST0148 when the injector enables namespaces by default), namespaces with conflicting
// injection labels (IST0123), pods missing their proxy (IST0103), proxies whose image differs from the injector's
// (IST0158), and `image: auto` that no injection webhook will replace (IST0146/IST0147).
import { load } from 'js-yaml';
import type { Resource } from '../../model';
import { list, obj, str } from '../../validate/common/access';
import type { AnalysisContext, Analyzer } from '../context';
import { annotationsOf, labelsOf, ns, selects, specOf, stringMap } from '../context';
import {
  DATAPLANE_MODE_LABEL,
  INJECTION_LABEL,
  injectorConfigMapName,
  ISTIO_PROXY,
  proxyImage,
  REVISION_LABEL,
  SIDECAR_INJECT,
} from '../in-mesh';
import { labelSelectorMatches } from '../label-selector';
import { Messages } from '../messages';

const ISTIO_SYSTEM = 'istio-system';

/** The Helm values the injector ConfigMap carries as JSON under `data.values`; undefined when unreadable. */
function injectorValues(configMap: Resource): Record<string, unknown> | undefined {
  const text = obj(configMap.object.data)?.values;
  if (typeof text !== 'string') return undefined;
  try {
    return obj(JSON.parse(text));
  } catch {
    return undefined;
  }
}

function findConfigMap(ctx: AnalysisContext, name: string): Resource | undefined {
  return ctx.all('ConfigMap').find((c) => c.name === name);
}

export const injectionAnalyzer: Analyzer = {
  name: 'injection.Analyzer',
  analyze(ctx: AnalysisContext): void {
    const injected = new Set<string>();
    for (const namespace of ctx.all('Namespace')) {
      if (namespace.name === ISTIO_SYSTEM) continue;
      const labels = labelsOf(namespace);
      const legacy = labels[INJECTION_LABEL];
      const hasLegacy = INJECTION_LABEL in labels;
      const hasRevision = REVISION_LABEL in labels;

      // The revision and ambient labels only conflict with istio-injection when that one does not disable it.
      const injectionLabels = hasLegacy ? [`${INJECTION_LABEL}=${legacy}`] : [];
      for (const l of [REVISION_LABEL, DATAPLANE_MODE_LABEL]) {
        if (l in labels && (!hasLegacy || legacy === 'enabled')) injectionLabels.push(`${l}=${labels[l]}`);
      }
      if (injectionLabels.length > 1) {
        ctx.report(
          Messages.NamespaceMultipleInjectionLabels,
          namespace,
          `The namespace has more than one type of injection labels [${injectionLabels.join(' ')}], which may lead to undefined behavior. Make sure only one injection label exists.`,
        );
      }
      if (labels[DATAPLANE_MODE_LABEL] === 'ambient') continue;

      if (!legacy && !hasRevision) {
        const configMap = findConfigMap(ctx, injectorConfigMapName(''));
        const values = configMap && injectorValues(configMap);
        if (obj(values?.sidecarInjectorWebhook)?.enableNamespacesByDefault === true) {
          ctx.report(
            Messages.NamespaceInjectionEnabledByDefault,
            namespace,
            'is enabled for Istio injection, as Istio is installed with enableNamespacesByDefault as true.',
          );
          continue;
        }
        ctx.report(
          Messages.NamespaceNotInjected,
          namespace,
          `The namespace is not enabled for Istio injection. Run 'kubectl label namespace ${namespace.name} istio-injection=enabled' to enable it, or 'kubectl label namespace ${namespace.name} istio-injection=disabled' to explicitly mark it as not needing injection.`,
          'metadata.name',
        );
        continue;
      }
      // Any other istio-injection value deliberately opts out.
      if (legacy === 'enabled') injected.add(namespace.name);
    }

    for (const pod of ctx.all('Pod')) {
      if (!injected.has(ns(pod))) continue;
      const inject = labelsOf(pod)[SIDECAR_INJECT] ?? annotationsOf(pod)[SIDECAR_INJECT] ?? '';
      if (inject.toLowerCase() === 'false') continue;
      const spec = specOf(pod);
      if (spec.hostNetwork === true) continue;
      if (proxyImage(spec) === '') {
        ctx.report(
          Messages.PodMissingProxy,
          pod,
          `The pod ${ns(pod)}/${pod.name} is missing the Istio proxy. This can often be resolved by restarting or redeploying the workload.`,
        );
      }
    }
  },
};

/** The proxy image an injector ConfigMap injects: global.proxy.image, qualified by global.hub and tag. */
function injectedImage(configMap: Resource): string {
  const global = obj(injectorValues(configMap)?.global);
  if (!global) return '';
  const image = str(obj(global.proxy)?.image);
  return image.includes('/') ? image : `${str(global.hub)}/${image}:${str(global.tag)}`;
}

export const proxyImageAnalyzer: Analyzer = {
  name: 'injection.ImageAnalyzer',
  analyze(ctx: AnalysisContext): void {
    const imagesByConfigMap = new Map<string, string>();
    for (const c of ctx.all('ConfigMap')) {
      if (c.name.startsWith('istio-sidecar-injector')) imagesByConfigMap.set(c.name, injectedImage(c));
    }
    if (imagesByConfigMap.size === 0) return;

    const revisionOf = new Map<string, string>();
    const namespaces = new Map<string, Resource>();
    for (const n of ctx.all('Namespace')) {
      namespaces.set(n.name, n);
      const labels = labelsOf(n);
      if (REVISION_LABEL in labels) revisionOf.set(n.name, labels[REVISION_LABEL]);
      else if (labels[INJECTION_LABEL] === 'enabled') revisionOf.set(n.name, 'default');
    }

    const mismatched = new Map<string, string[]>();
    for (const pod of ctx.all('Pod')) {
      const revision = revisionOf.get(ns(pod));
      if (revision === undefined) continue;
      // A custom proxy image always overrides the injector.
      if ((annotationsOf(pod)['sidecar.istio.io/proxyImage'] ?? '') !== '') continue;
      const expected = imagesByConfigMap.get(injectorConfigMapName(revision));
      if (expected === undefined) continue;
      const variant = imageType(ctx, pod);
      const spec = specOf(pod);
      for (const c of [...list(spec.containers), ...list(spec.initContainers)]) {
        const container = obj(c);
        if (container?.name !== ISTIO_PROXY) continue;
        const image = str(container.image);
        if (image !== expected && image !== `${expected}-${variant}`) {
          mismatched.set(ns(pod), [...(mismatched.get(ns(pod)) ?? []), pod.name]);
        }
      }
    }
    for (const [namespace, pods] of mismatched) {
      ctx.report(
        Messages.PodsIstioProxyImageMismatchInNamespace,
        namespaces.get(namespace),
        `The Istio proxy images of the pods running in the namespace do not match the image defined in the injection configuration (pod names: [${[...pods].sort().join(' ')}]). This often happens after upgrading the Istio control-plane and can be fixed by redeploying the pods.`,
      );
    }
  },
};

const imageTypeOf = (proxyConfig: unknown): string => str(obj(obj(proxyConfig)?.image)?.imageType);

/**
 * The proxy image variant (e.g. `distroless`) in effect for a pod: mesh config defaults, then ProxyConfig in the
 * root namespace, the pod's namespace and selecting the pod, then the pod's proxy.istio.io/config annotation.
 */
function imageType(ctx: AnalysisContext, pod: Resource): string {
  let variant = imageTypeOf(ctx.meshConfig.defaultConfig);
  const root = str(ctx.meshConfig.rootNamespace) || ISTIO_SYSTEM;
  const proxyConfigs = ctx.all('ProxyConfig', 'networking.istio.io');
  const override = (candidates: readonly Resource[]): void => {
    for (const p of candidates) variant = imageTypeOf(specOf(p)) || variant;
  };
  override(proxyConfigs.filter((p) => ns(p) === root));
  override(
    proxyConfigs.filter((p) => ns(p) !== root && ns(p) === ns(pod) && specOf(p).selector === undefined),
  );
  override(
    proxyConfigs.filter((p) => {
      const selector = obj(specOf(p).selector);
      return (
        ns(p) !== root &&
        ns(p) === ns(pod) &&
        !!selector &&
        selects(stringMap(selector.matchLabels), labelsOf(pod))
      );
    }),
  );
  const annotation = annotationsOf(pod)['proxy.istio.io/config'];
  if (annotation !== undefined) variant = annotationImageType(annotation) || variant;
  return variant === 'default' ? '' : variant;
}

/** image.imageType from a proxy.istio.io/config annotation (YAML or JSON), or '' when absent or unreadable. */
function annotationImageType(text: string): string {
  try {
    return imageTypeOf(load(text));
  } catch {
    // Istio ignores an unreadable annotation here (the annotations analyzer reports it).
    return '';
  }
}

const hasAutoImage = (podSpec: Record<string, unknown>): boolean =>
  list(podSpec.containers).some((c) => obj(c)?.name === ISTIO_PROXY && obj(c)?.image === 'auto');

export const imageAutoAnalyzer: Analyzer = {
  name: 'injection.ImageAutoAnalyzer',
  analyze(ctx: AnalysisContext): void {
    const webhooks = ctx
      .all('MutatingWebhookConfiguration')
      .flatMap((c) => list(c.object.webhooks).map((w) => obj(w) ?? {}))
      .filter((w) => str(w.name).endsWith('istio.io'));

    // A pod is already admitted, so `image: auto` on it was never replaced, whatever the webhooks select.
    for (const pod of ctx.all('Pod')) {
      if (hasAutoImage(specOf(pod))) {
        ctx.report(
          Messages.ImageAutoWithoutInjectionError,
          pod,
          `Pod ${pod.name} contains \`image: auto\` but does not match any Istio injection webhook selectors.`,
        );
      }
    }
    for (const d of ctx.all('Deployment')) {
      const template = obj(specOf(d).template) ?? {};
      if (!hasAutoImage(obj(template.spec) ?? {})) continue;
      const namespace = ctx.find('Namespace', '', ns(d));
      const namespaceLabels = namespace ? labelsOf(namespace) : {};
      const podLabels = stringMap(obj(template.metadata)?.labels);
      const injected = webhooks.some(
        (w) =>
          labelSelectorMatches(w.namespaceSelector, namespaceLabels) &&
          labelSelectorMatches(w.objectSelector, podLabels),
      );
      if (!injected) {
        ctx.report(
          Messages.ImageAutoWithoutInjectionWarning,
          d,
          `Deployment ${d.name} contains \`image: auto\` but does not match any Istio injection webhook selectors.`,
        );
      }
    }
  },
};
