/**
 * Bulk export throughput on SQLite (file database, WAL): N Patients (default 100,000; `BENCH_N`) and
 * 3 Observations each, exported from kick-off to complete manifest into a directory
 * (`DirectoryExportSink`), system-wide and per Patient. Prints one JSON line per export:
 * `{"bench":"export","level":"system","resources":400000,"seconds":…,"perSecond":…,"peakRssGrowthMB":…}`.
 * Target: ≥ 50,000 resources/s and a peak RSS growth under 100 MB (the job streams: one chunk of
 * `limits.exportChunkSize` resources in memory at a time).
 *
 * Run: `npm run bench -- export`. Resources are loaded in large units of work straight through the
 * adapter, with index entries from the core's extractor, and the deferred index is applied before
 * the first kick-off (neither is measured). Each export runs in a fresh process that opens the
 * database, so that its RSS is the export's own: sampled every 20 ms, the growth is the peak minus
 * the RSS right before the kick-off (after a GC). `BENCH_SYNC=0` skips the per-chunk fdatasync,
 * `BENCH_CHUNK` sets `limits.exportChunkSize` (default: the engine's, 2,000); `BENCH_CACHE_KIB` the
 * SQLite page cache of the exporting process (`cacheSizeKiB`, default 32 MiB: a scan of the whole
 * database fills it, so that much of the RSS growth is the cache's bound, not the export's);
 * `BENCH_DIR=<dir>` keeps the database there and loads it only when it is not there yet (to profile
 * the exports alone: `node --expose-gc --cpu-prof <bundled bench> measure <dir>/fhir.db <dir>/export system`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DirectoryExportSink } from '../adapters/directory-export/index.js';
import { SqliteAdapter } from '../adapters/sqlite/index.js';
import { FhirEngine } from '../src/engine.js';
import type { BulkExportRequest } from '../src/export/export-job.js';
import type { Resource } from '../src/resource/resource.js';
import { benchPatient, loadThroughAdapter } from './load.js';

const N = Number(process.env.BENCH_N ?? 100_000);
const SYNC = process.env.BENCH_SYNC !== '0';
const CHUNK = process.env.BENCH_CHUNK ? Number(process.env.BENCH_CHUNK) : undefined;
const LOINC = ['8867-4', '8480-6', '8462-4', '29463-7', '8302-2'];
const lastUpdated = '2026-01-01T00:00:00.000Z';

const patient = (i: number): Resource => benchPatient(i, lastUpdated);

function observation(i: number, k: number): Resource {
  const code = LOINC[(i + k) % LOINC.length]!;
  return {
    resourceType: 'Observation',
    id: `o${i}-${k}`,
    meta: { versionId: '1', lastUpdated },
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code }], text: code },
    subject: { reference: `Patient/p${i}` },
    effectiveDateTime: `2024-0${1 + (k % 9)}-1${k % 10}T08:00:00Z`,
    valueQuantity: { value: 60 + ((i * 7 + k) % 80), unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  };
}

/** One export in this process, from kick-off to complete manifest (run in a fresh process: see below). */
async function measure(filename: string, directory: string, level: BulkExportRequest['level']): Promise<void> {
  const engine = new FhirEngine({
    storage: new SqliteAdapter({ filename, ...(process.env.BENCH_CACHE_KIB ? { cacheSizeKiB: Number(process.env.BENCH_CACHE_KIB) } : {}) }),
    exportSink: new DirectoryExportSink(directory, { sync: SYNC }),
    ...(CHUNK !== undefined && { limits: { exportChunkSize: CHUNK } }),
  });
  await engine.search('Patient', '_count=1'); // opens the database; nothing is pending
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const started = performance.now();
  const kickOff = await engine.handle({ method: 'GET', url: level === 'system' ? '/$export' : '/Patient/$export', headers: { prefer: 'respond-async' } });
  const id = kickOff.headers['content-location']!.split('/').pop()!;
  const job = await engine.jobs.settled(id);
  const manifest = await engine.handle({ method: 'GET', url: `/_operations/export/${id}` });
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const output = (JSON.parse(manifest.body!) as { output: { type: string; count: number }[] }).output;
  const resources = output.reduce((n, o) => n + o.count, 0);
  const mb = (bytes: number): number => Number((bytes / 2 ** 20).toFixed(1));
  console.log(
    JSON.stringify({
      bench: 'export',
      adapter: 'sqlite',
      level,
      status: job.status,
      manifestStatus: manifest.status,
      resources,
      byType: Object.fromEntries(output.map((o) => [o.type, o.count])),
      chunks: job.progress.chunks,
      seconds: Number(seconds.toFixed(3)),
      perSecond: Math.round(resources / seconds),
      rssBeforeMB: mb(baseline),
      peakRssMB: mb(peak),
      peakRssGrowthMB: mb(peak - baseline),
      sync: SYNC,
      chunkSize: CHUNK ?? 'default',
      targetPerSecond: 50_000,
      targetRssGrowthMB: 100,
    }),
  );
  await engine.deleteExport(id);
  await engine.close();
}

if (process.argv[2] === 'measure') {
  await measure(process.argv[3]!, process.argv[4]!, process.argv[5] as BulkExportRequest['level']);
} else {
  const keep = process.env.BENCH_DIR;
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'fhir-engine-export-bench-'));
  try {
    const filename = join(dir, 'fhir.db');
    const loaded = keep !== undefined && existsSync(filename);
    const storage = new SqliteAdapter({ filename });
    const loadSeconds = loaded ? 0 : await loadThroughAdapter(storage, N, (i) => [patient(i), observation(i, 0), observation(i, 1), observation(i, 2)], 5_000);
    const engine = new FhirEngine({ storage });
    // The SQLite adapter applies index rows in bulk before the next search: once here, as any search would.
    const indexStarted = performance.now();
    await engine.search('Patient', '_count=1');
    const indexSeconds = (performance.now() - indexStarted) / 1000;
    await engine.close();
    console.log(JSON.stringify({ bench: 'export-load', patients: N, observations: 3 * N, loadSeconds: Number(loadSeconds.toFixed(1)), indexApplySeconds: Number(indexSeconds.toFixed(1)) }));
    // Each export in a process of its own: its RSS is the export's, not the load's.
    for (const level of ['system', 'patient']) {
      const run = spawnSync(process.execPath, ['--expose-gc', process.argv[1]!, 'measure', filename, join(dir, 'export'), level], { stdio: 'inherit' });
      if (run.status !== 0) throw new Error(`the ${level} export exited with ${run.status}`);
    }
  } finally {
    if (keep === undefined) rmSync(dir, { recursive: true, force: true });
  }
}
