// Smaller analyzers: deprecations (IST0002), negative conditions (IST0171), UID 1337 (IST0144), unrestricted JWKS
// fetches (IST0175), DestinationRule hosts and subsets (IST0173/IST0174), selectors ignored on Kubernetes Gateway
// pods (IST0166).
import type { Resource } from '../../model';
import { list, num, obj, str } from '../../validate/common/access';
import type { AnalysisContext, Analyzer } from '../context';
import { fullName, labelsOf, ns, selects, specOf, stringMap } from '../context';
import { Messages } from '../messages';
import { findService } from '../services';

const REMOVED_CRDS = new Set([
  'config.istio.io/QuotaSpec',
  'config.istio.io/QuotaSpecBinding',
  'networking.istio.io/MeshPolicy',
]);

export const deprecationAnalyzer: Analyzer = {
  name: 'deprecation.FieldAnalyzer',
  analyze(ctx: AnalysisContext): void {
    for (const vs of ctx.all('VirtualService', 'networking.istio.io')) {
      for (const h of list(specOf(vs).http)) {
        if (num(obj(obj(obj(h)?.fault)?.delay)?.percent) > 0) {
          ctx.report(
            Messages.Deprecated,
            vs,
            'Deprecated: HTTPRoute.fault.delay.percent is deprecated; use HTTPRoute.fault.delay.percentage',
          );
        }
      }
    }
    for (const sc of ctx.all('Sidecar', 'networking.istio.io')) {
      if (obj(obj(specOf(sc).outboundTrafficPolicy)?.egressProxy)) {
        ctx.report(Messages.Deprecated, sc, 'Deprecated: OutboundTrafficPolicy.EgressProxy ignored');
      }
    }
    for (const crd of ctx.all('CustomResourceDefinition')) {
      const spec = specOf(crd);
      const key = `${str(spec.group)}/${str(obj(spec.names)?.kind)}`;
      if (REMOVED_CRDS.has(key))
        ctx.report(
          Messages.Deprecated,
          crd,
          `Deprecated: Custom resource type ${key.replace('/', ' ')} is removed`,
        );
    }
    const lightstep = new Set(
      list(ctx.meshConfig.extensionProviders)
        .map((p) => obj(p))
        .filter((p) => p && obj(p.lightstep))
        .map((p) => str(p!.name)),
    );
    if (lightstep.size > 0) {
      for (const t of ctx.all('Telemetry')) {
        for (const tr of list(specOf(t).tracing)) {
          for (const p of list(obj(tr)?.providers)) {
            const name = str(obj(p)?.name);
            if (lightstep.has(name)) {
              ctx.report(
                Messages.Deprecated,
                t,
                `Deprecated: The Lightstep provider ${name} is deprecated, please migrate to OpenTelemetry provider.`,
              );
            }
          }
        }
      }
    }
  },
};

const NEGATIVE: Record<string, readonly string[]> = {
  Service: ['istio.io/WaypointBound'],
  ServiceEntry: ['istio.io/WaypointBound'],
  WorkloadEntry: ['istio.io/WaypointBound'],
  AuthorizationPolicy: ['ZtunnelAccepted', 'WaypointAccepted'],
  Gateway: ['Accepted', 'Programmed', 'ResolvedRefs'],
  HTTPRoute: ['Accepted', 'Programmed', 'ResolvedRefs'],
  GRPCRoute: ['Accepted', 'Programmed', 'ResolvedRefs'],
};

export const conditionAnalyzer: Analyzer = {
  name: 'conditions.ConditionAnalyzer',
  analyze(ctx: AnalysisContext): void {
    for (const [kind, types] of Object.entries(NEGATIVE)) {
      const group = kind === 'Gateway' || kind.endsWith('Route') ? 'gateway.networking.k8s.io' : undefined;
      for (const r of ctx.all(kind, group)) {
        const status = obj(r.object.status);
        const conditions = kind.endsWith('Route')
          ? list(status?.parents).flatMap((p) => [...list(obj(p)?.conditions)])
          : list(status?.conditions);
        for (const c of conditions) {
          const cond = obj(c) ?? {};
          const type = str(cond.type);
          const report =
            (types.includes(type) && cond.status === 'False') ||
            (kind === 'AuthorizationPolicy' &&
              type === 'WaypointAccepted' &&
              cond.reason === 'PartiallyInvalid');
          if (report) {
            ctx.report(
              Messages.NegativeConditionStatus,
              r,
              `A condition with a negative status is present: type=${type}, reason=${str(cond.reason)}, message=${str(cond.message)}.`,
            );
          }
        }
      }
    }
  },
};

const isControlPlane = (r: Resource): boolean => 'istio' in labelsOf(r) || labelsOf(r).release === 'istio';

