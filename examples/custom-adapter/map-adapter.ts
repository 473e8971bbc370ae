/**
 * A storage adapter over `Map`s, written as an outside author would: from the package entry only.
 * Units of work run one at a time (`serial`: the engine's runtime queues them); each works on a copy
 * of the maps that replaces the committed ones when it succeeds, so a failed unit leaves nothing
 * behind and reads outside a unit never see one half-done. Search computes the core's semantics
 * (`matchAll`) and sort order (`sortValue`, `comparePositions`) over the stored index entries.
 * Its conformance test: `map-adapter.test.ts`.
 */
import {
  comparePositions,
  decodePosition,
  encodePosition,
  isTerminal,
  matchAll,
  sortValue,
  StorageConflictError,
  type HistoryPage,
  type HistoryResult,
  type HistoryScope,
  type IndexEntry,
  type JobRecord,
  type ResourceKey,
  type SearchHits,
  type SortPosition,
  type StorageAdapter,
  type StorageQuery,
  type StorageTx,
  type StoredVersion,
  type VersionWrite,
} from 'fhir-engine';

interface Current {
  readonly version: StoredVersion;
  readonly index: readonly IndexEntry[];
}

/** Everything the adapter holds; replaced as a whole when a unit of work commits. */
class State {
  constructor(
    /** Every version, oldest first, by `Type/id`. */
    readonly versions = new Map<string, readonly StoredVersion[]>(),
    readonly current = new Map<string, Current>(),
    readonly jobs = new Map<string, JobRecord>(),
    public seq = 0,
  ) {}

  copy(): State {
    return new State(new Map(this.versions), new Map(this.current), new Map(this.jobs), this.seq);
  }
}

const keyOf = (key: ResourceKey): string => `${key.type}/${key.id}`;

/** Reads of one state: committed (outside a unit) or a unit's own copy. */
class Reader {
  constructor(protected readonly state: () => State) {}

  async readCurrent(key: ResourceKey): Promise<StoredVersion | undefined> {
    return this.state().current.get(keyOf(key))?.version;
  }

  async readVersion(key: ResourceKey, versionId: string): Promise<StoredVersion | undefined> {
    return this.state().versions.get(keyOf(key))?.find((v) => v.versionId === versionId);
  }

  async readHistory(scope: HistoryScope, page: HistoryPage): Promise<HistoryResult> {
    const all = scope.level === 'instance' ? (this.state().versions.get(keyOf(scope)) ?? []) : [...this.state().versions.values()].flat();
    const items = all
      .filter((v) => scope.level !== 'type' || v.type === scope.type)
      .filter((v) => (page.since === undefined || v.lastUpdated >= page.since) && (page.before === undefined || v.seq < page.before))
      .sort((a, b) => b.seq - a.seq)
      .slice(0, page.count);
    return { items };
  }

  async search(query: StorageQuery): Promise<SearchHits> {
    const after = query.after === undefined ? undefined : decodePosition(query.after, query.sort.length);
    const matches: { version: StoredVersion; position: SortPosition }[] = [];
    for (const { version, index } of this.state().current.values()) {
      if (version.deleted || (query.types.length > 0 && !query.types.includes(version.type))) continue;
      if (query.maxSeq !== undefined && version.seq > query.maxSeq) continue;
      if (!matchAll(index, query.where, version.id)) continue;
      matches.push({ version, position: { values: query.sort.map((key) => sortValue(index, key)), type: version.type, id: version.id } });
    }
    matches.sort((a, b) => comparePositions(a.position, b.position, query.sort));
    const from = after === undefined ? 0 : matches.findIndex((m) => comparePositions(m.position, after, query.sort) > 0);
    const page = from < 0 ? [] : matches.slice(from, from + query.limit);
    const hits = page.map((m) => ({ ...m.version, position: encodePosition(m.position) }));
    return query.total ? { hits, total: matches.length } : { hits };
  }

  async readJob(id: string): Promise<JobRecord | undefined> {
    return this.state().jobs.get(id);
  }

  async listUnfinishedJobs(): Promise<readonly JobRecord[]> {
    return [...this.state().jobs.values()].filter((job) => !isTerminal(job.status));
  }
}

/** A unit of work on its own copy of the state. */
class MapTx extends Reader implements StorageTx {
  constructor(readonly draft: State) {
    super(() => draft);
  }

  async writeVersion(write: VersionWrite): Promise<number> {
    const key = keyOf(write);
    const current = this.draft.current.get(key)?.version;
    const holds = write.expect.kind === 'absent' ? current === undefined : current?.versionId === write.expect.versionId;
    if (!holds) throw new StorageConflictError(`${key}: expected ${write.expect.kind === 'absent' ? 'no resource' : `version ${write.expect.versionId}`}.`);
    const seq = ++this.draft.seq;
    const { index, expect: _expect, ...fields } = write;
    const version: StoredVersion = { ...fields, seq };
    this.draft.versions.set(key, [...(this.draft.versions.get(key) ?? []), version]);
    this.draft.current.set(key, { version, index });
    return seq;
  }

  async purge(key: ResourceKey, keep: 'none' | 'current'): Promise<number> {
    const k = keyOf(key);
    const versions = this.draft.versions.get(k) ?? [];
    const current = this.draft.current.get(k);
    if (keep === 'current' && current) {
      this.draft.versions.set(k, [current.version]);
      return versions.length - 1;
    }
    this.draft.versions.delete(k);
    this.draft.current.delete(k);
    return versions.length;
  }

  async lock(): Promise<void> {
    // Units run one at a time: nothing to lock.
  }

  async writeJob(job: JobRecord, expectedRevision: number | null): Promise<void> {
    const stored = this.draft.jobs.get(job.id);
    if ((expectedRevision === null && stored !== undefined) || (expectedRevision !== null && stored?.revision !== expectedRevision)) {
      throw new StorageConflictError(`Job ${job.id}: expected revision ${expectedRevision}, found ${stored?.revision ?? 'none'}.`);
    }
    this.draft.jobs.set(job.id, structuredClone(job));
  }
}

/** A storage adapter over `Map`s: in memory, one unit of work at a time. */
export class MapAdapter extends Reader implements StorageAdapter {
  readonly name = 'map';
  readonly capabilities = { concurrency: 'serial', durable: false, isolatedReads: true } as const;
  #state = new State();

  constructor() {
    super(() => this.#state);
  }

  async transact<T>(work: (tx: StorageTx) => Promise<T>): Promise<T> {
    const tx = new MapTx(this.#state.copy());
    const result = await work(tx);
    this.#state = tx.draft;
    return result;
  }

  async close(): Promise<void> {}
}
