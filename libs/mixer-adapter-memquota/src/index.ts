export { createMemQuotaAdapter, memquotaAdapter } from './memquota';
export type { MemQuotaParams } from './memquota';
// Also exported as `adapter`, the name mixer looks for when a handler names this package (third-party loading).
export { memquotaAdapter as adapter } from './memquota';
