// Istio's analysis message types (code, name, level) used by the analyzers.

export type Level = 'Error' | 'Warning' | 'Info';

export interface MessageType {
  readonly code: string;
  readonly name: string;
  readonly level: Level;
}

const t = (code: string, name: string, level: Level): MessageType => ({ code, name, level });

export const Messages = {
  Deprecated: t('IST0002', 'Deprecated', 'Warning'),
  ReferencedResourceNotFound: t('IST0101', 'ReferencedResourceNotFound', 'Error'),
  NamespaceNotInjected: t('IST0102', 'NamespaceNotInjected', 'Info'),
  PodMissingProxy: t('IST0103', 'PodMissingProxy', 'Warning'),
  GatewayPortNotOnWorkload: t('IST0104', 'GatewayPortNotOnWorkload', 'Warning'),
  SchemaValidationError: t('IST0106', 'SchemaValidationError', 'Error'),
  MisplacedAnnotation: t('IST0107', 'MisplacedAnnotation', 'Warning'),
  UnknownAnnotation: t('IST0108', 'UnknownAnnotation', 'Warning'),
  ConflictingMeshGatewayVirtualServiceHosts: t(
    'IST0109',
    'ConflictingMeshGatewayVirtualServiceHosts',
    'Error',
  ),
  ConflictingSidecarWorkloadSelectors: t('IST0110', 'ConflictingSidecarWorkloadSelectors', 'Error'),
  MultipleSidecarsWithoutWorkloadSelectors: t('IST0111', 'MultipleSidecarsWithoutWorkloadSelectors', 'Error'),
  VirtualServiceDestinationPortSelectorRequired: t(
    'IST0112',
    'VirtualServiceDestinationPortSelectorRequired',
    'Error',
  ),
  DeploymentAssociatedToMultipleServices: t('IST0116', 'DeploymentAssociatedToMultipleServices', 'Warning'),
  PortNameIsNotUnderNamingConvention: t('IST0118', 'PortNameIsNotUnderNamingConvention', 'Info'),
  InvalidRegexp: t('IST0122', 'InvalidRegexp', 'Warning'),
  NamespaceMultipleInjectionLabels: t('IST0123', 'NamespaceMultipleInjectionLabels', 'Warning'),
  InvalidAnnotation: t('IST0125', 'InvalidAnnotation', 'Warning'),
  UnknownMeshNetworksServiceRegistry: t('IST0126', 'UnknownMeshNetworksServiceRegistry', 'Error'),
  NoMatchingWorkloadsFound: t('IST0127', 'NoMatchingWorkloadsFound', 'Warning'),
  NoServerCertificateVerificationDestinationLevel: t(
    'IST0128',
    'NoServerCertificateVerificationDestinationLevel',
    'Warning',
  ),
  NoServerCertificateVerificationPortLevel: t(
    'IST0129',
    'NoServerCertificateVerificationPortLevel',
    'Warning',
  ),
  VirtualServiceUnreachableRule: t('IST0130', 'VirtualServiceUnreachableRule', 'Warning'),
  VirtualServiceIneffectiveMatch: t('IST0131', 'VirtualServiceIneffectiveMatch', 'Info'),
  VirtualServiceHostNotFoundInGateway: t('IST0132', 'VirtualServiceHostNotFoundInGateway', 'Warning'),
  SchemaWarning: t('IST0133', 'SchemaWarning', 'Warning'),
  ServiceEntryAddressesRequired: t('IST0134', 'ServiceEntryAddressesRequired', 'Warning'),
  DeprecatedAnnotation: t('IST0135', 'DeprecatedAnnotation', 'Info'),
  AlphaAnnotation: t('IST0136', 'AlphaAnnotation', 'Info'),
  DeploymentConflictingPorts: t('IST0137', 'DeploymentConflictingPorts', 'Warning'),
  GatewayDuplicateCertificate: t('IST0138', 'GatewayDuplicateCertificate', 'Warning'),
  InvalidWebhook: t('IST0139', 'InvalidWebhook', 'Error'),
  IngressRouteRulesNotAffected: t('IST0140', 'IngressRouteRulesNotAffected', 'Warning'),
  InvalidApplicationUID: t('IST0144', 'InvalidApplicationUID', 'Warning'),
  ConflictingGateways: t('IST0145', 'ConflictingGateways', 'Error'),
  ImageAutoWithoutInjectionWarning: t('IST0146', 'ImageAutoWithoutInjectionWarning', 'Warning'),
  ImageAutoWithoutInjectionError: t('IST0147', 'ImageAutoWithoutInjectionError', 'Error'),
  NamespaceInjectionEnabledByDefault: t('IST0148', 'NamespaceInjectionEnabledByDefault', 'Info'),
  JwtClaimBasedRoutingWithoutRequestAuthN: t('IST0149', 'JwtClaimBasedRoutingWithoutRequestAuthN', 'Error'),
  ExternalNameServiceTypeInvalidPortName: t('IST0150', 'ExternalNameServiceTypeInvalidPortName', 'Warning'),
  EnvoyFilterUsesRelativeOperation: t('IST0151', 'EnvoyFilterUsesRelativeOperation', 'Warning'),
  EnvoyFilterUsesReplaceOperationIncorrectly: t(
    'IST0152',
    'EnvoyFilterUsesReplaceOperationIncorrectly',
    'Error',
  ),
  EnvoyFilterUsesAddOperationIncorrectly: t('IST0153', 'EnvoyFilterUsesAddOperationIncorrectly', 'Error'),
  EnvoyFilterUsesRemoveOperationIncorrectly: t(
    'IST0154',
    'EnvoyFilterUsesRemoveOperationIncorrectly',
    'Error',
  ),
  EnvoyFilterUsesRelativeOperationWithProxyVersion: t(
    'IST0155',
    'EnvoyFilterUsesRelativeOperationWithProxyVersion',
    'Warning',
  ),
  InvalidTelemetryProvider: t('IST0157', 'InvalidTelemetryProvider', 'Warning'),
  PodsIstioProxyImageMismatchInNamespace: t('IST0158', 'PodsIstioProxyImageMismatchInNamespace', 'Warning'),
  ConflictingTelemetryWorkloadSelectors: t('IST0159', 'ConflictingTelemetryWorkloadSelectors', 'Error'),
  MultipleTelemetriesWithoutWorkloadSelectors: t(
    'IST0160',
    'MultipleTelemetriesWithoutWorkloadSelectors',
    'Error',
  ),
  InvalidGatewayCredential: t('IST0161', 'InvalidGatewayCredential', 'Error'),
  GatewayPortNotDefinedOnService: t('IST0162', 'GatewayPortNotDefinedOnService', 'Warning'),
  InvalidExternalControlPlaneConfig: t('IST0163', 'InvalidExternalControlPlaneConfig', 'Warning'),
  ExternalControlPlaneAddressIsNotAHostname: t(
    'IST0164',
    'ExternalControlPlaneAddressIsNotAHostname',
    'Info',
  ),
  ReferencedInternalGateway: t('IST0165', 'ReferencedInternalGateway', 'Warning'),
  IneffectiveSelector: t('IST0166', 'IneffectiveSelector', 'Warning'),
  IneffectivePolicy: t('IST0167', 'IneffectivePolicy', 'Warning'),
  NegativeConditionStatus: t('IST0171', 'NegativeConditionStatus', 'Warning'),
  DestinationRuleSubsetNotSelectPods: t('IST0173', 'DestinationRuleSubsetNotSelectPods', 'Error'),
  UnknownDestinationRuleHost: t('IST0174', 'UnknownDestinationRuleHost', 'Warning'),
  JwksUriFetchUnrestricted: t('IST0175', 'JwksUriFetchUnrestricted', 'Warning'),
  GatewayAPICRDVersionBelowMinimum: t('IST0176', 'GatewayAPICRDVersionBelowMinimum', 'Warning'),
  ConflictingServiceEntryProtocol: t('IST0177', 'ConflictingServiceEntryProtocol', 'Warning'),
} as const;
