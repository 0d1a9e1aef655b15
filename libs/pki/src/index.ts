export { ROOT_CERT_FILE, ROOT_KEY_FILE, createSelfSignedRoot, loadOrCreateRoot } from './root-ca';
export type { RootCa } from './root-ca';
export { issueServingCertificate } from './serving-cert';
export type { ServingCertificate } from './serving-cert';
