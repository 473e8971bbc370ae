/**
 * The storage adapter contract. An adapter stores versioned resource JSON, the index entries the
 * core extracted from each version, and job records; it answers typed queries. It never decides FHIR
 * semantics: version numbers, If-Match, what a delete means and every HTTP status are the engine's.
 *
 * An adapter is always used through a `RuntimeStorage`, which the engine puts around it: the
 * runtime queues the units of work of a `serial` adapter, starts outside reads of an adapter without
 * isolated reads only between units, turns any use of a `tx` after its unit ended and any nested
 * `transact` into a clear error, and closes the adapter once. An adapter therefore implements each
 * call for one caller at a time (on a `serial` adapter) and keeps no queue or guard of its own.
 *
 * To write an adapter, implement {@link StorageAdapter} and run the conformance suite
 * (`runAdapterConformance` in `test/conformance/`, which wraps it in a RuntimeStorage) against it.
 *
 * @packageDocumentation
 */
import type { IndexEntry } from './index-entry.js';
import type { JobRecord } from './job-record.js';
import type { SearchHits, StorageQuery } from './query.js';
import type { ResourceKey, StoredVersion, VersionMethod } from './stored-version.js';

export type { ResourceKey, StoredVersion, VersionMethod } from './stored-version.js';

/** What a write expects to find; checked atomically with the write (compare-and-set). */
export type Expectation =
  /** No version of type/id exists (or only history that was hard-deleted). */
  | { readonly kind: 'absent' }
  /** The current version (tombstone or not) is exactly `versionId`. */
  | { readonly kind: 'current'; readonly versionId: string };

/** A new version to store. */
export interface VersionWrite extends ResourceKey {
  readonly versionId: string;
  readonly expect: Expectation;
  readonly lastUpdated: string;
  readonly method: VersionMethod;
  readonly deleted: boolean;
  readonly json: string;
  /**
   * Replaces every index entry of this resource; empty for a tombstone. The engine computes the
   * entries when this property is first read, so an adapter that does not need them for this write
   * (see {@link StorageAdapter.useIndexer}) should not read it. It may be an accessor on the write's
   * prototype: read it, don't copy the write with object spread.
   */
  readonly index: readonly IndexEntry[];
}

/**
 * Computes the index entries of a stored resource from its JSON, exactly as the engine does on a
 * write: all of them, or those of the parameters in `params` only. Handed to adapters through
 * {@link StorageAdapter.useIndexer}.
 */
export type ResourceIndexer = (json: string, params?: ReadonlySet<string>) => readonly IndexEntry[];

/** Which versions a history read covers. */
export type HistoryScope =
  | { readonly level: 'instance'; readonly type: string; readonly id: string }
  | { readonly level: 'type'; readonly type: string }
  | { readonly level: 'system' };

/** One page request of a history read, newest first. */
export interface HistoryPage {
  /** Most versions to return. */
  readonly count: number;
  /** Only versions with `lastUpdated >= since` (an ISO instant). */
  readonly since?: string;
  /** Only versions with `seq < before` (the cursor of the previous page). */
  readonly before?: number;
}

/** A page of versions, newest first. */
export interface HistoryResult {
  readonly items: readonly StoredVersion[];
}

/** Reads, available both outside and inside a unit of work. */
export interface StorageReader {
  /** The current version of a resource, tombstones included; undefined when none exists. */
  readCurrent(key: ResourceKey): Promise<StoredVersion | undefined>;
  /** One version of a resource; undefined when it never existed or was purged. */
  readVersion(key: ResourceKey, versionId: string): Promise<StoredVersion | undefined>;
  /** Versions of a resource, a type or everything, newest first (highest `seq` first). */
  readHistory(scope: HistoryScope, page: HistoryPage): Promise<HistoryResult>;
  /** Current, non-deleted resources matching a query, in its order. */
  search(query: StorageQuery): Promise<SearchHits>;
  /** A stored job record. */
  readJob(id: string): Promise<JobRecord | undefined>;
  /** Every stored job record that is not finished (`queued` or `running`). */
  listUnfinishedJobs(): Promise<readonly JobRecord[]>;
}

/**
 * A unit of work. Reads see this unit's own writes; nothing is visible outside it until it commits.
 * It is not used after the unit has ended (`RuntimeStorage` refuses that).
 */
export interface StorageTx extends StorageReader {
  /**
   * Stores a new current version and replaces the resource's index entries.
   * Throws {@link StorageConflictError} (and writes nothing) when `write.expect` does not hold.
   * @returns the `seq` assigned to the version.
   */
  writeVersion(write: VersionWrite): Promise<number>;
  /**
   * Physically removes versions. `keep: 'none'` removes every version, the current pointer and the
   * index entries (hard delete). `keep: 'current'` removes all but the current version (purge history).
   * @returns the number of versions removed.
   */
  purge(key: ResourceKey, keep: 'none' | 'current'): Promise<number>;
  /**
   * Holds a named lock until this unit ends. The engine takes one on the normalised criteria of a
   * conditional interaction, so that racing conditional creates make exactly one resource.
   * Adapters whose units of work run one at a time may do nothing.
   */
  lock(name: string): Promise<void>;
  /**
   * Stores a job record. Throws {@link StorageConflictError} unless the stored record's revision is
   * `expectedRevision` (`null` = the job must not exist yet). The record passed in already carries
   * its new revision.
   */
  writeJob(job: JobRecord, expectedRevision: number | null): Promise<void>;
}

