/**
 * The runtime the engine puts around every storage adapter, in the manner of Kysely's
 * `RuntimeDriver` and its connection mutex: adapters implement storage, the runtime enforces the
 * rules their declared capabilities imply, once, for all of them.
 *
 * - Units of work of a `serial` adapter run one at a time, first come first served: also when
 *   several engines share the adapter, since an adapter has one runtime however many use it.
 * - Outside reads of an adapter without `isolatedReads` start only between units (they wait their
 *   turn in the same queue), so they never see a unit's writes before it commits.
 * - A `tx` used after its unit ended is refused with a clear error.
 * - A nested `transact` (one called from inside a unit's work) is refused with a clear error instead
 *   of waiting forever for its own unit. Without an {@link AsyncContext} the runtime recognises the
 *   call made in the synchronous part of the work (`transact(async () => transact(…))`,
 *   `transact(async () => engine.create(…))`); given one (Node's `AsyncLocalStorage`), any call made
 *   from the work, after awaits too. It is off by default because tracking async context slows
 *   every promise in the process (about a fifth of create + read throughput on Node 20, see the
 *   report of issue 11); test suites turn it on.
 * - `close()` lets the accepted units finish, then closes the adapter, once; later calls are refused.
 *
 * @packageDocumentation
 */
import type { JobRecord } from './job-record.js';
import type { SearchHits, StorageQuery } from './query.js';
import type {
  HistoryPage,
  HistoryResult,
  HistoryScope,
  ResourceIndexer,
  ResourceKey,
  StorageAdapter,
  StorageCapabilities,
  StorageTx,
  StoredVersion,
  VersionWrite,
} from './storage-adapter.js';

/**
 * The part of Node's `AsyncLocalStorage` the runtime uses to recognise a nested `transact` made
 * after an await. (The core imports no Node built-in: pass `new AsyncLocalStorage()` in.)
 */
export interface AsyncContext<T> {
  run<R>(store: T, callback: () => R): R;
  getStore(): T | undefined;
}

/** Options of {@link RuntimeStorage}. */
export interface RuntimeStorageOptions {
  /** Recognises every nested `transact`, not only synchronous ones; costs throughput (see above). */
  readonly asyncContext?: AsyncContext<object>;
}

/** The capabilities of an adapter with every default applied. */
export type ResolvedCapabilities = Required<StorageCapabilities>;

/** One unit of work, as far as the runtime tracks it. */
class Unit {
  ended = false;
}

const endedError = (): Promise<never> =>
  Promise.reject(new Error('This unit of work has ended; its tx can no longer be used.'));

/** The `tx` handed to a unit's work: the adapter's own, refused once the unit has ended. */
class GuardedTx implements StorageTx {
  readonly #tx: StorageTx;
  readonly #unit: Unit;

  constructor(tx: StorageTx, unit: Unit) {
    this.#tx = tx;
    this.#unit = unit;
  }

  readCurrent(key: ResourceKey): Promise<StoredVersion | undefined> {
    return this.#unit.ended ? endedError() : this.#tx.readCurrent(key);
  }

  readVersion(key: ResourceKey, versionId: string): Promise<StoredVersion | undefined> {
    return this.#unit.ended ? endedError() : this.#tx.readVersion(key, versionId);
  }

  readHistory(scope: HistoryScope, page: HistoryPage): Promise<HistoryResult> {
    return this.#unit.ended ? endedError() : this.#tx.readHistory(scope, page);
  }

  search(query: StorageQuery): Promise<SearchHits> {
    return this.#unit.ended ? endedError() : this.#tx.search(query);
  }

  readJob(id: string): Promise<JobRecord | undefined> {
    return this.#unit.ended ? endedError() : this.#tx.readJob(id);
  }

  listUnfinishedJobs(): Promise<readonly JobRecord[]> {
    return this.#unit.ended ? endedError() : this.#tx.listUnfinishedJobs();
  }

  writeVersion(write: VersionWrite): Promise<number> {
    return this.#unit.ended ? endedError() : this.#tx.writeVersion(write);
  }

  purge(key: ResourceKey, keep: 'none' | 'current'): Promise<number> {
    return this.#unit.ended ? endedError() : this.#tx.purge(key, keep);
  }

  lock(name: string): Promise<void> {
    return this.#unit.ended ? endedError() : this.#tx.lock(name);
  }

  writeJob(job: JobRecord, expectedRevision: number | null): Promise<void> {
    return this.#unit.ended ? endedError() : this.#tx.writeJob(job, expectedRevision);
  }
}

