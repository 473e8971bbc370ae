/**
 * A StorageAdapter wrapper whose units of work throw on the Nth `writeVersion` (counted over the
 * adapter's life from when it is armed), to prove that a failed unit writes nothing.
 */
import type { StorageAdapter, StorageCapabilities, StorageTx } from '../storage/storage-adapter.js';

/** Thrown by {@link FaultAdapter} on the armed write. */
export class InjectedFault extends Error {
  constructor(n: number) {
    super(`Injected storage fault on write #${n}.`);
    this.name = 'InjectedFault';
  }
}

/** Wraps `inner`; after `arm(n)`, the nth writeVersion from then on throws {@link InjectedFault}. */
export class FaultAdapter implements StorageAdapter {
  readonly name: string;
  readonly capabilities: StorageCapabilities;
  #failOn: number | undefined;
  #writes = 0;
  /** Faults thrown so far. */
  faults = 0;

  constructor(
    private readonly inner: StorageAdapter,
    failOnWrite?: number,
  ) {
    this.name = `fault(${inner.name})`;
    this.capabilities = inner.capabilities;
    if (failOnWrite !== undefined) this.arm(failOnWrite);
  }

  /** Makes the `n`th writeVersion from now throw (1 = the next one). */
  arm(n: number): void {
    this.#failOn = n;
    this.#writes = 0;
  }

  disarm(): void {
    this.#failOn = undefined;
  }

  transact<T>(work: (tx: StorageTx) => Promise<T>): Promise<T> {
    return this.inner.transact((tx) => {
      const wrapped: StorageTx = Object.create(tx) as StorageTx;
      wrapped.writeVersion = async (write) => {
        if (this.#failOn !== undefined && ++this.#writes === this.#failOn) {
          this.faults++;
          this.#failOn = undefined;
          throw new InjectedFault(this.#writes);
        }
        return tx.writeVersion(write);
      };
      for (const name of ['readCurrent', 'readVersion', 'readHistory', 'search', 'readJob', 'listUnfinishedJobs', 'purge', 'lock', 'writeJob'] as const) {
        (wrapped as unknown as Record<string, unknown>)[name] = (tx[name] as (...args: unknown[]) => unknown).bind(tx);
      }
      return work(wrapped);
    });
  }

  readCurrent: StorageAdapter['readCurrent'] = (key) => this.inner.readCurrent(key);
  readVersion: StorageAdapter['readVersion'] = (key, versionId) => this.inner.readVersion(key, versionId);
  readHistory: StorageAdapter['readHistory'] = (scope, page) => this.inner.readHistory(scope, page);
  search: StorageAdapter['search'] = (query) => this.inner.search(query);
  readJob: StorageAdapter['readJob'] = (id) => this.inner.readJob(id);
  listUnfinishedJobs: StorageAdapter['listUnfinishedJobs'] = () => this.inner.listUnfinishedJobs();
  close(): Promise<void> {
    return this.inner.close();
  }
}
