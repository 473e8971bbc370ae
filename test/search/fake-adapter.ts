/**
 * A tiny storage adapter on {@link MemoryIndex}, for search tests until the real memory adapter
 * exists. Serial, no rollback of index entries beyond what these tests need.
 */
import { MemoryIndex } from '../../adapters/memory/memory-index.js';
import type { JobRecord } from '../../src/storage/job-record.js';
import type { SearchHits, StorageQuery } from '../../src/storage/query.js';
import {
  StorageConflictError,
  type HistoryPage,
  type HistoryResult,
  type HistoryScope,
  type ResourceKey,
  type StorageAdapter,
  type StorageTx,
  type StoredVersion,
  type VersionWrite,
} from '../../src/storage/storage-adapter.js';

export class FakeAdapter implements StorageAdapter {
  readonly name = 'fake-memory';
  readonly capabilities = { concurrency: 'serial', durable: false } as const;
  readonly index = new MemoryIndex();
  private readonly current = new Map<string, Map<string, StoredVersion>>();
  private readonly versions: StoredVersion[] = [];
  private seq = 0;

  private cur(type: string, id: string): StoredVersion | undefined {
    return this.current.get(type)?.get(id);
  }

  async readCurrent(key: ResourceKey): Promise<StoredVersion | undefined> {
    return this.cur(key.type, key.id);
  }
  async readVersion(key: ResourceKey, versionId: string): Promise<StoredVersion | undefined> {
    return this.versions.find((v) => v.type === key.type && v.id === key.id && v.versionId === versionId);
  }
  async readHistory(_scope: HistoryScope, _page: HistoryPage): Promise<HistoryResult> {
    return { items: [] };
  }
  async search(query: StorageQuery): Promise<SearchHits> {
    return this.index.search(query, (t, i) => this.cur(t, i));
  }
  async readJob(_id: string): Promise<JobRecord | undefined> {
    return undefined;
  }
  async listUnfinishedJobs(): Promise<readonly JobRecord[]> {
    return [];
  }
  async transact<T>(work: (tx: StorageTx) => Promise<T>): Promise<T> {
    const tx: StorageTx = {
      readCurrent: (k) => this.readCurrent(k),
      readVersion: (k, v) => this.readVersion(k, v),
      readHistory: (s, p) => this.readHistory(s, p),
      search: (q) => this.search(q),
      readJob: (id) => this.readJob(id),
      listUnfinishedJobs: () => this.listUnfinishedJobs(),
      writeVersion: async (w: VersionWrite) => {
        const c = this.cur(w.type, w.id);
        if (w.expect.kind === 'absent' ? c !== undefined : c?.versionId !== w.expect.versionId) {
          throw new StorageConflictError(`conflict on ${w.type}/${w.id}`);
        }
        const v: StoredVersion = {
          type: w.type,
          id: w.id,
          versionId: w.versionId,
          seq: ++this.seq,
          lastUpdated: w.lastUpdated,
          method: w.method,
          deleted: w.deleted,
          json: w.json,
        };
        this.versions.push(v);
        let m = this.current.get(w.type);
        if (!m) this.current.set(w.type, (m = new Map()));
        m.set(w.id, v);
        this.index.replace(w.type, w.id, w.deleted ? [] : w.index);
        return v.seq;
      },
      purge: async (k, keep) => {
        if (keep === 'none') {
          this.current.get(k.type)?.delete(k.id);
          this.index.remove(k.type, k.id);
        }
        return 0;
      },
      lock: async () => undefined,
      writeJob: async () => undefined,
    };
    return work(tx);
  }
  async close(): Promise<void> {}
}