export const applicationUIDAnalyzer: Analyzer = {
  name: 'deployment.ApplicationUIDAnalyzer',
  analyze(ctx: AnalysisContext): void {
    const check = (r: Resource, podSpec: Record<string, unknown> | undefined): void => {
      if (!podSpec || isControlPlane(r)) return;
      const text = 'User ID (UID) 1337 is reserved for the sidecar proxy.';
      if (obj(podSpec.securityContext)?.runAsUser === 1337)
        ctx.report(Messages.InvalidApplicationUID, r, text);
      for (const c of list(podSpec.containers)) {
        const container = obj(c) ?? {};
        if (container.name === 'istio-proxy' || container.name === 'istio-operator') continue;
        if (obj(container.securityContext)?.runAsUser === 1337)
          ctx.report(Messages.InvalidApplicationUID, r, text);
      }
    };
    for (const p of ctx.all('Pod')) check(p, specOf(p));
    for (const d of ctx.all('Deployment')) check(d, obj(obj(specOf(d).template)?.spec));
  },
};

export const blockedCIDRsAnalyzer: Analyzer = {
  name: 'authn.BlockedCIDRsAnalyzer',
  analyze(ctx: AnalysisContext): void {
    const ras = ctx.all('RequestAuthentication', 'security.istio.io').map(fullName);
    if (ras.length === 0) return;
    for (const d of ctx.all('Deployment')) {
      if (labelsOf(d).app !== 'istiod') continue;
      const containers = list(obj(obj(specOf(d).template)?.spec)?.containers);
      const configured = containers.some((c) =>
        list(obj(c)?.env).some(
          (e) => str(obj(e)?.name) === 'BLOCKED_CIDRS_IN_JWKS_URIS' && str(obj(e)?.value) !== '',
        ),
      );
      if (configured) continue;
      const names =
        ras.length <= 5 ? ras.join(', ') : `${ras.slice(0, 5).join(', ')}, and ${ras.length - 5} more`;
      ctx.report(
        Messages.JwksUriFetchUnrestricted,
        d,
        `BLOCKED_CIDRS_IN_JWKS_URIS is not configured but ${ras.length} RequestAuthentication resource(s) exist (${names}). Consider configuring it to restrict JWKS URI fetches to trusted networks.`,
      );
    }
  },
};

export const podNotSelectedAnalyzer: Analyzer = {
  name: 'destinationrule.PodNotSelectedAnalyzer',
  analyze(ctx: AnalysisContext): void {
    const nodes = new Map(ctx.all('Node').map((n) => [n.name, labelsOf(n)]));
    const podLabels = ctx.all('Pod').map((p) => {
      const labels = { ...labelsOf(p) };
      const nodeName = str(specOf(p).nodeName);
      const node = nodes.get(nodeName);
      if (node) {
        for (const k of [
          'topology.kubernetes.io/region',
          'topology.kubernetes.io/zone',
          'topology.istio.io/subzone',
        ]) {
          if (node[k] && labels[k] === undefined) labels[k] = node[k];
        }
      }
      if (nodeName !== '' && labels['kubernetes.io/hostname'] === undefined)
        labels['kubernetes.io/hostname'] = nodeName;
      return labels;
    });
    for (const dr of ctx.all('DestinationRule', 'networking.istio.io')) {
      const host = str(specOf(dr).host);
      const svc = findService(ctx, host, ns(dr));
      if (!svc) {
        ctx.report(
          Messages.UnknownDestinationRuleHost,
          dr,
          `The host ${host} defined in the DestinationRule does not match any services in the mesh.`,
        );
        continue;
      }
      const base =
        svc.resource.kind === 'Service'
          ? stringMap(specOf(svc.resource).selector)
          : stringMap(obj(specOf(svc.resource).workloadSelector)?.labels);
      for (const s of list(specOf(dr).subsets)) {
        const subset = obj(s) ?? {};
        const selector = { ...base, ...stringMap(subset.labels) };
        if (!podLabels.some((l) => selects(selector, l))) {
          ctx.report(
            Messages.DestinationRuleSubsetNotSelectPods,
            dr,
            `The Subset ${str(subset.name)} defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream).`,
          );
        }
      }
    }
  },
};

const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

export const kubernetesGatewaySelectorAnalyzer: Analyzer = {
  name: 'k8sgateway.SelectorAnalyzer',
  analyze(ctx: AnalysisContext): void {
    const pods = ctx.all('Pod').filter((p) => GATEWAY_NAME_LABEL in labelsOf(p));
    for (const kind of ['AuthorizationPolicy', 'RequestAuthentication', 'Telemetry', 'WasmPlugin']) {
      for (const r of ctx.all(kind)) {
        const spec = specOf(r);
        if (spec.targetRef !== undefined) continue;
        const sel = obj(spec.selector);
        if (!sel) continue;
        const match = stringMap(sel.matchLabels);
        for (const p of pods) {
          if (ns(p) === ns(r) && selects(match, labelsOf(p))) {
            ctx.report(
              Messages.IneffectiveSelector,
              r,
              `Ineffective selector on Kubernetes Gateway ${labelsOf(p)[GATEWAY_NAME_LABEL]}. Use the TargetRef field instead.`,
            );
          }
        }
      }
    }
  },
};
