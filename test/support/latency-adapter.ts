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

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class DelayedReader implements StorageReader {
  constructor(
    protected readonly inner: StorageReader,
    protected readonly ms: number,
  ) {}
  async readCurrent(key: ResourceKey): Promise<StoredVersion | undefined> {
    await sleep(this.ms);
    return this.inner.readCurrent(key);
  }
  async readVersion(key: ResourceKey, versionId: string): Promise<StoredVersion | undefined> {
    await sleep(this.ms);
    return this.inner.readVersion(key, versionId);
  }
  async readHistory(scope: HistoryScope, page: HistoryPage): Promise<HistoryResult> {
    await sleep(this.ms);
    return this.inner.readHistory(scope, page);
  }
  async search(query: StorageQuery): Promise<SearchHits> {
    await sleep(this.ms);
    return this.inner.search(query);
  }
  async readJob(id: string): Promise<JobRecord | undefined> {
    await sleep(this.ms);
    return this.inner.readJob(id);
  }
  async listUnfinishedJobs(): Promise<readonly JobRecord[]> {
    await sleep(this.ms);
    return this.inner.listUnfinishedJobs();
  }
}

class DelayedTx extends DelayedReader implements StorageTx {
  constructor(
    private readonly tx: StorageTx,
    ms: number,
  ) {
    super(tx, ms);
  }
  async writeVersion(write: VersionWrite): Promise<number> {
    await sleep(this.ms);
    return this.tx.writeVersion(write);
  }
  async purge(key: ResourceKey, keep: 'none' | 'current'): Promise<number> {
    await sleep(this.ms);
    return this.tx.purge(key, keep);
  }
  lock(name: string): Promise<void> {
    return this.tx.lock(name);
  }
  async writeJob(job: JobRecord, expectedRevision: number | null): Promise<void> {
    await sleep(this.ms);
    return this.tx.writeJob(job, expectedRevision);
  }
}

/** Wraps `inner`; every storage call waits `ms` first. */
export class LatencyAdapter extends DelayedReader implements StorageAdapter {
  readonly name: string;
  readonly capabilities: StorageCapabilities;
  private readonly adapter: StorageAdapter;
  constructor(adapter: StorageAdapter, ms: number) {
    const served = RuntimeStorage.of(adapter);
    super(served, ms);
    this.adapter = served;
    this.name = `latency(${adapter.name})`;
    this.capabilities = { durable: adapter.capabilities.durable, concurrency: 'concurrent', isolatedReads: true };
  }
  async transact<T>(work: (tx: StorageTx) => Promise<T>): Promise<T> {
    await sleep(this.ms); // begin
    const result = await this.adapter.transact((tx) => work(new DelayedTx(tx, this.ms)));
    await sleep(this.ms); // commit
    return result;
  }
  close(): Promise<void> {
    return this.adapter.close();
  }
}
