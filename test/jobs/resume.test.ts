import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dirname } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { fixedClock, sequentialIds } from '../../src/clock.js';
import { FhirEngine } from '../../src/engine.js';
import { InProcessJobRunner } from '../../src/jobs/index.js';
import type { JobRecord } from '../../src/storage/job-record.js';
import type { StorageAdapter, StorageTx } from '../../src/storage/storage-adapter.js';
import { crashingAtUnit, makeEngine, seed } from '../../src/testing/job-helpers.js';
import { bundleForNode } from '../support/bundle.js';
import { runUntilKilled } from '../support/child.js';

/** Versions of type `Patient` by method, over the whole history. */
async function patientHistory(storage: StorageAdapter): Promise<{ total: number; deletes: number; perId: Map<string, number> }> {
  const { items } = await storage.readHistory({ level: 'type', type: 'Patient' }, { count: 1_000_000 });
  const perId = new Map<string, number>();
  for (const v of items) perId.set(v.id, (perId.get(v.id) ?? 0) + 1);
  return { total: items.length, deletes: items.filter((v) => v.method === 'DELETE').length, perId };
}

describe('resume after a stop (memory, deterministic)', () => {
  it('a new runner on the same adapter finishes the job: nothing lost, nothing counted twice', async () => {
    const storage = new MemoryAdapter();
    const first = makeEngine({ storage, chunkSize: 3 });
    await seed(first, 'Patient', 20);
    await seed(first, 'Patient', 2, false);
    // Stops the runner once chunk 2 is committed; resolves when it has stopped.
    const stopped = new Promise<void>((resolve) => {
      let stopping = false;
      first.jobs.on('progress', (job) => {
        if (job.progress.chunks === 2 && !stopping) {
          stopping = true;
          void first.jobs.stop().then(resolve);
        }
      });
    });
    const job = await first.bulkDelete({ type: 'Patient', criteria: '_tag=T' });
    await stopped;
    const paused = (await storage.readJob(job.id))!;
    expect(paused.status).toBe('running');
    expect(paused.progress).toEqual({ processed: 6, byType: { Patient: 6 }, chunks: 2 });

    const second = new FhirEngine({ storage, clock: fixedClock('2026-01-02T00:00:00Z', 1000), ids: sequentialIds('x'), limits: { bulkDeleteChunkSize: 3 } });
    await second.start();
    const done = await second.jobs.settled(job.id);
    expect(done.status).toBe('completed');
    expect(done.progress.byType).toEqual({ Patient: 20 });
    expect(done.progress.processed).toBe(20);
    expect(done.progress.chunks).toBe(7);
    expect(done.transitions.map((t) => t.status)).toEqual(['queued', 'running', 'completed']);
    const hist = await patientHistory(storage);
    expect(hist.deletes).toBe(20);
    expect(hist.total).toBe(42);
    expect([...hist.perId.values()].every((n) => n <= 2)).toBe(true);
  });

  it('a chunk that crashes before commit rolls back and is redone by the next runner', async () => {
    const storage = new MemoryAdapter();
    const seeder = makeEngine({ storage });
    await seed(seeder, 'Patient', 10);
    let runner: InProcessJobRunner | undefined;
    let crashed!: (stopped: Promise<void>) => void;
    const crash = new Promise<Promise<void>>((resolve) => (crashed = resolve));
    // Crashes the 4th unit of work after the chunk did its work, before it commits.
    // Over the seeder's runtime, which `first` then uses as its own: one queue for both.
    const crashing = crashingAtUnit(seeder.storage, 4, () => crashed(runner!.stop()));
    runner = new InProcessJobRunner({ chunkSize: 2 });
    const first = makeEngine({ storage: crashing, jobs: runner });
    const job = await first.bulkDelete({ type: 'Patient', criteria: '_tag=T' }); // unit 1
    await (await crash); // the runner has stopped after the crash
    const paused = (await storage.readJob(job.id))!;
    expect(paused.status).toBe('running');
    expect(paused.progress.processed).toBe(4); // units 2 and 3 committed; unit 4 rolled back
    expect((await patientHistory(storage)).deletes).toBe(4);

    const second = makeEngine({ storage, chunkSize: 2 });
    await second.start();
    const done = await second.jobs.settled(job.id);
    expect(done.progress).toEqual({ processed: 10, byType: { Patient: 10 }, chunks: 5 });
    const hist = await patientHistory(storage);
    expect(hist.deletes).toBe(10);
    expect(hist.total).toBe(20);
  });

  it('start() resumes queued jobs too, and a runner that was never started starts on first use', async () => {
    const storage = new MemoryAdapter();
    const first = makeEngine({ storage });
    await seed(first, 'Patient', 3);
    await first.jobs.stop();
    // A queued job written by a process that died right after submitting it.
    const queued: JobRecord = {
      ...(await makeEngine({ storage: new MemoryAdapter() }).bulkDelete({ type: 'Patient', criteria: '_tag=T' })),
    };
    const { params } = queued as JobRecord<{ maxSeq: number }>;
    await first.storage.transact((tx) => tx.writeJob({ ...queued, id: 'orphan', params: { ...params, maxSeq: 1_000 } }, null));
    // The job's units of work wait at a gate, so the poll sees it unfinished, whatever the timing. The
    // gate stands in front of the first engine's runtime, which `second` uses as its own: a held unit
    // has not taken its turn in the queue, so the poll's reads do not wait behind it.
    let reached!: () => void;
    const atGate = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const gated = new Proxy(first.storage, {
      get(target, prop) {
        if (prop === 'transact') {
          return <T>(work: (tx: StorageTx) => Promise<T>) => {
            reached();
            return gate.then(() => target.transact(work));
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const second = makeEngine({ storage: gated });
    const polled = await second.handle({ method: 'GET', url: '/_operations/bulk-delete/orphan' });
    expect(polled.status).toBe(202);
    await atGate; // the poll started the runner, and the runner took the job up
    release();
    const done = await second.jobs.settled('orphan');
    expect(done.progress.byType).toEqual({ Patient: 3 });
  });
});

describe('a runner that requires durable storage', () => {
  it('refuses a storage that is not durable at construction, and runs jobs on one that is', async () => {
    expect(() => makeEngine({ storage: new MemoryAdapter(), jobs: new InProcessJobRunner({ requireDurableStorage: true }) })).toThrow(/requires a durable storage; 'memory'/);
    const dir = mkdtempSync(join(tmpdir(), 'durable-runner-'));
    try {
      const engine = makeEngine({ storage: new SqliteAdapter({ filename: join(dir, 'db.sqlite') }), jobs: new InProcessJobRunner({ requireDurableStorage: true }) });
      expect(engine.storage.durable).toBe(true);
      await seed(engine, 'Patient', 2);
      const job = await engine.bulkDelete({ type: 'Patient' });
      expect((await engine.jobs.settled(job.id)).progress.byType).toEqual({ Patient: 2 });
      await engine.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('resume after kill -9 (SQLite file database, child process)', () => {
  let dir: string | undefined;
  let child: string;
  // The child runs on plain node from a bundle, so the kill races the job, not a TypeScript loader.
  beforeAll(async () => {
    child = await bundleForNode('test/jobs/crash-child.ts');
  });
  afterAll(() => rmSync(dirname(child), { recursive: true, force: true }));
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the job resumes on start() with exact counts', async () => {
    dir = mkdtempSync(join(tmpdir(), 'fhir-jobs-'));
    const filename = join(dir, 'fhir.db');
    const N = 600;
    {
      const storage = new SqliteAdapter({ filename });
      const engine = new FhirEngine({ storage, clock: fixedClock('2026-01-01T00:00:00Z', 1), ids: sequentialIds() });
      await seed(engine, 'Patient', N);
      await seed(engine, 'Patient', 5, false);
      await engine.close();
    }

    const { lines, ...exit } = await runUntilKilled(child, [filename, '10'], (line) => typeof line.chunks === 'number' && line.chunks >= 8);
    expect(exit.signal).toBe('SIGKILL');
    expect(lines.some((l) => l.finished === true)).toBe(false);
    const jobId = String(lines[0]!.id);

    const storage = new SqliteAdapter({ filename });
    const engine = new FhirEngine({ storage, clock: fixedClock('2026-03-01T00:00:00Z', 1), ids: sequentialIds('r'), limits: { bulkDeleteChunkSize: 10 } });
    try {
      const killed = (await storage.readJob(jobId))!;
      expect(killed.status).toBe('running');
      expect(killed.progress.chunks).toBeGreaterThanOrEqual(8);
      expect(killed.progress.chunks).toBeLessThan(N / 10);
      expect(killed.progress.processed).toBe((await patientHistory(storage)).deletes); // progress committed with its chunk

      await engine.start();
      const done = await engine.jobs.settled(jobId);
      expect(done.status).toBe('completed');
      expect(done.progress.byType).toEqual({ Patient: N });
      expect(done.progress.processed).toBe(N);
      const hist = await patientHistory(storage);
      expect(hist.deletes).toBe(N);
      expect(hist.total).toBe(2 * N + 5);
      expect([...hist.perId.values()].every((n) => n <= 2)).toBe(true);
      expect((await engine.search('Patient', '_summary=count')).total).toBe(5);
    } finally {
      await engine.close();
    }
  }, 60_000);
});
