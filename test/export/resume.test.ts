/**
 * A bulk export resumes where it stopped: after its runner stopped, after a chunk that crashed before
 * committing (its lines are written again, never twice), and after the process was killed (SIGKILL)
 * in the middle of the job; the files are then the same as those of an export that ran through.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryExportSink } from '../../adapters/directory-export/index.js';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { MemoryExportSink } from '../../src/adapter-kit.js';
import { fixedClock, randomIds, sequentialIds, type IdGenerator } from '../../src/clock.js';
import { FhirEngine } from '../../src/engine.js';
import { InProcessJobRunner } from '../../src/jobs/index.js';
import type { ExportSink } from '../../src/export/sink.js';
import type { StorageAdapter, StorageTx } from '../../src/storage/storage-adapter.js';
import { crashingAtUnit } from '../../src/testing/job-helpers.js';
import { bundleForNode } from '../support/bundle.js';
import { runUntilKilled } from '../support/child.js';

const engineOn = (storage: StorageAdapter, exportSink: ExportSink, chunk: number, jobs?: InProcessJobRunner, ids: IdGenerator = sequentialIds()): FhirEngine =>
  new FhirEngine({
    storage,
    exportSink,
    clock: fixedClock('2026-01-01T00:00:00Z', 1000),
    ids,
    limits: { exportChunkSize: chunk },
    ...(jobs && { jobs }),
  });

/** Patients and Observations, a few of each deleted. */
async function seed(engine: FhirEngine, patients: number, perPatient: number): Promise<void> {
  for (let p = 0; p < patients; p++) {
    const { resource } = await engine.create({ resourceType: 'Patient', name: [{ family: `P${p}` }] });
    for (let o = 0; o < perPatient; o++) {
      await engine.create({ resourceType: 'Observation', status: 'final', code: { text: `o${o}` }, subject: { reference: `Patient/${resource.id}` } });
    }
    if (p % 7 === 3) await engine.delete('Patient', resource.id);
  }
}

async function files(engine: FhirEngine, id: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const o of (await engine.exportManifest(id))!.output) {
    let text = '';
    for await (const chunk of await engine.exportFile(id, `${o.type}.ndjson`)) text += Buffer.from(chunk).toString('utf8');
    out[o.type] = text;
  }
  return out;
}

/** The same files, as an export that ran through on `storage` writes them. */
async function reference(storage: StorageAdapter, chunk: number): Promise<Record<string, string>> {
  const engine = engineOn(storage, new MemoryExportSink(), chunk, undefined, randomIds);
  const job = await engine.bulkExport({ level: 'system' });
  await engine.jobs.settled(job.id);
  return files(engine, job.id);
}

describe('export resume (memory, deterministic)', () => {
  it('a new runner on the same storage and sink finishes the export: same files', async () => {
    const storage = new MemoryAdapter();
    const sink = new MemoryExportSink();
    const first = engineOn(storage, sink, 4);
    await seed(first, 6, 5);
    const stopped = new Promise<void>((resolve) => {
      let stopping = false;
      first.jobs.on('progress', (job) => {
        if (job.progress.chunks === 3 && !stopping) {
          stopping = true;
          void first.jobs.stop().then(resolve);
        }
      });
    });
    const job = await first.bulkExport({ level: 'system' });
    await stopped;
    const paused = (await storage.readJob(job.id))!;
    expect(paused.status).toBe('running');
    expect(paused.progress.processed).toBeLessThan(30);

    const second = engineOn(storage, sink, 4);
    await second.start();
    const done = await second.jobs.settled(job.id);
    expect(done.status).toBe('completed');
    expect(done.progress.byType).toEqual({ Observation: 30, Patient: 5 });
    expect(await files(second, job.id)).toEqual(await reference(storage, 4));
  });

  it('a chunk that crashes after writing its lines, before committing, writes them again and not twice', async () => {
    const storage = new MemoryAdapter();
    const sink = new MemoryExportSink();
    const seeder = engineOn(storage, sink, 3);
    await seed(seeder, 2, 6);
    let runner: InProcessJobRunner | undefined;
    let crashed!: (stopped: Promise<void>) => void;
    const crash = new Promise<Promise<void>>((resolve) => (crashed = resolve));
    // The 3rd unit of work (the job's 2nd chunk) does its work, sink writes included, then "dies".
    const crashing = crashingAtUnit(seeder.storage, 3, () => crashed(runner!.stop()));
    runner = new InProcessJobRunner();
    const first = engineOn(crashing, sink, 3, runner);
    const job = await first.bulkExport({ level: 'system', types: ['Observation'] }); // unit 1
    await (await crash);
    expect((await storage.readJob(job.id))!.progress.processed).toBe(3); // unit 2 committed, unit 3 rolled back

    const second = engineOn(storage, sink, 3);
    await second.start();
    expect((await second.jobs.settled(job.id)).progress.byType).toEqual({ Observation: 12 });
    const lines = (await files(second, job.id)).Observation!.trim().split('\n');
    expect(lines).toHaveLength(12);
    expect(new Set(lines).size).toBe(12);
  });
});

describe('export resume after kill -9 (SQLite file database, directory sink, child process)', () => {
  let dir: string | undefined;
  let child: string;
  beforeAll(async () => {
    child = await bundleForNode('test/export/export-child.ts');
  });
  afterAll(() => rmSync(dirname(child), { recursive: true, force: true }));
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the job resumes on start() and its files are those of an export that ran through', async () => {
    dir = mkdtempSync(join(tmpdir(), 'fhir-export-'));
    const filename = join(dir, 'fhir.db');
    const exports = join(dir, 'export');
    {
      const engine = engineOn(new SqliteAdapter({ filename }), new MemoryExportSink(), 10);
      await seed(engine, 40, 12);
      await engine.close();
    }

    const { lines, ...exit } = await runUntilKilled(child, [filename, exports, '10'], (line) => typeof line.processed === 'number' && line.processed >= 200);
    expect(exit.signal).toBe('SIGKILL');
    expect(lines.some((l) => l.finished === true)).toBe(false);
    const jobId = String(lines[0]!.id);

    const storage = new SqliteAdapter({ filename });
    // The killed child's instance id: a restarted instance takes its own leased jobs back at once.
    const engine = engineOn(storage, new DirectoryExportSink(exports), 10, new InProcessJobRunner({ instanceId: 'export-host' }));
    try {
      const killed = (await storage.readJob(jobId))!;
      expect(killed.status).toBe('running');
      expect(killed.progress.processed).toBeGreaterThanOrEqual(200);
      expect(killed.progress.processed).toBeLessThan(40 * 13);
      await engine.start();
      const done = await engine.jobs.settled(jobId);
      expect(done.status).toBe('completed');
      expect(done.progress.byType).toEqual({ Observation: 480, Patient: 34 });
      const resumed = await files(engine, jobId);
      expect(resumed).toEqual(await reference(storage, 10));
      expect(readdirSync(join(exports, jobId)).sort()).toEqual(['Observation.ndjson', 'Patient.ndjson']);
      expect(readFileSync(join(exports, jobId, 'Patient.ndjson'), 'utf8')).toBe(resumed.Patient);
    } finally {
      await engine.close();
    }
  }, 60_000);
});
