// Services selecting a Deployment's pods (Istio's deployment.ServiceAssociationAnalyzer): one port offered with
// different protocols by several Services (IST0116), and one target port reached through different Service ports
// (IST0137). Only Deployments whose pods run in the mesh are checked, since only their proxies are confused by it.
import type { Resource } from '../../model';
import { list, num, obj, str } from '../../validate/common/access';
import type { AnalysisContext, Analyzer } from '../context';
import { fullName, labelsOf, ns, selects, specOf, stringMap } from '../context';
import { ISTIO_PROXY, INJECTION_LABEL, SIDECAR_INJECT } from '../in-mesh';
import { Messages } from '../messages';

/** Waypoint proxies are Deployments Istio manages itself. */
const isWaypoint = (d: Resource): boolean =>
  labelsOf(d)['gateway.istio.io/managed'] === 'istio.io-mesh-controller';

/** The in-mesh rule for a Deployment's pod template (Istio's util.DeploymentInMesh). */
function deploymentInMesh(ctx: AnalysisContext, d: Resource): boolean {
  const template = obj(specOf(d).template) ?? {};
  const metadata = obj(template.metadata) ?? {};
  const containers = list(obj(template.spec)?.containers);
  if (containers.some((c) => obj(c)?.name === ISTIO_PROXY && str(obj(c)?.image) !== '')) return true;
  const labels = stringMap(metadata.labels);
  if (SIDECAR_INJECT in labels) return labels[SIDECAR_INJECT] === 'true';
  const annotations = stringMap(metadata.annotations);
  if (SIDECAR_INJECT in annotations) return annotations[SIDECAR_INJECT] === 'true';
  const namespace = ctx.find('Namespace', '', ns(d));
  return !!namespace && labelsOf(namespace)[INJECTION_LABEL] === 'enabled';
}

interface ServicePort {
  readonly service: string;
  readonly port: number;
  readonly protocol: string;
  readonly targetPort: string;
}

/** The ports of the Services in the Deployment's namespace whose (non-empty) selector matches its pod labels. */
function matchingServicePorts(ctx: AnalysisContext, d: Resource): ServicePort[] {
  const podLabels = stringMap(obj(obj(specOf(d).template)?.metadata)?.labels);
  const out: ServicePort[] = [];
  for (const svc of ctx.all('Service')) {
    const selector = stringMap(specOf(svc).selector);
    if (ns(svc) !== ns(d) || Object.keys(selector).length === 0 || !selects(selector, podLabels)) continue;
    for (const p of list(specOf(svc).ports)) {
      const port = obj(p) ?? {};
      const target = port.targetPort;
      const targetPort =
        target === undefined || target === null || target === 0 || target === ''
          ? String(num(port.port))
          : String(target);
      out.push({
        service: fullName(svc),
        port: num(port.port),
        protocol: str(port.protocol) || 'TCP',
        targetPort,
      });
    }
  }
  return out;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string | number): Map<string | number, T[]> {
  const groups = new Map<string | number, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

export const serviceAssociationAnalyzer: Analyzer = {
  name: 'deployment.ServiceAssociationAnalyzer',
  analyze(ctx: AnalysisContext): void {
    for (const d of ctx.all('Deployment')) {
      if (isWaypoint(d) || !deploymentInMesh(ctx, d)) continue;
      const ports = matchingServicePorts(ctx, d);

      for (const [port, onPort] of groupBy(ports, (p) => p.port)) {
        if (new Set(onPort.map((p) => p.protocol)).size < 2) continue;
        const services = onPort.map((p) => p.service).sort();
        ctx.report(
          Messages.DeploymentAssociatedToMultipleServices,
          d,
          `This deployment ${d.name} is associated with multiple services using port ${port} but different protocols: [${services.join(' ')}]`,
          'metadata.name',
        );
      }

      for (const [targetPort, onTarget] of groupBy(ports, (p) => p.targetPort)) {
        // One entry per distinct service port (the last service listing it wins, as in Istio).
        const serviceByPort = new Map(onTarget.map((p) => [p.port, p.service]));
        if (serviceByPort.size < 2) continue;
        const services = [...serviceByPort.values()].sort();
        const servicePorts = [...serviceByPort.keys()].sort((a, b) => a - b);
        ctx.report(
          Messages.DeploymentConflictingPorts,
          d,
          `This deployment ${d.name} is associated with multiple services [${services.join(' ')}] using targetPort "${targetPort}" but different ports: [${servicePorts.join(' ')}].`,
          'metadata.name',
        );
      }
    }
  },
};
