import {
  StorageConflictError,
  type HistoryPage,
  type HistoryResult,
  type HistoryScope,
  type IndexEntry,
  type JobRecord,
  type ResourceIndexer,
  type ResourceKey,
  type SearchHits,
  type StorageAdapter,
  type StorageCapabilities,
  type StorageQuery,
  type StorageTx,
  type StoredVersion,
  type VersionWrite,
} from '../../src/adapter-kit.js';
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
 * A unit of work writes straight into the maps and records how to undo each write; a rejected unit
 * replays its undo log, so it leaves no trace. The adapter declares itself `serial` without isolated
 * reads, so the engine's `RuntimeStorage` runs units one at a time and starts reads from outside a
 * unit only between units: they never see uncommitted writes — the same isolation a copy-on-commit
 * overlay gives, without a second copy of the search index. Every read is answered synchronously,
 * from the state at the moment it is called.
 *
 * Resources are held as the JSON strings the engine wrote: immutable, about one byte per byte of
 * JSON, and ready to send.
 *
 * Given the engine's indexer ({@link StorageAdapter.useIndexer}), the index holds only what has been
 * searched: a parameter of a type is indexed (from the stored JSON) on its first search, and on every
 * write from then on. Types and parameters nobody searches cost no extraction and no index memory.
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
  readonly capabilities: StorageCapabilities = { concurrency: 'serial', durable: false, isolatedReads: false };

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
  /**
   * Per type, the parameters the index holds entries of: `all` (every write's own entries) or those
   * searched so far; a type that is absent has not been searched and is not indexed. Undefined while
   * there is no indexer: every type is `all`.
   */
  #params: Map<string, Set<string> | 'all'> | undefined;
  #seq = 0;

  constructor(options: MemoryAdapterOptions = {}) {
    this.name = options.name ?? 'memory';
  }

  useIndexer(indexer: ResourceIndexer): void {
    this.#indexer = indexer;
    // Types written so far were indexed on write with all their entries; they stay that way.
    this.#params ??= new Map([...this.#resources.keys()].map((type) => [type, 'all']));
  }

  async transact<T>(work: (tx: StorageTx) => Promise<T>): Promise<T> {
    const unit = new Unit(this);
    try {
      return await work(unit);
    } catch (error) {
      unit.rollback();
      throw error;
    }
  }

  async readCurrent(key: ResourceKey): Promise<StoredVersion | undefined> {
    return this.current(key);
  }

  async readVersion(key: ResourceKey, versionId: string): Promise<StoredVersion | undefined> {
    return this.version(key, versionId);
  }

  async readHistory(scope: HistoryScope, page: HistoryPage): Promise<HistoryResult> {
    return this.history(scope, page);
  }

  async search(query: StorageQuery): Promise<SearchHits> {
    return this.find(query);
  }

  async readJob(id: string): Promise<JobRecord | undefined> {
    return this.job(id);
  }

  async listUnfinishedJobs(): Promise<readonly JobRecord[]> {
    return this.unfinishedJobs();
  }

  /** Nothing to release: the data lives as long as the adapter object. */
  async close(): Promise<void> {}

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
    this.#indexParams(query);
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
    const params = this.#paramsOf(write.type);
    const previousEntries = params === 'all' ? this.#index.entriesOf(write.type, write.id) : undefined;
    if (params === 'all') {
      if (write.deleted) this.#index.remove(write.type, write.id);
      else this.#index.replace(write.type, write.id, write.index);
    } else if (params !== undefined) this.#reindex(stored, params);

    const undo = (): void => {
      versions.pop();
      if (created) byId.delete(write.id);
      this.#log[seq] = undefined;
      seqs.pop();
      this.#restoreIndex(write.type, write.id, previousEntries);
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
    const previousEntries = this.#paramsOf(key.type) === 'all' ? this.#index.entriesOf(key.type, key.id) : undefined;
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
      this.#restoreIndex(key.type, key.id, previousEntries);
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

  #paramsOf(type: string): ReadonlySet<string> | 'all' | undefined {
    return this.#params === undefined ? 'all' : this.#params.get(type);
  }

  /**
   * Makes sure the index holds every parameter `query` uses, in every type it searches: a type's
   * first search indexes its current resources with those parameters, and a parameter new to an
   * indexed type is added to each of them. Both derive entries from the stored JSON.
   */
  #indexParams(query: StorageQuery): void {
    if (this.#params === undefined) return;
    const used = new Set<string>(query.sort.map((k) => k.param));
    for (const clause of query.where) if (clause.kind !== 'ids') used.add(clause.param);
    for (const type of query.types) {
      const params = this.#params.get(type);
      if (params === 'all') continue;
      const stored = this.#resources.get(type)?.values() ?? [];
      if (params === undefined) {
        const active = new Set(used);
        this.#params.set(type, active);
        for (const versions of stored) this.#reindex(versions.at(-1), active);
        continue;
      }
      let added: Set<string> | undefined;
      for (const param of used) if (!params.has(param)) (added ??= new Set()).add(param);
      if (!added) continue;
      for (const param of added) params.add(param);
      for (const versions of stored) {
        const version = versions.at(-1)!;
        if (!version.deleted) this.#index.add(type, version.id, this.#indexer!(version.json!, added));
      }
    }
  }

  /** Indexes a resource's current version anew from its JSON (or removes a tombstone). */
  #reindex(version: StoredVersion | undefined, params: ReadonlySet<string>): void {
    if (!version) return;
    if (version.deleted) this.#index.remove(version.type, version.id);
    else this.#index.replace(version.type, version.id, this.#indexer!(version.json!, params));
  }

  /**
   * Puts a resource's index back as it was before an undone write or purge (the version maps are
   * already restored). Types indexed with `all` entries get the entries saved before the change;
   * others derive them again from the restored current version, because a search later in the same
   * unit may have added parameters since.
   */
  #restoreIndex(type: string, id: string, previous: readonly IndexEntry[] | undefined): void {
    const params = this.#paramsOf(type);
    if (params === undefined) return;
    if (params !== 'all') {
      this.#index.remove(type, id);
      this.#reindex(this.current({ type, id }), params);
    } else if (previous === undefined) this.#index.remove(type, id);
    else this.#index.replace(type, id, previous);
  }
}

