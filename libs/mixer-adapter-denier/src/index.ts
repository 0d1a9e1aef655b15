export { denierAdapter } from './denier';
export type { DenierHandler, DenierParams } from './denier';
