// Istio's documented resource annotations: where each may be placed, its maturity and whether it is deprecated.
// The facts come from the istio/api annotation reference (annotation/annotations.yaml); entries without a stated
// feature status are Alpha there. `Any` means the annotation may be placed on any kind.

export type FeatureStatus = 'Alpha' | 'Beta' | 'Stable';

export interface AnnotationDefinition {
  readonly name: string;
  readonly status: FeatureStatus;
  readonly deprecated: boolean;
  /** Kinds the annotation applies to, or `Any`. */
  readonly kinds: readonly string[];
}

const POD = ['Pod'];
const SERVICE = ['Service'];

const def = (
  name: string,
  kinds: readonly string[],
  status: FeatureStatus = 'Alpha',
  deprecated = false,
): AnnotationDefinition => ({ name, kinds, status, deprecated });

const deprecated = (name: string, kinds: readonly string[], status: FeatureStatus = 'Alpha') =>
  def(name, kinds, status, true);

export const ISTIO_ANNOTATIONS: readonly AnnotationDefinition[] = [
  // Services and traffic
  deprecated('alpha.istio.io/kubernetes-serviceaccounts', SERVICE),
  deprecated('alpha.istio.io/canonical-serviceaccounts', SERVICE),
  def('networking.istio.io/exportTo', SERVICE),
  def('traffic.istio.io/nodeSelector', SERVICE, 'Stable'),
  def('networking.istio.io/traffic-distribution', ['Namespace', 'Service', 'ServiceEntry']),
  def('istio.io/use-waypoint-canary-weight', ['Service', 'ServiceEntry', 'Namespace']),
  def('networking.istio.io/service-type', ['Gateway']),
  def('kubernetes.io/ingress.class', ['Ingress'], 'Stable'),
  def('topology.istio.io/controlPlaneClusters', ['Namespace']),

  // Sidecar injection and the proxy container
  deprecated('sidecar.istio.io/inject', POD, 'Beta'),
  def('sidecar.istio.io/status', POD),
  def('sidecar.istio.io/rewriteAppHTTPProbers', POD),
  deprecated('sidecar.istio.io/discoveryAddress', POD),
  def('sidecar.istio.io/proxyImage', POD),
  def('sidecar.istio.io/proxyImageType', POD),
  def('sidecar.istio.io/proxyCPU', POD),
  def('sidecar.istio.io/proxyCPULimit', POD),
  def('sidecar.istio.io/proxyMemory', POD),
  def('sidecar.istio.io/proxyMemoryLimit', POD),
  def('sidecar.istio.io/interceptionMode', POD),
  def('sidecar.istio.io/bootstrapOverride', POD),
  def('sidecar.istio.io/userVolume', POD),
  def('sidecar.istio.io/userVolumeMount', POD),
  def('sidecar.istio.io/logLevel', POD),
  def('sidecar.istio.io/componentLogLevel', POD),
  def('sidecar.istio.io/agentLogLevel', POD),
  def('sidecar.istio.io/nativeSidecar', POD),
  def('inject.istio.io/templates', POD),
  def('proxy.istio.io/config', POD, 'Beta'),
  def('proxy.istio.io/overrides', POD),
  def('istio.io/rev', POD),

  // Proxy statistics
  def('prometheus.istio.io/merge-metrics', POD),
  deprecated('sidecar.istio.io/statsInclusionPrefixes', POD),
  deprecated('sidecar.istio.io/statsInclusionSuffixes', POD),
  deprecated('sidecar.istio.io/statsInclusionRegexps', POD),
  def('sidecar.istio.io/statsHistogramBuckets', POD),
  def('sidecar.istio.io/statsFlushInterval', POD),
  def('sidecar.istio.io/statsEvictionInterval', POD),
  def('sidecar.istio.io/statsHistogramBins', POD),
  deprecated('sidecar.istio.io/extraStatTags', POD),
  deprecated('sidecar.istio.io/statsCompression', POD),

  // Health checking
  def('status.sidecar.istio.io/port', POD),
  def('readiness.status.sidecar.istio.io/initialDelaySeconds', POD),
  def('readiness.status.sidecar.istio.io/periodSeconds', POD),
  def('readiness.status.sidecar.istio.io/failureThreshold', POD),
  def('readiness.status.sidecar.istio.io/applicationPorts', POD),

  // Traffic capture
  def('traffic.sidecar.istio.io/includeOutboundIPRanges', POD),
  def('traffic.sidecar.istio.io/excludeOutboundIPRanges', POD),
  def('traffic.sidecar.istio.io/includeInboundPorts', POD),
  def('traffic.sidecar.istio.io/excludeInboundPorts', POD),
  def('traffic.sidecar.istio.io/excludeInterfaces', POD),
  def('traffic.sidecar.istio.io/includeOutboundPorts', POD),
  def('traffic.sidecar.istio.io/excludeOutboundPorts', POD),
  deprecated('traffic.sidecar.istio.io/kubevirtInterfaces', POD),
  def('istio.io/reroute-virtual-interfaces', POD),

  // Ambient mode
  def('ambient.istio.io/redirection', POD, 'Beta'),
  def('ambient.istio.io/bypass-inbound-capture', POD),
  def('ambient.istio.io/dns-capture', POD),
  def('ambient.istio.io/waypoint-inbound-binding', ['GatewayClass', 'Gateway']),

  // Gateways, policies and workload entries
  def('gateway.istio.io/controller-version', ['Any']),
  def('gateway.istio.io/service-account', ['Gateway']),
  def('gateway.istio.io/name-override', ['Gateway']),
  def('galley.istio.io/analyze-suppress', ['Any']),
  def('istio.io/dry-run', ['AuthorizationPolicy']),
  def('istio.io/autoRegistrationGroup', ['WorkloadEntry']),
  def('istio.io/workloadController', ['WorkloadEntry']),
  def('istio.io/connectedAt', ['WorkloadEntry']),
  def('istio.io/disconnectedAt', ['WorkloadEntry']),
];

const BY_NAME = new Map(ISTIO_ANNOTATIONS.map((a) => [a.name, a]));

export function lookupAnnotation(name: string): AnnotationDefinition | undefined {
  return BY_NAME.get(name);
}

/** Istio claims every annotation under a `*istio.io/` prefix, plus the Ingress class it documents. */
export function isIstioAnnotation(name: string): boolean {
  if (name === 'kubernetes.io/ingress.class') return true;
  return name.split('/')[0].endsWith('istio.io');
}