/** One unit of work on a {@link MemoryAdapter}: reads go to the live maps, writes keep an undo log. */
class Unit implements StorageTx {
  readonly #adapter: MemoryAdapter;
  readonly #undo: (() => void)[] = [];

  constructor(adapter: MemoryAdapter) {
    this.#adapter = adapter;
  }

  rollback(): void {
    for (let i = this.#undo.length - 1; i >= 0; i--) this.#undo[i]!();
    this.#undo.length = 0;
  }

  async readCurrent(key: ResourceKey): Promise<StoredVersion | undefined> {
    return this.#adapter.current(key);
  }

  async readVersion(key: ResourceKey, versionId: string): Promise<StoredVersion | undefined> {
    return this.#adapter.version(key, versionId);
  }

  async readHistory(scope: HistoryScope, page: HistoryPage): Promise<HistoryResult> {
    return this.#adapter.history(scope, page);
  }

  async search(query: StorageQuery): Promise<SearchHits> {
    return this.#adapter.find(query);
  }

  async readJob(id: string): Promise<JobRecord | undefined> {
    return this.#adapter.job(id);
  }

  async listUnfinishedJobs(): Promise<readonly JobRecord[]> {
    return this.#adapter.unfinishedJobs();
  }

  async writeVersion(write: VersionWrite): Promise<number> {
    const { seq, undo } = this.#adapter.write(write);
    this.#undo.push(undo);
    return seq;
  }

  async purge(key: ResourceKey, keep: 'none' | 'current'): Promise<number> {
    const { removed, undo } = this.#adapter.purge(key, keep);
    this.#undo.push(undo);
    return removed;
  }

  async lock(): Promise<void> {
    // Units of work run one at a time.
  }

  async writeJob(job: JobRecord, expectedRevision: number | null): Promise<void> {
    this.#undo.push(this.#adapter.writeJob(job, expectedRevision));
  }
}
