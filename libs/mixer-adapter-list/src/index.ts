export { compileList, createListAdapter, listAdapter } from './list';
export type { EntryType, ListParams } from './list';
