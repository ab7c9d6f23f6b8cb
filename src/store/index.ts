/** The store: the Store interface, the SQLite backend and label selectors. */
export type {
  AuditQuery,
  Lease,
  LeaseRequest,
  ListOptions,
  ResourceList,
  Store,
  Watch,
  WatchEvent,
  WatchOptions,
  WriteOp,
} from './store.js';
export {
  DEFAULT_STORE_FILE,
  openSqliteStore,
  SqliteStore,
  type EventRetention,
  type SqliteStoreOptions,
} from './sqlite/sqlite-store.js';
export {
  formatLabelSelector,
  matchesLabelSelector,
  parseLabelSelector,
  type LabelRequirement,
  type LabelSelector,
} from './label-selector.js';
export { MAX_RESOURCE_BYTES } from './resource-rules.js';
