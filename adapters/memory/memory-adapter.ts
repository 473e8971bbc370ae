import type { IndexEntry } from '../../src/storage/index-entry.js';
import type { JobRecord } from '../../src/storage/job-record.js';
import type { SearchHits, StorageQuery } from '../../src/storage/query.js';
import {
  StorageConflictError,
  type HistoryPage,
  type HistoryResult,
  type HistoryScope,
  type ResourceIndexer,
  type ResourceKey,
  type StorageAdapter,
  type StorageCapabilities,
  type StorageTx,
  type StoredVersion,
  type VersionWrite,
} from '../../src/storage/storage-adapter.js';
import { MemoryIndex } from './memory-index.js';

/** Options of {@link MemoryAdapter}. */
export interface MemoryAdapterOptions {
  /** A name for logs; defaults to `memory`. */
  readonly name?: string;
}

/**
 * A storage adapter that keeps everything in process memory: the quickest way to embed the engine
 * and to unit-test FHIR logic.
 *
 * Units of work run one at a time; calling `transact` from inside a unit's work deadlocks, so don't.
 * A unit writes straight into the maps and records how to undo
 * each write; a rejected unit replays its undo log, so it leaves no trace. Reads from outside a unit
 * wait while a unit is in flight, so they never see uncommitted writes — the same isolation a
 * copy-on-commit overlay gives, without a second copy of the search index.
 *
 * Resources are held as the JSON strings the engine wrote: immutable, about one byte per byte of
 * JSON, and ready to send.
 *
 * Given the engine's indexer ({@link StorageAdapter.useIndexer}), the search index of a resource
 * type is built on the first search of that type and maintained on every write from then on: types
 * nobody searches cost no index extraction and no index memory.
 *
 * @example
 * ```ts
 * import { FhirEngine } from 'fhir-engine';
 * import { MemoryAdapter } from 'fhir-engine/adapters/memory';
 * const engine = new FhirEngine({ storage: new MemoryAdapter() });
 * ```
 */
export class MemoryAdapter implements StorageAdapter {
  readonly name: string;
  readonly capabilities: StorageCapabilities = { concurrency: 'serial', durable: false };

  /** type → id → every version, oldest first; the last one is current. */
  readonly #resources = new Map<string, Map<string, StoredVersion[]>>();
  /** Versions by seq (holes where purged): system history, newest first by walking down. */
  readonly #log: (StoredVersion | undefined)[] = [];
  /** seqs per type, ascending. */
  readonly #typeLog = new Map<string, number[]>();
  readonly #index = new MemoryIndex();
  readonly #jobs = new Map<string, string>();
  /** Computes entries from stored JSON; undefined until an engine hands it over. */
  #indexer: ResourceIndexer | undefined;
  /** Types whose index is maintained; undefined = every type (no indexer: index every write). */
  #indexed: Set<string> | undefined;
  #seq = 0;
  /** A unit of work is in flight. */
  #busy = false;
  /** Settles when the unit in flight ends; made only when something waits for it. */
  #idle: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #closed = false;

  constructor(options: MemoryAdapterOptions = {}) {
    this.name = options.name ?? 'memory';
  }

  useIndexer(indexer: ResourceIndexer): void {
    this.#indexer = indexer;
    // Types written so far were indexed on write; those stay maintained.
    this.#indexed ??= new Set(this.#resources.keys());
  }

  async transact<T>(work: (tx: StorageTx) => Promise<T>): Promise<T> {
    this.#assertOpen();
    // Waiters wake together when a unit ends; the first to run claims the adapter, the others wait again.
    while (this.#busy) await this.#whenIdle();
    this.#busy = true;
    const unit = new Unit(this);
    try {
      const result = await work(unit);
      unit.end();
      return result;
    } catch (error) {
      unit.rollback();
      throw error;
    } finally {
      this.#busy = false;
      const wake = this.#wake;
      this.#idle = this.#wake = undefined;
      wake?.();
    }
  }

  #whenIdle(): Promise<void> {
    return (this.#idle ??= new Promise<void>((resolve) => (this.#wake = resolve)));
  }

  /**
   * Waits while a unit of work is in flight. Code inside a unit must therefore read through its
   * `tx` (as the engine does): a read through the adapter itself would wait for its own unit.
   * (Tracking the caller with AsyncLocalStorage would allow both, but it slows every promise in the
   * process by about half.)
   */
  async #settled(): Promise<void> {
    while (this.#busy) await this.#whenIdle();
  }

  /** {@link #settled}, without making a promise when nothing is in flight (as for most reads). */
  #ready(): Promise<void> | undefined {
    this.#assertOpen();
    return this.#busy ? this.#settled() : undefined;
  }

  async readCurrent(key: ResourceKey): Promise<StoredVersion | undefined> {
    await this.#ready();
    return this.current(key);
  }

  async readVersion(key: ResourceKey, versionId: string): Promise<StoredVersion | undefined> {
    await this.#ready();
    return this.version(key, versionId);
  }

  async readHistory(scope: HistoryScope, page: HistoryPage): Promise<HistoryResult> {
    await this.#ready();
    return this.history(scope, page);
  }

