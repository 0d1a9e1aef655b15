export { startTracing } from './tracing';
export type { Tracing } from './tracing';
