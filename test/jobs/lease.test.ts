/**
 * Job leases: two runner instances on one store (one memory adapter shared by two engines; two
 * SQLite adapters on one file), one clock the test sets, polling by `tick()` only. The instance that
 * "dies" is an engine whose later units of work never start: its lease stays in the record, as
 * after a crash.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { MemoryAdapter } from '../../adapters/memory/index.js';
import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { fixedClock, sequentialIds } from '../../src/clock.js';
import { FhirEngine } from '../../src/engine.js';
import { DEFAULT_LEASE_MS, InProcessJobRunner } from '../../src/jobs/index.js';
import type { JobRecord } from '../../src/storage/job-record.js';
import { RuntimeStorage } from '../../src/storage/runtime-storage.js';
import type { StorageAdapter, StorageTx } from '../../src/storage/storage-adapter.js';
import { seed, status } from '../../src/testing/job-helpers.js';
import { MemoryExportSink, type ExportSink } from '../../src/export/sink.js';

const T0 = '2026-05-01T00:00:00.000Z';
const after = (ms: number): string => new Date(Date.parse(T0) + ms).toISOString();

/** Two stores over the same data: what instance A and instance B each open. */
interface Stores {
  readonly a: StorageAdapter;
  readonly b: StorageAdapter;
  close(): Promise<void>;
}

