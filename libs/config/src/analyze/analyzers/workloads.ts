// Analyzers about workloads and Kubernetes objects: Service port names (IST0118/IST0150), Sidecar selectors
// (IST0101/IST0110/IST0111/IST0167), Telemetry selectors and providers (IST0101/IST0157/IST0159/IST0160),
// AuthorizationPolicy selectors and namespaces (IST0101/IST0127).
import type { Resource } from '../../model';
import { list, num, obj, str, strList } from '../../validate/common/access';
import { parseProtocol } from '../../validate/common/protocol';
import type { AnalysisContext, Analyzer } from '../context';
import { fullName, labelsOf, ns, selects, specOf, stringMap } from '../context';
import { podInAmbient, podInMesh } from '../in-mesh';
import { Messages } from '../messages';
import { selectorString } from './gateway';

const WELL_KNOWN_TCP = new Set([25, 53, 3306, 27017]);

/** The protocol Istio infers for a Kubernetes Service port. */
export function serviceProtocol(
  port: number,
  name: string,
  proto: string,
  appProtocol: string | undefined,
): string {
  if (proto === 'UDP') return 'UDP';
  let n = name;
  if (appProtocol !== undefined) {
    const special: Record<string, string> = {
      'kubernetes.io/h2c': 'HTTP2',
      'kubernetes.io/ws': 'HTTP',
      'kubernetes.io/wss': 'HTTPS',
    };
    if (special[appProtocol]) return special[appProtocol];
    n = appProtocol;
  }
  if (n.toLowerCase().startsWith('grpc-web')) return 'GRPC-Web';
  const dash = n.indexOf('-');
  const p = parseProtocol(dash >= 0 ? n.slice(0, dash) : n);
  if (p === 'Unsupported' && WELL_KNOWN_TCP.has(port)) return 'TCP';
  return p;
}

const isControlPlane = (r: Resource): boolean => 'istio' in labelsOf(r) || labelsOf(r).release === 'istio';
const GATEWAY_MANAGED = new Set([
  'istio.io-gateway-controller',
  'istio.io-mesh-controller',
  'istio.io-eastwest-controller',
]);

export const portNameAnalyzer: Analyzer = {
  name: 'service.PortNameAnalyzer',
  analyze(ctx: AnalysisContext): void {
    for (const svc of ctx.all('Service')) {
      if (isControlPlane(svc)) continue;
      if (GATEWAY_MANAGED.has(labelsOf(svc)['gateway.istio.io/managed'])) continue;
      const spec = specOf(svc);
      const external = spec.type === 'ExternalName';
      list(spec.ports).forEach((p, i) => {
        const port = obj(p) ?? {};
        const name = str(port.name);
        const proto = serviceProtocol(
          num(port.port),
          name,
          str(port.protocol),
          typeof port.appProtocol === 'string' ? port.appProtocol : undefined,
        );
        if (proto !== 'Unsupported' && !(name === 'tcp' && external)) return;
        if (external) {
          ctx.report(
            Messages.ExternalNameServiceTypeInvalidPortName,
            svc,
            'Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and unmatched traffic for ports serving TCP protocol from being forwarded correctly',
            `spec.ports[${i}].name`,
          );
        } else {
          const tp = port.targetPort === undefined ? String(num(port.port)) : String(port.targetPort);
          ctx.report(
            Messages.PortNameIsNotUnderNamingConvention,
            svc,
            `Port name ${name} (port: ${num(port.port)}, targetPort: ${tp}) doesn't follow the naming convention of Istio port.`,
            `spec.ports[${i}].name`,
          );
        }
      });
    }
  },
};

const namespaceInAmbient = (n: Resource | undefined): boolean =>
  !!n && labelsOf(n)['istio.io/dataplane-mode'] === 'ambient';
const names = (rs: Resource[]): string => `[${rs.map(fullName).sort().join(' ')}]`;

function selectorAnalysis(
  ctx: AnalysisContext,
  kind: 'Sidecar' | 'Telemetry',
  selectorOf: (r: Resource) => Record<string, string> | undefined,
): { byPod: Map<Resource, Resource[]>; unselected: Map<string, Resource[]> } {
  const byPod = new Map<Resource, Resource[]>();
  const unselected = new Map<string, Resource[]>();
  for (const r of ctx.all(kind)) {
    const sel = selectorOf(r);
    if (!sel || Object.keys(sel).length === 0) {
      unselected.set(ns(r), [...(unselected.get(ns(r)) ?? []), r]);
      continue;
    }
    let found = false;
    for (const pod of ctx.all('Pod')) {
      if (ns(pod) !== ns(r) || !selects(sel, labelsOf(pod))) continue;
      found = true;
      byPod.set(pod, [...(byPod.get(pod) ?? []), r]);
    }
    if (!found)
      ctx.report(
        Messages.ReferencedResourceNotFound,
        r,
        `Referenced selector not found: "${selectorString(sel)}"`,
      );
  }
  return { byPod, unselected };
}