  async search(query: StorageQuery): Promise<SearchHits> {
    await this.#ready();
    return this.find(query);
  }

  async readJob(id: string): Promise<JobRecord | undefined> {
    await this.#ready();
    return this.job(id);
  }

  async listUnfinishedJobs(): Promise<readonly JobRecord[]> {
    await this.#ready();
    return this.unfinishedJobs();
  }

  async close(): Promise<void> {
    await this.#settled();
    this.#closed = true;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('MemoryAdapter: used after close()');
  }

  // --- synchronous core, shared by the adapter and its units of work -------------------------

  /** @internal */
  current(key: ResourceKey): StoredVersion | undefined {
    return this.#resources.get(key.type)?.get(key.id)?.at(-1);
  }

  /** @internal */
  version(key: ResourceKey, versionId: string): StoredVersion | undefined {
    const versions = this.#versionsOf(key);
    if (!versions) return undefined;
    // Version ids are a counter, so the match is almost always found from the end.
    for (let i = versions.length - 1; i >= 0; i--) {
      if (versions[i]!.versionId === versionId) return versions[i];
    }
    return undefined;
  }

  /** @internal */
  history(scope: HistoryScope, page: HistoryPage): HistoryResult {
    const since = page.since === undefined ? undefined : Date.parse(page.since);
    const before = page.before ?? Number.POSITIVE_INFINITY;
    const items: StoredVersion[] = [];
    const take = (v: StoredVersion | undefined): boolean => {
      if (!v || v.seq >= before) return true;
      if (since !== undefined && Date.parse(v.lastUpdated) < since) return true;
      items.push(v);
      return items.length < page.count;
    };
    if (scope.level === 'instance') {
      const versions = this.#versionsOf(scope) ?? [];
      for (let i = versions.length - 1; i >= 0 && take(versions[i]); i--);
    } else if (scope.level === 'type') {
      const seqs = this.#typeLog.get(scope.type) ?? [];
      for (let i = seqs.length - 1; i >= 0 && take(this.#log[seqs[i]!]); i--);
    } else {
      for (let s = Math.min(this.#log.length - 1, before - 1); s >= 0 && take(this.#log[s]); s--);
    }
    return { items };
  }

  /** @internal */
  find(query: StorageQuery): SearchHits {
    for (const type of query.types) this.#indexType(type);
    return this.#index.search(query, (type, id) => this.current({ type, id }));
  }

  /** @internal */
  job(id: string): JobRecord | undefined {
    const json = this.#jobs.get(id);
    return json === undefined ? undefined : (JSON.parse(json) as JobRecord);
  }

  /** @internal */
  unfinishedJobs(): JobRecord[] {
    const jobs: JobRecord[] = [];
    for (const json of this.#jobs.values()) {
      const job = JSON.parse(json) as JobRecord;
      if (job.status === 'queued' || job.status === 'running') jobs.push(job);
    }
    return jobs;
  }

  /** @internal Applies a write and returns how to undo it. */
  write(write: VersionWrite): { seq: number; undo: () => void } {
    const existing = this.current(write);
    const expect = write.expect;
    if (expect.kind === 'absent' ? existing !== undefined : existing?.versionId !== expect.versionId) {
      throw new StorageConflictError(
        `${write.type}/${write.id}: expected ${expect.kind === 'absent' ? 'no resource' : `version ${expect.versionId}`}, found ${existing ? `version ${existing.versionId}` : 'none'}`,
      );
    }
    const seq = ++this.#seq;
    const stored: StoredVersion = {
      type: write.type,
      id: write.id,
      versionId: write.versionId,
      seq,
      lastUpdated: write.lastUpdated,
      method: write.method,
      deleted: write.deleted,
      json: write.json,
    };
    let byId = this.#resources.get(write.type);
    if (!byId) this.#resources.set(write.type, (byId = new Map()));
    let versions = byId.get(write.id);
    const created = versions === undefined;
    if (!versions) byId.set(write.id, (versions = []));
    versions.push(stored);
    this.#log[seq] = stored;
    let seqs = this.#typeLog.get(write.type);
    if (!seqs) this.#typeLog.set(write.type, (seqs = []));
    seqs.push(seq);
    const indexed = this.#isIndexed(write.type);
    const previousEntries = indexed ? this.#index.entriesOf(write.type, write.id) : undefined;
    if (indexed) this.#index.replace(write.type, write.id, write.deleted ? [] : write.index);

    const undo = (): void => {
      versions.pop();
      if (created) byId.delete(write.id);
      this.#log[seq] = undefined;
      seqs.pop();
      this.#restoreIndex(write.type, write.id, indexed, previousEntries);
      // seq is never reused: like a database sequence, a rolled-back write leaves a gap.
    };
    return { seq, undo };
  }

  /** @internal Removes versions and returns how to put them back. */
  purge(key: ResourceKey, keep: 'none' | 'current'): { removed: number; undo: () => void } {
    const versions = this.#versionsOf(key);
    if (!versions || versions.length === 0) return { removed: 0, undo: () => undefined };
    const all = versions.slice();
    const removedVersions = keep === 'none' ? all : all.slice(0, -1);
    const indexed = this.#isIndexed(key.type);
    const previousEntries = indexed ? this.#index.entriesOf(key.type, key.id) : undefined;
    for (const v of removedVersions) this.#log[v.seq] = undefined;
    // The type log keeps the purged seqs: history walks skip the holes left in #log.
    if (keep === 'none') {
      this.#resources.get(key.type)!.delete(key.id);
      this.#index.remove(key.type, key.id);
    } else {
      versions.splice(0, versions.length - 1);
    }
    const undo = (): void => {
      for (const v of removedVersions) this.#log[v.seq] = v;
      versions.splice(0, versions.length, ...all);
      this.#resources.get(key.type)!.set(key.id, versions);
      this.#restoreIndex(key.type, key.id, indexed, previousEntries);
    };
    return { removed: removedVersions.length, undo };
  }

  /** @internal Stores a job and returns how to undo it. */
  writeJob(job: JobRecord, expectedRevision: number | null): () => void {
    const previous = this.#jobs.get(job.id);
    const stored = previous === undefined ? null : (JSON.parse(previous) as JobRecord).revision;
    if (stored !== expectedRevision) {
      throw new StorageConflictError(
        `job ${job.id}: expected revision ${String(expectedRevision)}, found ${String(stored)}`,
      );
    }
    this.#jobs.set(job.id, JSON.stringify(job));
    return () => {
      if (previous === undefined) this.#jobs.delete(job.id);
      else this.#jobs.set(job.id, previous);
    };
  }

  #versionsOf(key: ResourceKey): StoredVersion[] | undefined {
    return this.#resources.get(key.type)?.get(key.id);
  }

  #isIndexed(type: string): boolean {
    return this.#indexed === undefined || this.#indexed.has(type);
  }

  /** Builds a type's index from its current resources, once, before its first search. */
  #indexType(type: string): void {
    if (this.#isIndexed(type)) return;
    this.#indexed!.add(type);
    for (const versions of this.#resources.get(type)?.values() ?? []) this.#reindex(versions.at(-1)!);
  }

  #reindex(version: StoredVersion): void {
    if (version.deleted) this.#index.remove(version.type, version.id);
    else this.#index.replace(version.type, version.id, this.#indexer!(version.json!));
  }

  /**
   * Puts a resource's index back as it was before an undone write. A write made while its type was
   * not indexed has no entries to restore; if the type has been indexed since (a search later in the
   * same unit), its entries are derived again from the restored current version.
   */
  #restoreIndex(type: string, id: string, wasIndexed: boolean, entries: readonly IndexEntry[] | undefined): void {
    if (!this.#isIndexed(type)) return;
    if (!wasIndexed) {
      const current = this.current({ type, id });
      if (current) this.#reindex(current);
      else this.#index.remove(type, id);
    } else if (entries === undefined) this.#index.remove(type, id);
    else this.#index.replace(type, id, entries);
  }
}

/** One unit of work on a {@link MemoryAdapter}: reads go to the live maps, writes keep an undo log. */
class Unit implements StorageTx {
  readonly #adapter: MemoryAdapter;
  readonly #undo: (() => void)[] = [];
  #ended = false;

  constructor(adapter: MemoryAdapter) {
    this.#adapter = adapter;
  }

  end(): void {
    this.#ended = true;
  }

  rollback(): void {
    this.#ended = true;
    for (let i = this.#undo.length - 1; i >= 0; i--) this.#undo[i]!();
    this.#undo.length = 0;
  }

  #live(): MemoryAdapter {
    if (this.#ended) throw new Error('MemoryAdapter: unit of work used after it ended');
    return this.#adapter;
  }

  async readCurrent(key: ResourceKey): Promise<StoredVersion | undefined> {
    return this.#live().current(key);
  }

  async readVersion(key: ResourceKey, versionId: string): Promise<StoredVersion | undefined> {
    return this.#live().version(key, versionId);
  }

  async readHistory(scope: HistoryScope, page: HistoryPage): Promise<HistoryResult> {
    return this.#live().history(scope, page);
  }

  async search(query: StorageQuery): Promise<SearchHits> {
    return this.#live().find(query);
  }

  async readJob(id: string): Promise<JobRecord | undefined> {
    return this.#live().job(id);
  }

  async listUnfinishedJobs(): Promise<readonly JobRecord[]> {
    return this.#live().unfinishedJobs();
  }

  async writeVersion(write: VersionWrite): Promise<number> {
    const { seq, undo } = this.#live().write(write);
    this.#undo.push(undo);
    return seq;
  }

  async purge(key: ResourceKey, keep: 'none' | 'current'): Promise<number> {
    const { removed, undo } = this.#live().purge(key, keep);
    this.#undo.push(undo);
    return removed;
  }

  async lock(): Promise<void> {
    this.#live();
    // Units of work already run one at a time.
  }

  async writeJob(job: JobRecord, expectedRevision: number | null): Promise<void> {
    this.#undo.push(this.#live().writeJob(job, expectedRevision));
  }
}