const STORES: Record<string, () => Stores> = {
  'one memory adapter, two engines': () => {
    const shared = new MemoryAdapter();
    return { a: shared, b: shared, close: () => RuntimeStorage.of(shared).close() };
  },
  'two SQLite adapters on one file': () => {
    const dir = mkdtempSync(join(tmpdir(), 'fhir-lease-'));
    const filename = join(dir, 'jobs.db');
    const a = new SqliteAdapter({ filename, busyTimeoutMs: 200 });
    const b = new SqliteAdapter({ filename, busyTimeoutMs: 200 });
    return {
      a,
      b,
      close: async () => {
        await RuntimeStorage.of(a).close();
        await RuntimeStorage.of(b).close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

/**
 * `storage` (under its runtime) with a switch: once `hold()` is called, units of work no longer
 * start until `release()`; `die()` is a hold never released. Reads pass.
 */
function holdable(storage: StorageAdapter) {
  const runtime = RuntimeStorage.of(storage);
  let gate: Promise<void> | undefined;
  let open: () => void = () => undefined;
  let onHeld: () => void = () => undefined;
  const proxy = new Proxy(runtime, {
    get(target, prop) {
      if (prop === 'transact') {
        return <T>(work: (tx: StorageTx) => Promise<T>) => {
          if (!gate) return target.transact(work);
          onHeld();
          return gate.then(() => target.transact(work));
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    storage: proxy,
    /** Holds units from now on; resolves when one is held. */
    hold(): Promise<void> {
      gate = new Promise<void>((resolve) => (open = resolve));
      return new Promise<void>((resolve) => (onHeld = resolve));
    },
    release(): void {
      gate = undefined;
      open();
    },
  };
}

describe.each(Object.keys(STORES))('job leases: %s', (name) => {
  let stores: Stores;
  const clock = fixedClock(T0, 0);
  afterEach(async () => {
    await stores.close();
  });

  function engine(storage: StorageAdapter, instanceId: string, exportSink?: ExportSink): { engine: FhirEngine; runner: InProcessJobRunner } {
    const runner = new InProcessJobRunner({ instanceId, pollIntervalMs: 0 });
    const limits = { bulkDeleteChunkSize: 3, exportChunkSize: 3 };
    return { engine: new FhirEngine({ storage, clock, ids: sequentialIds(instanceId), jobs: runner, limits, ...(exportSink && { exportSink }) }), runner };
  }

  /** Instance A submits a bulk delete of 10 tagged Patients (2 untagged stay) and dies after `chunks` committed chunks. */
  async function jobOfDeadInstance(
    chunks: number,
  ): Promise<{ job: JobRecord; b: FhirEngine; runner: InProcessJobRunner; a: ReturnType<typeof holdable> & { engine: FhirEngine } }> {
    clock.set(T0);
    stores = STORES[name]!();
    const a = holdable(stores.a);
    const { engine: engineA } = engine(a.storage, 'a');
    const { engine: b, runner } = engine(stores.b, 'b');
    await seed(b, 'Patient', 10);
    await seed(b, 'Patient', 2, false);
    const held = new Promise<void>((resolve) => {
      engineA.jobs.on('progress', (job) => {
        if (job.progress.chunks === chunks) void a.hold().then(resolve);
      });
    });
    const submitted = await engineA.bulkDelete({ type: 'Patient', criteria: '_tag=T' });
    await held; // A's next chunk never starts: A is dead, its lease stays
    const job = (await b.storage.readJob(submitted.id))!;
    return { job, b, runner, a: { ...a, engine: engineA } };
  }

  async function deletes(engine: FhirEngine): Promise<{ deletes: number; maxVersions: number }> {
    const { items } = await engine.storage.readHistory({ level: 'type', type: 'Patient' }, { count: 1000 });
    const perId = new Map<string, number>();
    for (const v of items) perId.set(v.id, (perId.get(v.id) ?? 0) + 1);
    return { deletes: items.filter((v) => v.method === 'DELETE').length, maxVersions: Math.max(...perId.values()) };
  }

  it('the owner lease is in the record; another instance leaves the job alone until it expires, then finishes it exactly', async () => {
    const { job, b, runner } = await jobOfDeadInstance(2);
    expect(job).toMatchObject({ status: 'running', progress: { processed: 6, chunks: 2 }, lease: { owner: 'a', expiresAt: after(DEFAULT_LEASE_MS) } });

    clock.set(after(DEFAULT_LEASE_MS - 1));
    await runner.tick();
    expect(runner.busy).toBe(false);
    expect((await b.storage.readJob(job.id))!.revision).toBe(job.revision);

    clock.set(after(DEFAULT_LEASE_MS));
    await runner.tick();
    expect(runner.busy).toBe(true);
    const done = await b.jobs.settled(job.id);
    expect(done.status).toBe('completed');
    expect(done.progress).toEqual({ processed: 10, byType: { Patient: 10 }, chunks: 4 });
    expect(done.lease).toBeUndefined();
    expect(await deletes(b)).toEqual({ deletes: 10, maxVersions: 2 });
    expect((await b.search('Patient', '_summary=count')).total).toBe(2);
  });

  it('a cancel from another instance flags a job whose owner holds a live lease, and the instance that takes it over ends it cancelled', async () => {
    const { job, b, runner } = await jobOfDeadInstance(1);
    const cancel = await b.handle({ method: 'DELETE', url: `/_operations/bulk-delete/${job.id}` });
    expect(cancel.status).toBe(202);
    const flagged = (await b.storage.readJob(job.id))!;
    expect(flagged).toMatchObject({ status: 'running', cancelRequested: true, lease: { owner: 'a' } });
    expect((await status(b, job.id)).status).toBe(202);

    clock.set(after(DEFAULT_LEASE_MS));
    const settled = b.jobs.settled(job.id);
    await runner.tick();
    const done = await settled;
    expect(done.status).toBe('cancelled');
    expect(done.progress.processed).toBe(3);
    expect(await deletes(b)).toEqual({ deletes: 3, maxVersions: 2 });
    expect((await status(b, job.id)).status).toBe(200);
  });

  it('a cancel of a job whose owner let its lease expire ends it at the next chunk boundary of the instance that takes it over', async () => {
    const { job, b } = await jobOfDeadInstance(1);
    clock.set(after(DEFAULT_LEASE_MS + 1));
    const flagged = await b.jobs.cancel(job.id); // starting, B's runner claimed the job first
    expect(flagged).toMatchObject({ cancelRequested: true });
    const done = await b.jobs.settled(job.id);
    expect(done.status).toBe('cancelled');
    expect(done.lease).toBeUndefined();
    // B may have committed a chunk before the cancel landed; the counts match what was deleted.
    expect(done.progress.processed).toBeLessThan(10);
    expect(await deletes(b)).toEqual({ deletes: done.progress.processed, maxVersions: 2 });
    expect((await b.handle({ method: 'DELETE', url: `/_operations/bulk-delete/${job.id}` })).status).toBe(409);
  });

  it('a cancel on an instance that does not poll ends a job whose owner let its lease expire at once', async () => {
    const { job, b, runner } = await jobOfDeadInstance(1);
    await runner.tick(); // started while the lease was live: B claimed nothing
    expect(runner.busy).toBe(false);
    clock.set(after(DEFAULT_LEASE_MS + 1));
    const cancelled = await b.jobs.cancel(job.id);
    expect(cancelled).toMatchObject({ status: 'cancelled', progress: { processed: 3 } });
    expect(cancelled.lease).toBeUndefined();
    expect(runner.busy).toBe(false);
    expect(await deletes(b)).toEqual({ deletes: 3, maxVersions: 2 });
  });

  it('settled() on an instance that does not run the job resolves at its next poll after the owner finished it', async () => {
    const { job, b, runner, a } = await jobOfDeadInstance(1);
    let resolved: JobRecord | undefined;
    const waiting = b.jobs.settled(job.id).then((j) => (resolved = j));
    await runner.tick(); // the lease is live: B only looks
    expect(runner.busy).toBe(false);

    a.release(); // A was only slow: it finishes the job, and its own waiters hear of it
    expect((await a.engine.jobs.settled(job.id)).progress.processed).toBe(10);
    expect(resolved).toBeUndefined();
    await runner.tick();
    await waiting;
    expect(resolved).toMatchObject({ status: 'completed', progress: { processed: 10 } });
  });

  it('a runner that stops releases its lease: another instance takes the job over at once', async () => {
    clock.set(T0);
    stores = STORES[name]!();
    const { engine: a, runner: runnerA } = engine(stores.a, 'a');
    const { engine: b, runner: runnerB } = engine(stores.b, 'b');
    await seed(b, 'Patient', 10);
    const stopped = new Promise<void>((resolve) => {
      a.jobs.on('progress', (job) => {
        if (job.progress.chunks === 1) void runnerA.stop().then(resolve);
      });
    });
    const job = await a.bulkDelete({ type: 'Patient' });
    await stopped;
    const released = (await b.storage.readJob(job.id))!;
    expect(released).toMatchObject({ status: 'running', progress: { processed: 3 } });
    expect(released.lease).toBeUndefined();
    await runnerB.tick();
    expect(runnerB.busy).toBe(true);
    expect((await b.jobs.settled(job.id)).progress).toEqual({ processed: 10, byType: { Patient: 10 }, chunks: 4 });
  });
  it('an export job is leased the same way: another instance finishes it after the lease expired, every resource exported once', async () => {
    clock.set(T0);
    stores = STORES[name]!();
    const sink = new MemoryExportSink(); // the file store both instances write to
    const a = holdable(stores.a);
    const { engine: engineA } = engine(a.storage, 'a', sink);
    const { engine: b, runner } = engine(stores.b, 'b', sink);
    const ids = await seed(b, 'Patient', 10);
    const held = new Promise<void>((resolve) => {
      engineA.jobs.on('progress', (job) => {
        if (job.progress.chunks === 1) void a.hold().then(resolve);
      });
    });
    const submitted = await engineA.bulkExport({ level: 'system', types: ['Patient'] });
    await held;
    expect(await b.storage.readJob(submitted.id)).toMatchObject({ kind: 'bulk-export', status: 'running', lease: { owner: 'a' } });
    await runner.tick();
    expect(runner.busy).toBe(false);

    clock.set(after(DEFAULT_LEASE_MS));
    await runner.tick();
    expect(runner.busy).toBe(true);
    const done = await b.jobs.settled(submitted.id);
    expect(done.status).toBe('completed');
    expect(done.lease).toBeUndefined();
    let text = '';
    for await (const chunk of await b.exportFile(submitted.id, 'Patient.ndjson')) text += Buffer.from(chunk).toString('utf8');
    const exported = text.trim().split('\n').map((line) => (JSON.parse(line) as { id: string }).id);
    expect(exported.sort()).toEqual([...ids].sort());
  });
});
