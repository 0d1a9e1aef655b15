// Runs analyzers over a set of resources and returns Istio-style messages.
import { load } from 'js-yaml';
import type { Resource } from '../model';
import { effectiveNamespace } from '../model';
import type { Registry } from '../registry';
import type { Obj } from '../schema/types';
import { validateResource } from '../validate/resource';
import type { ValidationResult } from '../validate/resource';
import { alphaAnnotationAnalyzer, annotationsAnalyzer } from './analyzers/annotations';
import { serviceAssociationAnalyzer } from './analyzers/deployments';
import { caCertificateAnalyzer } from './analyzers/destination-rule';
import { envoyPatchAnalyzer } from './analyzers/envoy-filter';
import {
  certificateAnalyzer,
  conflictingGatewayAnalyzer,
  ingressGatewayPortAnalyzer,
  secretAnalyzer,
} from './analyzers/gateway';
import { gatewayCRDVersionAnalyzer } from './analyzers/gateway-api';
import { imageAutoAnalyzer, injectionAnalyzer, proxyImageAnalyzer } from './analyzers/injection';
import {
  applicationUIDAnalyzer,
  blockedCIDRsAnalyzer,
  conditionAnalyzer,
  deprecationAnalyzer,
  kubernetesGatewaySelectorAnalyzer,
  podNotSelectedAnalyzer,
} from './analyzers/misc';
import { meshNetworksAnalyzer } from './analyzers/multicluster';
import { schemaAnalyzer } from './analyzers/schema';
import {
  conflictingServiceEntryProtocolAnalyzer,
  protocolAddressesAnalyzer,
} from './analyzers/service-entry';
import {
  conflictingMeshGatewayHostsAnalyzer,
  destinationHostAnalyzer,
  destinationRuleAnalyzer,
  gatewayAnalyzer,
  jwtClaimRouteAnalyzer,
} from './analyzers/virtual-service';
import { externalControlPlaneAnalyzer, webhookAnalyzer } from './analyzers/webhooks';
import {
  authorizationPoliciesAnalyzer,
  portNameAnalyzer,
  sidecarSelectorAnalyzer,
  telemetryAnalyzers,
} from './analyzers/workloads';
import type { AnalysisMessage, Analyzer } from './context';
import { AnalysisContext } from './context';
import { defaultResources } from './defaults';

/** The analyzers `flotilla analyze` runs, in order. */
export function defaultAnalyzers(): Analyzer[] {
  return [
    schemaAnalyzer,
    caCertificateAnalyzer,
    conflictingMeshGatewayHostsAnalyzer,
    gatewayAnalyzer,
    destinationHostAnalyzer,
    destinationRuleAnalyzer,
    jwtClaimRouteAnalyzer,
    ingressGatewayPortAnalyzer,
    conflictingGatewayAnalyzer,
    secretAnalyzer,
    certificateAnalyzer,
    envoyPatchAnalyzer,
    portNameAnalyzer,
    sidecarSelectorAnalyzer,
    telemetryAnalyzers,
    authorizationPoliciesAnalyzer,
    protocolAddressesAnalyzer,
    conflictingServiceEntryProtocolAnalyzer,
    deprecationAnalyzer,
    conditionAnalyzer,
    applicationUIDAnalyzer,
    blockedCIDRsAnalyzer,
    podNotSelectedAnalyzer,
    kubernetesGatewaySelectorAnalyzer,
    annotationsAnalyzer,
    // istioctl runs this one only in `istioctl x precheck`; Flotilla reports alpha annotations in analyze too.
    alphaAnnotationAnalyzer,
    injectionAnalyzer,
    proxyImageAnalyzer,
    imageAutoAnalyzer,
    serviceAssociationAnalyzer,
    webhookAnalyzer,
    externalControlPlaneAnalyzer,
    meshNetworksAnalyzer,
    gatewayCRDVersionAnalyzer,
  ];
}

export interface AnalyzeOptions {
  readonly registry: Registry;
  /** MeshConfig (as YAML-decoded object); empty means Istio's defaults. */
  readonly meshConfig?: Obj;
  readonly analyzers?: readonly Analyzer[];
  /** MeshNetworks (as YAML-decoded object); by default read from the `istio` ConfigMap's `meshNetworks` key. */
  readonly meshNetworks?: Obj;
  /** Add the resources a files-only `istioctl analyze` assumes (default ingress gateway); default true. */
  readonly addDefaults?: boolean;
}

export function analyzeResources(resources: readonly Resource[], options: AnalyzeOptions): AnalysisMessage[] {
  const results = new Map<Resource, ValidationResult>();
  const validationOf = (r: Resource): ValidationResult => {
    let v = results.get(r);
    if (!v) {
      v = validateResource(r, options.registry);
      results.set(r, v);
    }
    return v;
  };
  const meshConfig = options.meshConfig ?? {};
  const defaults = options.addDefaults === false ? [] : defaultResources(meshConfig);
  const meshNetworks = options.meshNetworks ?? meshNetworksFromInputs(resources);
  const ctx = new AnalysisContext([...resources, ...defaults], meshConfig, validationOf, meshNetworks);
  for (const a of options.analyzers ?? defaultAnalyzers()) a.analyze(ctx);
  const messages = withoutDuplicates(ctx.messages);
  return defaults.length === 0
    ? messages
    : messages.filter((m) => !m.resource || !defaults.includes(m.resource));
}

/**
 * Drops repeated messages, as istioctl does (diag.Messages.SortedDedupedCopy): an analyzer may find the same
 * problem several times, e.g. once per label combination it tries. Messages at different places stay distinct.
 */
function withoutDuplicates(messages: readonly AnalysisMessage[]): AnalysisMessage[] {
  const seen = new Set<string>();
  return messages.filter((m) => {
    const key = [m.level, m.code, m.origin, m.resource?.source.file ?? '', m.path ?? '', m.message].join(
      '\n',
    );
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** MeshNetworks as Istio stores it: YAML under `meshNetworks` in the `istio` ConfigMap of istio-system. */
function meshNetworksFromInputs(resources: readonly Resource[]): Obj {
  const configMap = resources.find(
    (r) => r.kind === 'ConfigMap' && r.name === 'istio' && effectiveNamespace(r) === 'istio-system',
  );
  const text = (configMap?.object.data as Obj | undefined)?.meshNetworks;
  if (typeof text !== 'string') return {};
  try {
    const parsed = load(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Obj) : {};
  } catch {
    return {};
  }
}
