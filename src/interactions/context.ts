import type { Clock, IdGenerator } from '../clock.js';
import type { IndexExtractor } from '../search/extract.js';
import type { SearchParameterRegistry } from '../search/registry.js';
import type { SearchService } from '../search/service.js';
import type { RuntimeStorage } from '../storage/runtime-storage.js';
import type { StorageReader, StorageTx } from '../storage/storage-adapter.js';

/** Configurable limits of an engine. */
export interface Limits {
  /** Largest request body handle() accepts, in bytes (413 past it). Default 16 MiB. */
  readonly maxBodyBytes: number;
  /** Most entries in a batch or transaction Bundle (413 past it). Default 10,000. */
  readonly maxBundleEntries: number;
  /** Default page size of searches and history. Default 20. */
  readonly defaultCount: number;
  /** Largest page size of searches and history. Default 1,000. */
  readonly maxCount: number;
  /** Largest `_count` of a conditional delete. Default 100. */
  readonly maxConditionalDelete: number;
  /** Parallel entries of a `x-bundle-processing-logic: parallel` batch. Default 8. */
  readonly bundleConcurrency: number;
  /** Resources a bulk-delete job deletes per storage transaction. Default 500. */
  readonly bulkDeleteChunkSize: number;
  /** Bulk-delete jobs running at once. Default 2. */
  readonly maxConcurrentJobs: number;
  /** Resources a bulk-export job writes per chunk (one storage read, one append per file). Default 2,000. */
  readonly exportChunkSize: number;
}

/** The defaults of {@link Limits}. */
export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxBodyBytes: 16 * 1024 * 1024,
  maxBundleEntries: 10_000,
  defaultCount: 20,
  maxCount: 1000,
  maxConditionalDelete: 100,
  bundleConcurrency: 8,
  bulkDeleteChunkSize: 500,
  maxConcurrentJobs: 2,
  exportChunkSize: 2000,
});

/**
 * How writes are checked: `strict` (the default) validates every resource the engine writes against the
 * R4 base definitions; `off` checks only what storing needs (an object with a resourceType, a valid id, meta).
 */
export type ValidationMode = 'strict' | 'off';

/** Everything an interaction needs; built once by the engine (not part of the public API). */
export interface EngineContext {
  /** The adapter under the runtime's rules (queue, guards, close once). */
  readonly storage: RuntimeStorage;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly registry: SearchParameterRegistry;
  readonly extractor: IndexExtractor;
  readonly search: SearchService;
  /** Base URL for fullUrl and Location, without a trailing slash ('' = relative). */
  readonly baseUrl: string;
  readonly limits: Limits;
  readonly validation: ValidationMode;
}

/**
 * Runs `work` in the caller's unit of work when there is one (a transaction bundle), otherwise in
 * a new one.
 */
export function inUnit<T>(ctx: EngineContext, tx: StorageTx | undefined, work: (tx: StorageTx) => Promise<T>): Promise<T> {
  return tx ? work(tx) : ctx.storage.transact(work);
}

/** Where reads go: the caller's unit of work, or committed state. */
export const readerOf = (ctx: EngineContext, tx: StorageTx | undefined): StorageReader => tx ?? ctx.storage;