/**
 * The runtime of each adapter. One queue per adapter, whoever uses it: two engines given the same
 * serial adapter share its runtime, so their units of work still run one at a time.
 */
const runtimes = new WeakMap<StorageAdapter, RuntimeStorage>();

/**
 * A storage adapter under the engine's runtime rules (see the module comment). The engine wraps
 * the adapter it is given; wrap one yourself to use an adapter directly, or to turn on the
 * detection of every nested `transact`. An adapter has one runtime: {@link RuntimeStorage.of}
 * returns the one it already has, and constructing a second one for it throws.
 *
 * @example
 * ```ts
 * import { AsyncLocalStorage } from 'node:async_hooks';
 * const storage = new RuntimeStorage(new MemoryAdapter(), { asyncContext: new AsyncLocalStorage() });
 * const engine = new FhirEngine({ storage }); // uses this runtime as it is
 * ```
 */
export class RuntimeStorage<A extends StorageAdapter = StorageAdapter> implements StorageAdapter {
  /**
   * `storage` itself when it already is a RuntimeStorage, else the runtime `storage` already runs
   * under, else `storage` wrapped in a new one.
   */
  static of(storage: StorageAdapter): RuntimeStorage {
    if (storage instanceof RuntimeStorage) return storage;
    return runtimes.get(storage) ?? new RuntimeStorage(storage);
  }

  /** The adapter underneath. */
  readonly adapter: A;
  readonly capabilities: ResolvedCapabilities;
  readonly #serial: boolean;
  readonly #isolated: boolean;
  readonly #context: AsyncContext<object> | undefined;
  /** A concurrent adapter that writes a version in a unit of its own (see `writeVersion`). */
  readonly #writesAlone: boolean;
  /** The unit whose work is running synchronously right now (a nested call comes from there). */
  #current: Unit | undefined;
  /** Serial adapters: a unit (or an outside read) holds the adapter. */
  #busy = false;
  /** Serial adapters: who waits for the adapter, first come first served. */
  readonly #queue: (() => void)[] = [];
  /** Units started and not yet ended. */
  #inFlight = 0;
  #idle: (() => void) | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  /** @throws when `adapter` already runs under a RuntimeStorage (two queues would let its units overlap). */
  constructor(adapter: A, options: RuntimeStorageOptions = {}) {
    if (runtimes.has(adapter)) {
      throw new Error(`The storage '${adapter.name}' already runs under a RuntimeStorage: use RuntimeStorage.of(adapter) to share it.`);
    }
    runtimes.set(adapter, this);
    this.adapter = adapter;
    const { concurrency, durable, isolatedReads } = adapter.capabilities;
    this.capabilities = Object.freeze({ concurrency, durable, isolatedReads: isolatedReads ?? concurrency === 'concurrent' });
    this.#serial = concurrency === 'serial';
    this.#isolated = this.capabilities.isolatedReads;
    this.#context = options.asyncContext;
    this.#writesAlone = !this.#serial && typeof adapter.writeVersion === 'function';
    adapter.useRuntime?.({ transact: (work) => this.transact(work) });
  }

  get name(): string {
    return this.adapter.name;
  }

  /** True when the data survives a restart of the process (`capabilities.durable`). */
  get durable(): boolean {
    return this.capabilities.durable;
  }

  useIndexer(indexer: ResourceIndexer): void {
    this.adapter.useIndexer?.(indexer);
  }

