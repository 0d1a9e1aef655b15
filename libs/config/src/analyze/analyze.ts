// Runs analyzers over a set of resources and returns Istio-style messages.
import type { Resource } from '../model';
import type { Registry } from '../registry';
import type { Obj } from '../schema/types';
import { validateResource } from '../validate/resource';
import type { ValidationResult } from '../validate/resource';
import { caCertificateAnalyzer } from './analyzers/destination-rule';
import { envoyPatchAnalyzer } from './analyzers/envoy-filter';
import {
  certificateAnalyzer,
  conflictingGatewayAnalyzer,
  ingressGatewayPortAnalyzer,
  secretAnalyzer,
} from './analyzers/gateway';
import {
  applicationUIDAnalyzer,
  blockedCIDRsAnalyzer,
  conditionAnalyzer,
  deprecationAnalyzer,
  kubernetesGatewaySelectorAnalyzer,
  podNotSelectedAnalyzer,
} from './analyzers/misc';
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
  ];
}

export interface AnalyzeOptions {
  readonly registry: Registry;
  /** MeshConfig (as YAML-decoded object); empty means Istio's defaults. */
  readonly meshConfig?: Obj;
  readonly analyzers?: readonly Analyzer[];
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
  const ctx = new AnalysisContext([...resources, ...defaults], meshConfig, validationOf);
  for (const a of options.analyzers ?? defaultAnalyzers()) a.analyze(ctx);
  return defaults.length === 0
    ? ctx.messages
    : ctx.messages.filter((m) => !m.resource || !defaults.includes(m.resource));
}
