/**
 * A StorageAdapter wrapper that delays every read, search and write by `ms`, as a storage reached
 * over a network would. Unit-of-work round trips (begin, commit) are delayed too, outside the
 * wrapped adapter's unit, so that concurrent callers overlap their waits even on a serial adapter:
 * like a database server, the wrapper takes units concurrently (`concurrent`, isolated reads) and
 * runs them on the wrapped adapter one at a time (under its own `RuntimeStorage`).
 */
import type {
  HistoryPage,
  HistoryResult,
  HistoryScope,
  ResourceKey,
  StorageAdapter,
  StorageCapabilities,
  StorageReader,
  StorageTx,
  StoredVersion,
  VersionWrite,
} from '../../src/storage/storage-adapter.js';
import type { JobRecord } from '../../src/storage/job-record.js';
import type { SearchHits, StorageQuery } from '../../src/storage/query.js';
import { RuntimeStorage } from '../../src/storage/runtime-storage.js';

/** How many storage waits overlap: the most seen at once, so a test can tell serial from concurrent work. */
export class Overlap {
  now = 0;
  max = 0;
  /** Forgets the maximum seen so far. */
  reset(): void {
    this.max = this.now;
  }
}

class DelayedReader implements StorageReader {
  constructor(
    protected readonly inner: StorageReader,
    protected readonly ms: number,
    protected readonly overlap: Overlap,
  ) {}
  protected async sleep(ms: number): Promise<void> {
    this.overlap.max = Math.max(this.overlap.max, ++this.overlap.now);
    try {
      await new Promise<void>((resolve) => setTimeout(resolve, ms));
    } finally {
      this.overlap.now--;
    }
  }
  async readCurrent(key: ResourceKey): Promise<StoredVersion | undefined> {
    await this.sleep(this.ms);
    return this.inner.readCurrent(key);
  }
  async readVersion(key: ResourceKey, versionId: string): Promise<StoredVersion | undefined> {
    await this.sleep(this.ms);
    return this.inner.readVersion(key, versionId);
  }
  async readHistory(scope: HistoryScope, page: HistoryPage): Promise<HistoryResult> {
    await this.sleep(this.ms);
    return this.inner.readHistory(scope, page);
  }
  async search(query: StorageQuery): Promise<SearchHits> {
    await this.sleep(this.ms);
    return this.inner.search(query);
  }
  async readJob(id: string): Promise<JobRecord | undefined> {
    await this.sleep(this.ms);
    return this.inner.readJob(id);
  }
  async listUnfinishedJobs(): Promise<readonly JobRecord[]> {
    await this.sleep(this.ms);
    return this.inner.listUnfinishedJobs();
  }
}

class DelayedTx extends DelayedReader implements StorageTx {
  constructor(
    private readonly tx: StorageTx,
    ms: number,
    overlap: Overlap,
  ) {
    super(tx, ms, overlap);
  }
  async writeVersion(write: VersionWrite): Promise<number> {
    await this.sleep(this.ms);
    return this.tx.writeVersion(write);
  }
  async purge(key: ResourceKey, keep: 'none' | 'current'): Promise<number> {
    await this.sleep(this.ms);
    return this.tx.purge(key, keep);
  }
  lock(name: string): Promise<void> {
    return this.tx.lock(name);
  }
  async writeJob(job: JobRecord, expectedRevision: number | null): Promise<void> {
    await this.sleep(this.ms);
    return this.tx.writeJob(job, expectedRevision);
  }
}

/** Wraps `inner`; every storage call waits `ms` first. */
export class LatencyAdapter extends DelayedReader implements StorageAdapter {
  readonly name: string;
  readonly capabilities: StorageCapabilities;
  private readonly adapter: StorageAdapter;
  constructor(adapter: StorageAdapter, ms: number, override readonly overlap = new Overlap()) {
    const served = RuntimeStorage.of(adapter);
    super(served, ms, overlap);
    this.adapter = served;
    this.name = `latency(${adapter.name})`;
    this.capabilities = { durable: adapter.capabilities.durable, concurrency: 'concurrent', isolatedReads: true };
  }
  async transact<T>(work: (tx: StorageTx) => Promise<T>): Promise<T> {
    await this.sleep(this.ms); // begin
    const result = await this.adapter.transact((tx) => work(new DelayedTx(tx, this.ms, this.overlap)));
    await this.sleep(this.ms); // commit
    return result;
  }
  close(): Promise<void> {
    return this.adapter.close();
  }
}