export const sidecarSelectorAnalyzer: Analyzer = {
  name: 'sidecar.SelectorAnalyzer',
  analyze(ctx: AnalysisContext): void {
    const { byPod, unselected } = selectorAnalysis(ctx, 'Sidecar', (r) =>
      stringMap(obj(specOf(r).workloadSelector)?.labels),
    );
    const reported = new Set<Resource>();
    for (const [pod, sidecars] of byPod) {
      if (sidecars.length === 1 && !podInAmbient(pod)) continue;
      for (const s of sidecars) {
        if (podInAmbient(pod)) {
          if (!reported.has(s))
            ctx.report(
              Messages.IneffectivePolicy,
              s,
              'The policy has no impact: selected workload is in ambient mode, the policy has no impact.',
            );
          reported.add(s);
          continue;
        }
        ctx.report(
          Messages.ConflictingSidecarWorkloadSelectors,
          s,
          `The Sidecars ${names(sidecars)} in namespace "${ns(pod)}" select the same workload pod "${pod.name}", which can lead to undefined behavior.`,
        );
      }
    }
    for (const [namespace, sidecars] of unselected) {
      if (namespaceInAmbient(ctx.find('Namespace', '', namespace))) {
        for (const s of sidecars) {
          if (!reported.has(s))
            ctx.report(
              Messages.IneffectivePolicy,
              s,
              'The policy has no impact: namespace is in ambient mode, the policy has no impact.',
            );
          reported.add(s);
        }
        continue;
      }
      if (sidecars.length > 1) {
        for (const s of sidecars) {
          ctx.report(
            Messages.MultipleSidecarsWithoutWorkloadSelectors,
            s,
            `The Sidecars ${names(sidecars)} in namespace "${namespace}" have no workload selector, which can lead to undefined behavior.`,
          );
        }
      }
    }
  },
};

export const telemetryAnalyzers: Analyzer = {
  name: 'telemetry.Analyzers',
  analyze(ctx: AnalysisContext): void {
    const { byPod } = selectorAnalysis(ctx, 'Telemetry', (r) => {
      const sel = obj(specOf(r).selector);
      return sel ? stringMap(sel.matchLabels) : undefined;
    });
    for (const [pod, ts] of byPod) {
      if (ts.length === 1) continue;
      for (const t of ts) {
        ctx.report(
          Messages.ConflictingTelemetryWorkloadSelectors,
          t,
          `The Telemetries ${names(ts)} in namespace "${ns(pod)}" select the same workload pod "${pod.name}", which can lead to undefined behavior.`,
        );
      }
    }
    const noSelector = new Map<string, Resource[]>();
    for (const t of ctx.all('Telemetry')) {
      if (specOf(t).selector === undefined || specOf(t).selector === null)
        noSelector.set(ns(t), [...(noSelector.get(ns(t)) ?? []), t]);
    }
    for (const [namespace, ts] of noSelector) {
      if (ts.length <= 1) continue;
      for (const t of ts) {
        ctx.report(
          Messages.MultipleTelemetriesWithoutWorkloadSelectors,
          t,
          `The Telemetries ${names(ts)} in namespace "${namespace}" have no workload selector, which can lead to undefined behavior.`,
        );
      }
    }
    const defaults = list(obj(ctx.meshConfig.defaultProviders)?.accessLogging);
    if (defaults.length === 0) {
      for (const t of ctx.all('Telemetry')) {
        for (const l of list(specOf(t).accessLogging)) {
          const log = obj(l) ?? {};
          if (log.disabled === true) continue;
          if (list(log.providers).length === 0) {
            ctx.report(
              Messages.InvalidTelemetryProvider,
              t,
              `The Telemetry ${t.name} in namespace "${ns(t)}" with empty providers will be ignored.`,
            );
          }
        }
      }
    }
  },
};

/** Whether an AuthorizationPolicy `namespaces` / `notNamespaces` entry (exact, `prefix*`, `*suffix` or `*`) names `n`. */
function namespaceMatches(n: string, pattern: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*')) return n.endsWith(pattern.slice(1));
  if (pattern.endsWith('*')) return n.startsWith(pattern.slice(0, -1));
  return n.toLowerCase() === pattern.toLowerCase();
}

export const authorizationPoliciesAnalyzer: Analyzer = {
  name: 'auth.AuthorizationPoliciesAnalyzer',
  analyze(ctx: AnalysisContext): void {
    const rootNamespace = str(ctx.meshConfig.rootNamespace) || 'istio-system';
    const namespaces = ctx.all('Namespace').map((n) => n.name);
    // Only pods with a sidecar (or that will get one) or in ambient mode are enforced by a policy.
    const enforcedPods = ctx.all('Pod').filter((p) => podInMesh(ctx, p) || podInAmbient(p));
    for (const ap of ctx.all('AuthorizationPolicy', 'security.istio.io')) {
      const spec = specOf(ap);
      const sel = obj(spec.selector);
      const labels = sel ? stringMap(sel.matchLabels) : {};
      const meshWide = ns(ap) === rootNamespace;
      const inScope = enforcedPods.filter((p) => meshWide || ns(p) === ns(ap));
      if (sel) {
        if (!inScope.some((p) => selects(labels, labelsOf(p)))) {
          ctx.report(
            Messages.NoMatchingWorkloadsFound,
            ap,
            `No matching workloads for this resource with the following labels: ${selectorString(labels)}`,
            'spec.selector',
          );
        }
      } else if (!meshWide && inScope.length === 0) {
        // A namespace-wide policy in a namespace without enforced workloads has no effect.
        ctx.report(
          Messages.NoMatchingWorkloadsFound,
          ap,
          'No matching workloads for this resource with the following labels: ',
        );
      }
      list(spec.rules).forEach((rule, i) => {
        list(obj(rule)?.from).forEach((f, j) => {
          const source = obj(obj(f)?.source);
          for (const field of ['namespaces', 'notNamespaces']) {
            strList(source?.[field]).forEach((pattern, k) => {
              if (namespaces.some((n) => namespaceMatches(n, pattern))) return;
              ctx.report(
                Messages.ReferencedResourceNotFound,
                ap,
                `Referenced namespace not found: "${pattern}"`,
                `spec.rules[${i}].from[${j}].source.${field}[${k}]`,
              );
            });
          }
        });
      });
    }
  },
};
