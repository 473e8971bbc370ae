/**
 * Bulk delete throughput on SQLite (file database, WAL): deletes N tagged Patients (default
 * 100,000; `BENCH_N` to change) with a soft and with a hard `$bulk-delete`, and prints one JSON line
 * per measurement: `{"bench":"bulk-delete","mode":"soft","criteria":"_tag=…","n":100000,"seconds":…}`.
 * Target: < 5 s. Runs with `_tag` criteria and with none (every Patient).
 *
 * Run: `npx tsx bench/bulk-delete.bench.ts`. Patients are loaded in large units of work straight
 * through the adapter, with index entries from the core's extractor (the load is not measured).
 * `BENCH_CHUNK` sets `limits.bulkDeleteChunkSize` (default: the engine's, 500).
 *
 * Then includes: `BENCH_N_INCLUDES` Patients (default N / 10) with 2 Observations each, hard-deleted
 * with `_revinclude=Observation:subject` (`deleted` counts both types), then with `_remove-references`
 * instead (the Observations stay, rewritten).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { SqliteAdapter } from '../adapters/sqlite/index.js';
import { FhirEngine } from '../src/engine.js';
import type { Resource } from '../src/resource/resource.js';
import { benchPatient, loadThroughAdapter } from './load.js';

const N = Number(process.env.BENCH_N ?? 100_000);
const N_INCLUDES = Number(process.env.BENCH_N_INCLUDES ?? Math.round(N / 10));
const OBSERVATIONS_PER_PATIENT = 2;
const CHUNK = process.env.BENCH_CHUNK ? Number(process.env.BENCH_CHUNK) : undefined;
const TAG = { system: 'http://example.org/bench', code: 'bench' };

const patient = (i: number): Resource => benchPatient(i, '2026-01-01T00:00:00.000Z', TAG);

function observation(i: number, k: number): Resource {
  return {
    resourceType: 'Observation',
    id: `o${i}-${k}`,
    meta: { versionId: '1', lastUpdated: '2026-01-01T00:00:00.000Z' },
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { reference: `Patient/p${i}` },
    valueQuantity: { value: 60 + k },
  };
}

async function run(mode: 'soft' | 'hard', criteria: string, options: { n?: number; observationsPerPatient?: number; removeReferences?: boolean } = {}): Promise<void> {
  const n = options.n ?? N;
  const dir = mkdtempSync(join(tmpdir(), 'fhir-engine-bulk-delete-bench-'));
  try {
    const storage = new SqliteAdapter({ filename: join(dir, 'fhir.db') });
    const perPatient = options.observationsPerPatient ?? 0;
    const loadSeconds = await loadThroughAdapter(storage, n, (i) => [patient(i), ...Array.from({ length: perPatient }, (_, k) => observation(i, k))]);
    const engine = new FhirEngine({ storage, ...(CHUNK !== undefined && { limits: { bulkDeleteChunkSize: CHUNK } }) });
    // The SQLite adapter applies index rows in bulk before the next search; do that once here, as
    // any search after the load would, so the figure below is the delete alone.
    const indexStarted = performance.now();
    await engine.search('Patient', '_count=1');
    const indexSeconds = (performance.now() - indexStarted) / 1000;
    const started = performance.now();
    const job = await engine.bulkDelete({ type: 'Patient', criteria, hardDelete: mode === 'hard', removeReferences: options.removeReferences ?? false });
    const done = await engine.jobs.settled(job.id);
    const seconds = (performance.now() - started) / 1000;
    const left = (await engine.search('Patient', '_summary=count')).total;
    console.log(
      JSON.stringify({
        bench: 'bulk-delete',
        adapter: 'sqlite',
        mode,
        criteria: criteria || '(none)',
        ...(options.removeReferences && { removeReferences: true }),
        n,
        ...(options.observationsPerPatient && { observations: n * options.observationsPerPatient }),
        status: done.status,
        ...(done.error && { error: done.error.message }),
        deleted: done.progress.processed,
        left,
        chunks: done.progress.chunks,
        seconds: Number(seconds.toFixed(3)),
        perSecond: Math.round(done.progress.processed / seconds),
        targetSeconds: 5,
        loadSeconds: Number(loadSeconds.toFixed(3)),
        indexApplySeconds: Number(indexSeconds.toFixed(3)),
      }),
    );
    await engine.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const TAGGED = '_tag=http://example.org/bench|bench';
await run('soft', TAGGED);
await run('hard', TAGGED);
await run('soft', '');
await run('hard', '');
const withObservations = { n: N_INCLUDES, observationsPerPatient: OBSERVATIONS_PER_PATIENT };
await run('hard', `${TAGGED}&_revinclude=Observation:subject`, withObservations);
await run('hard', TAGGED, { ...withObservations, removeReferences: true });
