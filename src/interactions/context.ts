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
  /**
   * Deepest nesting of arrays and objects in a JSON body or resource (`{}` is 1), checked without
   * recursion before anything walks it: 400 `too-costly` past it. Default 128 (an R4 resource in a
   * Bundle entry rarely needs 30).
   */
  readonly maxJsonDepth: number;
  /** Longest request URL (path and query) `handle()` accepts, in characters: 414 past it. Default 8,192. */
  readonly maxUrlLength: number;
  /**
   * Most query parameters of a request, or of a `POST _search` form: 400 `too-costly` past it (a
   * 414 would say the URI is too long, which a form body or a short URL with many `&` is not). Default 100.
   */
  readonly maxQueryParameters: number;
  /**
   * Most resources `_include`/`_revinclude` (`:iterate` included) add to one search page; the Bundle
   * holds the first ones and says so in an OperationOutcome entry. Default 1,000.
   */
  readonly maxIncludes: number;
  /** Most levels of a chained or `_has` search parameter (`subject:Patient.organization.name` is 2): 400 `too-costly` past it. Default 3. */
  readonly maxChainDepth: number;
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
  maxJsonDepth: 128,
  maxUrlLength: 8192,
  maxQueryParameters: 100,
  maxIncludes: 1000,
  maxChainDepth: 3,
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
