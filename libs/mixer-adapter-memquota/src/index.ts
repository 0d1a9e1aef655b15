export { createMemQuotaAdapter, memquotaAdapter } from './memquota';
export type { MemQuotaParams } from './memquota';