/** What an adapter tells the engine about itself. */
export interface StorageCapabilities {
  /**
   * `serial`: one unit of work at a time (memory, SQLite): `RuntimeStorage` queues them, and
   * `transact` is never called while a unit is in flight. `concurrent`: many at once, in which case
   * `writeVersion` must be a true compare-and-set and `lock` must block.
   */
  readonly concurrency: 'serial' | 'concurrent';
  /**
   * Data survives `close()` and a new adapter on the same store. Only then do accepted background
   * jobs survive a restart of the process (see `JobHost.durable`).
   */
  readonly durable: boolean;
  /**
   * True when reads outside a unit of work answer from committed state even while a unit is in
   * flight (a second connection, MVCC): `RuntimeStorage` lets them run alongside units.
   * False when the adapter writes in place (memory): the runtime starts an outside read only between
   * units, and the adapter must take the read's state when the read is called, not later.
   * Default: true for `concurrent` adapters (which must isolate), false for `serial` ones.
   */
  readonly isolatedReads?: boolean;
}

/** What `RuntimeStorage` lends the adapter it wraps (see {@link StorageAdapter.useRuntime}). */
export interface StorageRuntime {
  /** Runs `work` as a unit of work in the runtime's queue: after the unit in flight, on a `serial` adapter. */
  transact<T>(work: (tx: StorageTx) => Promise<T>): Promise<T>;
}

/** A storage backend for {@link FhirEngine}. */
export interface StorageAdapter extends StorageReader {
  /** A short name for logs and errors, e.g. `memory`. */
  readonly name: string;
  readonly capabilities: StorageCapabilities;
  /**
   * Runs `work` as one atomic unit: everything it wrote commits when it resolves and nothing does
   * when it rejects (the rejection is passed on). Reads outside the unit never see its writes before
   * commit. Never called from inside `work`, nor, on a `serial` adapter, while another unit is in
   * flight (`RuntimeStorage` sees to both).
   */
  transact<T>(work: (tx: StorageTx) => Promise<T>): Promise<T>;
  /**
   * Optional. Stores one version as a unit of work of its own: exactly what
   * `transact((tx) => tx.writeVersion(write))` does (compare-and-set, {@link StorageConflictError}
   * when the expectation does not hold, nothing written then), for an adapter that can do it in
   * fewer round trips (PostgreSQL: one statement in autocommit instead of BEGIN, statement, COMMIT).
   * The engine uses it for a write that needs nothing else in its unit (a plain create).
   * `RuntimeStorage` calls it only on a `concurrent` adapter, and falls back to `transact` otherwise.
   */
  writeVersion?(write: VersionWrite): Promise<number>;
  /**
   * Optional. The engine calls it once, at construction, with its indexer. An adapter that has it
   * may skip {@link VersionWrite.index} and derive entries from stored JSON when it needs them, e.g.
   * index a parameter of a type on its first search (the memory adapter does). An
   * adapter serves one engine: a later call replaces the indexer.
   */
  useIndexer?(indexer: ResourceIndexer): void;
  /**
   * Optional. `RuntimeStorage` calls it once, when it wraps the adapter, with its own unit
   * runner. An adapter that needs a unit of work of its own for housekeeping before an outside read
   * (SQLite applies deferred index rows before a search) runs it through this runner, so that it
   * waits its turn behind the unit in flight instead of starting a second one.
   */
  useRuntime?(runtime: StorageRuntime): void;
  /** Releases resources; the adapter is unusable afterwards. Called once, with no unit in flight. */
  close(): Promise<void>;
}

/**
 * Thrown by an adapter when a unit of work cannot go on because of another one: a compare-and-set
 * failed (a version or job-revision expectation did not hold), or, with `transient`, the storage
 * rolled the unit back to resolve a clash of its own (a deadlock, a serialization failure, a lock
 * wait that timed out). A unit of work that threw it has written nothing. The engine maps a failed
 * version expectation to 412 (under If-Match) or 409, and every other conflict to 409; the job runner
 * retries the chunk. Recognised by its `code`, so that bundled copies of this class interoperate.
 */
export class StorageConflictError extends Error {
  readonly code = 'STORAGE_CONFLICT' as const;
  /**
   * True when no expectation failed: the storage gave up on the unit (deadlock, serialization
   * failure), and the same request may succeed when sent again.
   */
  readonly transient: boolean;

  constructor(message: string, options: { readonly transient?: boolean; readonly cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StorageConflictError';
    this.transient = options.transient ?? false;
  }
}

/** True for a {@link StorageConflictError} from any copy of this module. */
export function isStorageConflict(error: unknown): error is StorageConflictError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { code?: unknown }).code === 'STORAGE_CONFLICT'
  );
}

/** True for a {@link StorageConflictError} whose expectation did not hold (not a transient one). */
export const isExpectationFailure = (error: unknown): error is StorageConflictError =>
  isStorageConflict(error) && (error as { transient?: unknown }).transient !== true;
