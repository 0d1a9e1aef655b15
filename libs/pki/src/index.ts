export { CertificateAuthority } from './authority';
export type { AuthorityOptions, CaKeyMaterial, IssuedCertificate } from './authority';
export { CACERTS_FILES, CaMaterialError, loadCacerts, selfSignedMaterial } from './ca-material';
export { CaError, isCaError } from './ca-error';
export type { CaErrorKind } from './ca-error';
export {
  certificatesFromPem,
  keyIdentifierOf,
  parseCertificateDer,
  parseExtensions,
  parseSubjectAltNames,
} from './certificate';
export type { Extension, ParsedCertificate, SubjectAltNames } from './certificate';
export { buildCrl } from './crl';
export type { CrlOptions } from './crl';
export { x509 } from './crypto';
export { csrPemToDer, verifyCsr } from './csr';
export type { VerifiedCsr } from './csr';
export { DerError, derToPem, pemBlocks, pemToDer } from './der';
export {
  ISTIO_CA_AUDIENCE,
  LOCAL_TOKEN_ISSUER,
  LOCAL_TOKEN_KEY_FILE,
  LocalTokenError,
  isLocalToken,
  unverifiedJwtClaims,
  loadOrCreateTokenKey,
  readTokenKey,
  signLocalToken,
  verifyLocalToken,
} from './local-token';
export type { LocalTokenClaims } from './local-token';
export { OcspStatus, buildOcspResponse, ocspErrorResponse, parseOcspRequest } from './ocsp';
export type { OcspCertId, OcspRequest, OcspResponderOptions } from './ocsp';
export { OID } from './oids';
export { Pkcs11RootKeys } from './pkcs11-root-keys';
export { Pkcs11Signer, generatePkcs11EcKey } from './pkcs11-signer';
export type { Pkcs11Config } from './pkcs11-signer';
export {
  REVOCATIONS_FILE,
  REVOCATION_REASONS,
  RevocationError,
  RevocationStore,
  addRevocation,
  normalizeSerial,
  parseReason,
  readRevocations,
} from './revocations';
export type { Revocation, RevocationReason } from './revocations';
export { ROOT_CERT_FILE, ROOT_KEY_FILE, createSelfSignedRoot, loadOrCreateRoot } from './root-ca';
export {
  CA_ROOTS_FILE,
  FileRootCertificateStore,
  FileRootStore,
  RootRotator,
  RootStoreConflictError,
  bundlePem,
  createSoftwareRoot,
  pruneTrustBundle,
  remainingLifetimeFraction,
  softwareRootKeys,
} from './root-rotation';
export type {
  CustodiedKey,
  RootCertificates,
  RootKeyCustody,
  RootRotatorOptions,
  RootStore,
  RotationOutcome,
  SelfSignedRoot,
  SoftwareRootKey,
  StoredRoot,
  TokenRootKey,
} from './root-rotation';
export type { RootCa } from './root-ca';
export { issueServingCertificate } from './serving-cert';
export type { ServingCertificate } from './serving-cert';
export { SoftwareSigner, signatureSchemeFor } from './signer';
export { createRootWithSigner, loadOrCreateSignerRoot } from './signer-root';
export type { SignatureScheme, Signer } from './signer';
export {
  SpiffeIdError,
  parseServiceAccountUser,
  parseWorkloadSpiffeId,
  spiffeIdOf,
  validateTrustDomain,
} from './spiffe';
export type { WorkloadIdentity } from './spiffe';
export {
  INTERMEDIATE_RENEW_FRACTION,
  VaultClient,
  VaultHttpError,
  VaultIntermediateRenewer,
  VaultLeafIssuer,
  loadVaultIntermediate,
  readVaultCaChain,
  saveVaultIntermediate,
  vaultSignedIntermediate,
} from './vault';
export type {
  IntermediateRenewalOutcome,
  VaultAuth,
  VaultClientOptions,
  VaultIntermediate,
  VaultIntermediateOptions,
  VaultIntermediateRenewerOptions,
  VaultLeafIssuerOptions,
  VaultPkiOptions,
  VaultResponse,
} from './vault';
