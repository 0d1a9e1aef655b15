export { denierAdapter } from './denier';
export type { DenierHandler, DenierParams } from './denier';
// Also exported as `adapter`, the name mixer looks for when a handler names this package (third-party loading).
export { denierAdapter as adapter } from './denier';
