/**
 * Bulk delete throughput on SQLite (file database, WAL): deletes N tagged Patients (default
 * 100,000; `BENCH_N` to change) with a soft and with a hard `$bulk-delete`, and prints one JSON line
 * per measurement: `{"bench":"bulk-delete","mode":"soft","criteria":"_tag=…","n":100000,"seconds":…}`.
 * Target: < 5 s. Runs with `_tag` criteria and with none (every Patient).
 *
 * Run: `npx tsx bench/bulk-delete.bench.ts`. Patients are loaded in large units of work straight
 * through the adapter, with index entries from the core's extractor (the load is not measured).
 * `BENCH_CHUNK` sets `limits.bulkDeleteChunkSize` (default: the engine's, 500).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { SqliteAdapter } from '../adapters/sqlite/index.js';
import { FhirEngine } from '../src/engine.js';
import type { Resource } from '../src/resource/resource.js';
import { loadThroughAdapter } from './load.js';

const N = Number(process.env.BENCH_N ?? 100_000);
const CHUNK = process.env.BENCH_CHUNK ? Number(process.env.BENCH_CHUNK) : undefined;
const TAG = { system: 'http://example.org/bench', code: 'bench' };
const FAMILIES = ['Smith', 'Jones', 'Müller', 'García', 'Nguyen', 'Kowalski', 'Rossi', 'Dubois'];

function patient(i: number): Resource {
  return {
    resourceType: 'Patient',
    id: `p${i}`,
    meta: { versionId: '1', lastUpdated: '2026-01-01T00:00:00.000Z', tag: [TAG] },
    identifier: [{ system: 'http://example.org/mrn', value: String(i) }],
    name: [{ family: FAMILIES[i % FAMILIES.length], given: ['Anna', 'B'] }],
    gender: i % 2 ? 'female' : 'male',
    birthDate: `19${String(50 + (i % 50)).padStart(2, '0')}-01-0${1 + (i % 9)}`,
    address: [{ city: 'Berlin', postalCode: String(10000 + (i % 999)) }],
  };
}

async function run(mode: 'soft' | 'hard', criteria: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fhir-engine-bulk-delete-bench-'));
  try {
    const storage = new SqliteAdapter({ filename: join(dir, 'fhir.db') });
    const loadSeconds = await loadThroughAdapter(storage, N, (i) => [patient(i)]);
    const engine = new FhirEngine({ storage, ...(CHUNK !== undefined && { limits: { bulkDeleteChunkSize: CHUNK } }) });
    // The SQLite adapter applies index rows in bulk before the next search; do that once here, as
    // any search after the load would, so the figure below is the delete alone.
    const indexStarted = performance.now();
    await engine.search('Patient', '_count=1');
    const indexSeconds = (performance.now() - indexStarted) / 1000;
    const started = performance.now();
    const job = await engine.bulkDelete({ type: 'Patient', criteria, hardDelete: mode === 'hard' });
    const done = await engine.jobs.settled(job.id);
    const seconds = (performance.now() - started) / 1000;
    const left = (await engine.search('Patient', '_summary=count')).total;
    console.log(
      JSON.stringify({
        bench: 'bulk-delete',
        adapter: 'sqlite',
        mode,
        criteria: criteria || '(none)',
        n: N,
        status: done.status,
        deleted: done.progress.byType.Patient ?? 0,
        left,
        chunks: done.progress.chunks,
        seconds: Number(seconds.toFixed(3)),
        perSecond: Math.round(N / seconds),
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
