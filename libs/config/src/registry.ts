// The kinds this library understands, as an explicit value: callers create a registry and pass it along.
import { compile } from './schema/compile';
import type { Check } from './schema/compile';
import { attributeManifestSpec, handlerSpec, instanceSpec, ruleSpec } from './schema/kinds/mixer';
import { trafficExtensionSpec, wasmPluginSpec } from './schema/kinds/extensions';
import {
  destinationRuleSpec,
  envoyFilterSpec,
  gatewaySpec,
  proxyConfigSpec,
  serviceEntrySpec,
  sidecarSpec,
  virtualServiceSpec,
  workloadEntrySpec,
  workloadGroupSpec,
} from './schema/kinds/networking';
import {
  authorizationPolicySpec,
  peerAuthenticationSpec,
  requestAuthenticationSpec,
} from './schema/kinds/security';
import { telemetrySpec } from './schema/kinds/telemetry';
import type { Schema } from './schema/types';
import { validatePeerAuthentication, validateRequestAuthentication } from './validate/authentication';
import { validateAuthorizationPolicy } from './validate/authorization-policy';
import type { SemanticValidator } from './validate/common/context';
import { validateDestinationRule } from './validate/destination-rule';
import { validateEnvoyFilter } from './validate/envoy-filter';
import { validateTrafficExtension, validateWasmPlugin } from './validate/extensions';
import { validateGateway } from './validate/gateway';
import { validateProxyConfig } from './validate/proxy-config';
import { validateServiceEntry } from './validate/service-entry';
import { validateSidecar } from './validate/sidecar';
import { validateTelemetry } from './validate/telemetry';
import { validateVirtualService } from './validate/virtual-service';
import { validateWorkloadEntry, validateWorkloadGroup } from './validate/workload-entry';

export interface KindDefinition {
  readonly group: string;
  readonly kind: string;
  /** Served versions, newest (storage) first. */
  readonly versions: readonly string[];
  readonly plural: string;
  readonly shortNames?: readonly string[];
  readonly categories?: readonly string[];
  /** The CRD marks `spec` as required. */
  readonly specRequired: boolean;
  readonly spec: Schema;
  /** Webhook-level semantic checks; absent for kinds Istio only checks structurally. */
  readonly semantic?: SemanticValidator;
}

export interface RegisteredKind extends KindDefinition {
  /** The compiled structural check of `spec`. */
  readonly checkSpec: Check;
}

export interface Registry {
  get(group: string, kind: string): RegisteredKind | undefined;
  all(): readonly RegisteredKind[];
}

const NET = 'networking.istio.io';
const SEC = 'security.istio.io';
const ALL_NET = ['v1', 'v1alpha3', 'v1beta1'];

/** Istio's current kinds plus the Istio 1.4 Mixer kinds. */
export function istioKindDefinitions(): KindDefinition[] {
  const def = (
    group: string,
    kind: string,
    versions: string[],
    plural: string,
    spec: Schema,
    semantic: SemanticValidator | undefined,
    specRequired = false,
    shortNames: string[] = [],
  ): KindDefinition => ({
    group,
    kind,
    versions,
    plural,
    spec,
    semantic,
    specRequired,
    shortNames,
    categories: ['istio-io'],
  });
  return [
    def(
      NET,
      'VirtualService',
      ALL_NET,
      'virtualservices',
      virtualServiceSpec(),
      validateVirtualService,
      false,
      ['vs'],
    ),
    def(
      NET,
      'DestinationRule',
      ALL_NET,
      'destinationrules',
      destinationRuleSpec(),
      validateDestinationRule,
      false,
      ['dr'],
    ),
    def(NET, 'Gateway', ALL_NET, 'gateways', gatewaySpec(), validateGateway, false, ['gw']),
    def(NET, 'ServiceEntry', ALL_NET, 'serviceentries', serviceEntrySpec(), validateServiceEntry, true, [
      'se',
    ]),
    def(NET, 'Sidecar', ALL_NET, 'sidecars', sidecarSpec(), validateSidecar),
    def(NET, 'WorkloadEntry', ALL_NET, 'workloadentries', workloadEntrySpec(), validateWorkloadEntry, true, [
      'we',
    ]),
    def(NET, 'WorkloadGroup', ALL_NET, 'workloadgroups', workloadGroupSpec(), validateWorkloadGroup, true, [
      'wg',
    ]),
    def(NET, 'EnvoyFilter', ['v1alpha3'], 'envoyfilters', envoyFilterSpec(), validateEnvoyFilter),
    def(NET, 'ProxyConfig', ['v1beta1'], 'proxyconfigs', proxyConfigSpec(), validateProxyConfig),
    def(
      SEC,
      'AuthorizationPolicy',
      ['v1', 'v1beta1'],
      'authorizationpolicies',
      authorizationPolicySpec(),
      validateAuthorizationPolicy,
      false,
      ['ap'],
    ),
    def(
      SEC,
      'PeerAuthentication',
      ['v1', 'v1beta1'],
      'peerauthentications',
      peerAuthenticationSpec(),
      validatePeerAuthentication,
      false,
      ['pa'],
    ),
    def(
      SEC,
      'RequestAuthentication',
      ['v1', 'v1beta1'],
      'requestauthentications',
      requestAuthenticationSpec(),
      validateRequestAuthentication,
      false,
      ['ra'],
    ),
    def(
      'telemetry.istio.io',
      'Telemetry',
      ['v1', 'v1alpha1'],
      'telemetries',
      telemetrySpec(),
      validateTelemetry,
      false,
      ['telemetry'],
    ),
    def(
      'extensions.istio.io',
      'WasmPlugin',
      ['v1alpha1'],
      'wasmplugins',
      wasmPluginSpec(),
      validateWasmPlugin,
      true,
    ),
    def(
      'extensions.istio.io',
      'TrafficExtension',
      ['v1alpha1'],
      'trafficextensions',
      trafficExtensionSpec(),
      validateTrafficExtension,
      true,
    ),
    def('config.istio.io', 'handler', ['v1alpha2'], 'handlers', handlerSpec(), undefined),
    def('config.istio.io', 'instance', ['v1alpha2'], 'instances', instanceSpec(), undefined),
    def('config.istio.io', 'rule', ['v1alpha2'], 'rules', ruleSpec(), undefined),
    def(
      'config.istio.io',
      'attributemanifest',
      ['v1alpha2'],
      'attributemanifests',
      attributeManifestSpec(),
      undefined,
    ),
  ];
}

/** Compiles the given kinds (each schema once) into a registry. */
export function createRegistry(definitions: readonly KindDefinition[] = istioKindDefinitions()): Registry {
  // Group, then kind: two lookups of strings the parser already holds, instead of hashing a fresh
  // "group/kind" string per resource (which showed in validation profiles).
  const byGroup = new Map<string, Map<string, RegisteredKind>>();
  const all: RegisteredKind[] = [];
  for (const d of definitions) {
    const r: RegisteredKind = { ...d, checkSpec: compile(d.spec) };
    let kinds = byGroup.get(d.group);
    if (!kinds) byGroup.set(d.group, (kinds = new Map()));
    kinds.set(d.kind, r);
    all.push(r);
  }
  return {
    get: (group, kind) => byGroup.get(group)?.get(kind),
    all: () => all,
  };
}
