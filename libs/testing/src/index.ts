export { openssl, opensslCsr, opensslKey, opensslResult, tempDir, writeTemp } from './openssl';
export type { TestKeyType } from './openssl';
export { freePorts } from './ports';
export { SOFTHSM_MODULE, initSoftHsmToken } from './softhsm';
export { startCitadelProcess } from './citadel-process';
export type { CitadelProcess } from './citadel-process';
export { waitFor } from './wait';
export { KubeApiServerDouble } from './kube-api-double';
export type { KubeObject, RecordedRequest, ResourceType } from './kube-api-double';
export { KubeTokenReviewDouble } from './kube-token-review-double';
export { VaultDouble } from './vault-double';
export type { VaultDoubleOptions, VaultDoubleRequest } from './vault-double';
export { CloudMonitoringDouble } from './cloud-monitoring-double';
export type {
  CloudMonitoringDescriptorRequest,
  CloudMonitoringDistribution,
  CloudMonitoringRequest,
  CloudMonitoringTimeSeries,
} from './cloud-monitoring-double';
export { WHO_SERVICE, WhoClient, callWho, startWhoServer } from './who-service';