  transact<T>(work: (tx: StorageTx) => Promise<T>): Promise<T> {
    if (this.#closed) return this.#closedError();
    if (this.#insideUnit()) {
      return Promise.reject(new Error('transact() cannot be called inside a unit of work; use the tx passed to it.'));
    }
    return this.#unit(work);
  }

  /**
   * Stores one version as a unit of work of its own (`transact((tx) => tx.writeVersion(write))`): on
   * a concurrent adapter that has {@link StorageAdapter.writeVersion}, through it, in fewer round trips.
   */
  writeVersion(write: VersionWrite): Promise<number> {
    if (!this.#writesAlone) return this.transact((tx) => tx.writeVersion(write));
    if (this.#closed) return this.#closedError();
    if (this.#insideUnit()) {
      return Promise.reject(new Error('A write outside the unit of work cannot be made inside it; use the tx passed to it.'));
    }
    this.#inFlight++;
    const done = (): void => {
      this.#inFlight--;
      this.#checkIdle();
    };
    const written = this.adapter.writeVersion!(write);
    written.then(done, done);
    return written;
  }

  async #unit<T>(work: (tx: StorageTx) => Promise<T>): Promise<T> {
    if (this.#serial) {
      const turn = this.#acquire();
      if (turn) await turn;
    }
    this.#inFlight++;
    const unit = new Unit();
    try {
      return await this.adapter.transact((tx) => this.#work(unit, tx, work));
    } finally {
      unit.ended = true;
      this.#inFlight--;
      if (this.#serial) this.#release();
      else this.#checkIdle();
    }
  }

  #work<T>(unit: Unit, raw: StorageTx, work: (tx: StorageTx) => Promise<T>): Promise<T> {
    const tx = new GuardedTx(raw, unit);
    let pending: Promise<T>;
    this.#current = unit;
    try {
      pending = this.#context ? this.#context.run(unit, () => work(tx)) : work(tx);
    } finally {
      this.#current = undefined;
    }
    // Ended as soon as the work settles, before the adapter commits: a leaked tx must not write into
    // the commit. (Registered before the adapter awaits `pending`, so it runs first.)
    const end = (): void => {
      unit.ended = true;
    };
    pending.then(end, end);
    return pending;
  }

  #insideUnit(): boolean {
    if (this.#current !== undefined) return true;
    const store = this.#context?.getStore();
    return store instanceof Unit && !store.ended;
  }

  /** Claims the adapter: undefined when it was free, else a promise that resolves on our turn. */
  #acquire(): Promise<void> | undefined {
    if (!this.#busy) {
      this.#busy = true;
      return undefined;
    }
    return new Promise<void>((resolve) => this.#queue.push(resolve));
  }

  /** Hands the adapter to the next in line, or frees it. */
  #release(): void {
    const next = this.#queue.shift();
    if (next) next();
    else {
      this.#busy = false;
      this.#checkIdle();
    }
  }

  #checkIdle(): void {
    if (this.#idle && this.#inFlight === 0 && !this.#busy) {
      const idle = this.#idle;
      this.#idle = undefined;
      idle();
    }
  }

  /**
   * Runs an outside read: at once when the adapter isolates reads or no unit holds it; otherwise in
   * the queue, between two units (the adapter takes the read's state when it is called).
   */
  #read<T>(read: () => Promise<T>): Promise<T> {
    if (this.#closed) return this.#closedError();
    if (this.#isolated || !this.#busy) return read();
    if (this.#insideUnit()) {
      return Promise.reject(
        new Error('A read outside the unit of work cannot run while that unit is in flight; use the tx passed to it.'),
      );
    }
    return this.#acquire()!.then(() => {
      try {
        return read();
      } finally {
        this.#release();
      }
    });
  }

  /** An outside read may go straight to the adapter (the common case, checked without a closure). */
  #direct(): boolean {
    return !this.#closed && (this.#isolated || !this.#busy);
  }

  readCurrent(key: ResourceKey): Promise<StoredVersion | undefined> {
    return this.#direct() ? this.adapter.readCurrent(key) : this.#read(() => this.adapter.readCurrent(key));
  }

  readVersion(key: ResourceKey, versionId: string): Promise<StoredVersion | undefined> {
    return this.#direct() ? this.adapter.readVersion(key, versionId) : this.#read(() => this.adapter.readVersion(key, versionId));
  }

  readHistory(scope: HistoryScope, page: HistoryPage): Promise<HistoryResult> {
    return this.#direct() ? this.adapter.readHistory(scope, page) : this.#read(() => this.adapter.readHistory(scope, page));
  }

  search(query: StorageQuery): Promise<SearchHits> {
    return this.#direct() ? this.adapter.search(query) : this.#read(() => this.adapter.search(query));
  }

  readJob(id: string): Promise<JobRecord | undefined> {
    return this.#direct() ? this.adapter.readJob(id) : this.#read(() => this.adapter.readJob(id));
  }

  listUnfinishedJobs(): Promise<readonly JobRecord[]> {
    return this.#direct() ? this.adapter.listUnfinishedJobs() : this.#read(() => this.adapter.listUnfinishedJobs());
  }

  /** Refuses new calls, lets the accepted units (and queued reads) finish, then closes the adapter. Once. */
  close(): Promise<void> {
    if (!this.#closing && this.#insideUnit()) {
      return Promise.reject(new Error('close() cannot be called inside a unit of work.'));
    }
    return (this.#closing ??= this.#close());
  }

  async #close(): Promise<void> {
    this.#closed = true;
    if (this.#inFlight > 0 || this.#busy) await new Promise<void>((resolve) => (this.#idle = resolve));
    await this.adapter.close();
  }

  #closedError(): Promise<never> {
    return Promise.reject(new Error(`The storage '${this.name}' is closed.`));
  }
}
