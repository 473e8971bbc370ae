export type * from './index-entry.js';
export type * from './query.js';
export type * from './job-record.js';
export {
  StorageConflictError,
  isExpectationFailure,
  isStorageConflict,
  type Expectation,
  type HistoryPage,
  type HistoryResult,
  type HistoryScope,
  type ResourceIndexer,
  type ResourceKey,
  type StorageAdapter,
  type StorageCapabilities,
  type StorageReader,
  type StorageRuntime,
  type StorageTx,
  type StoredVersion,
  type VersionMethod,
  type VersionWrite,
} from './storage-adapter.js';
export { RuntimeStorage, type AsyncContext, type ResolvedCapabilities, type RuntimeStorageOptions } from './runtime-storage.js';
