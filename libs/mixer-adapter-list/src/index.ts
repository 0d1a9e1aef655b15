export { compileList, createListAdapter, listAdapter } from './list';
export type { EntryType, ListParams } from './list';
// Also exported as `adapter`, the name mixer looks for when a handler names this package (third-party loading).
export { listAdapter as adapter } from './list';
