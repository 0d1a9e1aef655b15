export { VaultClient, VaultHttpError } from './client';
export type { VaultAuth, VaultClientOptions, VaultResponse } from './client';
export { VaultLeafIssuer, readVaultCaChain, vaultSignedIntermediate } from './vault-pki';
export type {
  VaultIntermediate,
  VaultIntermediateOptions,
  VaultLeafIssuerOptions,
  VaultPkiOptions,
} from './vault-pki';
export {
  INTERMEDIATE_RENEW_FRACTION,
  loadVaultIntermediate,
  saveVaultIntermediate,
} from './intermediate-store';
export { VaultIntermediateRenewer } from './intermediate-renewer';
export type { IntermediateRenewalOutcome, VaultIntermediateRenewerOptions } from './intermediate-renewer';
