export { CertificateFetcher } from './certificate-fetcher';
export type { CertificateFetcherOptions, WorkloadSecret } from './certificate-fetcher';
export { createKeyAndCsr } from './csr';
export type { KeyAndCsr } from './csr';
export { CERT_CHAIN_FILE, KEY_FILE, ROOT_CERT_FILE, SecretManager, writeFiles } from './secret-manager';
export type { SecretManagerEvents, SecretManagerOptions, SecretSource } from './secret-manager';
export {
  ROOT_SECRET_NAME,
  SDS_CLUSTER,
  SDS_SOCKET_PATH,
  SECRET_TYPE_URL,
  SdsServer,
  WORKLOAD_SECRET_NAME,
  sdsGrpcCluster,
  sdsSecretConfig,
  secretResource,
} from './sds-server';
export type { SdsServerOptions } from './sds-server';
export { TrustBundleError, TrustBundleFile, trustBundleCertificates } from './trust-bundle';
