/**
 * Bundle throughput (entries/s) on memory and SQLite: 1,000 single creates through handle(), then a
 * 1,000-entry batch and transaction of creates through handle() and through the typed API, and the
 * batch/single ratio the bundle path is held to (a batch of creates on memory ≥ 90% of the entries/s
 * of single creates through handle(), measured in the same run). Each figure is the median of
 * ROUNDS runs (`BENCH_ROUNDS`, default 15), each on a fresh engine, timed in CPU time of this process
 * (user + system; the engine's work is synchronous between awaits on these adapters), which other
 * processes on a shared machine disturb far less than wall time. Last, the speed-up of a parallel batch over a serial one on a
 * storage with latency.
 * Run: `npm run bench -- bundle`. Prints one JSON line per measurement.
 */
import { MemoryAdapter } from '../adapters/memory/index.js';
import { FhirEngine } from '../src/engine.js';
import type { Resource } from '../src/resource/resource.js';
import type { StorageAdapter } from '../src/storage/storage-adapter.js';
import { LatencyAdapter } from '../test/support/latency-adapter.js';

const ENTRIES = 1000;
/** Milliseconds of CPU time this process spent since `since` (a `process.cpuUsage()`). */
const cpuMsSince = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const json = { 'content-type': 'application/fhir+json' };

const observation = (i: number, subject: string | undefined): Resource => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  valueQuantity: { value: 60 + (i % 40), unit: 'bpm' },
  ...(subject !== undefined && { subject: { reference: subject } }),
});

const uuid = (i: number): string => `urn:uuid:00000000-0000-0000-0000-${String(i).padStart(12, '0')}`;

const creates = (type: 'batch' | 'transaction', n: number): Resource => ({
  resourceType: 'Bundle',
  type,
  entry: Array.from({ length: n }, (_, i) => ({
    fullUrl: uuid(i),
    // Batch entries cannot reference each other; transaction entries do (fullUrl → id rewriting).
    resource: observation(i, i > 0 && type === 'transaction' ? uuid(0) : undefined),
    request: { method: 'POST', url: 'Observation' },
  })),
});

type Mode = 'single.handle' | 'batch.handle' | 'batch.typed' | 'batch-parallel.typed' | 'transaction.handle' | 'transaction.typed';

/** One run: a fresh engine, a warm-up, then ENTRIES entries the way `mode` says; returns ms. */
async function once(storage: () => StorageAdapter, mode: Mode): Promise<number> {
  const engine = new FhirEngine({ storage: storage() });
  await engine.batch(creates('batch', 20)); // warm-up
  const type = mode.startsWith('transaction') ? 'transaction' : 'batch';
  const bundle = creates(type, ENTRIES);
  const bodies = Array.from({ length: ENTRIES }, (_, i) => JSON.stringify(observation(i, undefined)));
  const text = JSON.stringify(bundle);
  // Only the engine's work is timed; the checks on what it answered come after.
  let ms: number;
  let created: number;
  if (mode === 'single.handle') {
    const statuses: number[] = [];
    const started = process.cpuUsage();
    for (const body of bodies) statuses.push((await engine.handle({ method: 'POST', url: '/Observation', headers: json, body })).status);
    ms = cpuMsSince(started);
    created = statuses.filter((s) => s === 201).length;
  } else if (mode.endsWith('.handle')) {
    const started = process.cpuUsage();
    const res = await engine.handle({ method: 'POST', url: '/', headers: json, body: text });
    ms = cpuMsSince(started);
    created = (res.body!.match(/"status":"201 Created"/g) ?? []).length;
  } else {
    const started = process.cpuUsage();
    const res =
      mode === 'transaction.typed'
        ? await engine.transaction(bundle)
        : await engine.batch(bundle, { parallel: mode === 'batch-parallel.typed' });
    ms = cpuMsSince(started);
    created = res.entry.filter((e) => e.response.status === '201 Created').length;
  }
  await engine.close();
  if (created !== ENTRIES) throw new Error(`${mode}: ${created}/${ENTRIES} created`);
  return ms;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const MODES: readonly Mode[] = ['single.handle', 'batch.handle', 'batch.typed', 'batch-parallel.typed', 'transaction.handle', 'transaction.typed'];

/**
 * Every mode once to warm the JIT (discarded), then ROUNDS rounds that each run every mode in turn,
 * so that no mode profits from running later (warmer) than another; the median of each mode.
 */
async function measure(backend: string, storage: () => StorageAdapter): Promise<void> {
  for (const mode of MODES) await once(storage, mode);
  const runs = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  for (let r = 0; r < ROUNDS; r++) for (const mode of MODES) runs.get(mode)!.push(await once(storage, mode));
  const perSec = new Map<Mode, number>();
  for (const mode of MODES) {
    const ms = median(runs.get(mode)!);
    const entriesPerSec = Math.round((ENTRIES / ms) * 1000);
    perSec.set(mode, entriesPerSec);
    console.log(JSON.stringify({ bench: `bundle.${mode}.${backend}`, entries: ENTRIES, rounds: ROUNDS, medianMs: Number(ms.toFixed(1)), entriesPerSec }));
  }
  const ratio = perSec.get('batch.handle')! / perSec.get('single.handle')!;
  console.log(JSON.stringify({ bench: `bundle.batch-vs-single.${backend}`, ratio: Number(ratio.toFixed(2)) }));
}

const backends: [string, () => StorageAdapter][] = [['memory', () => new MemoryAdapter()]];
try {
  const { SqliteAdapter } = await import('../adapters/sqlite/index.js');
  await new SqliteAdapter({ filename: ':memory:' }).close();
  backends.push(['sqlite', () => new SqliteAdapter({ filename: ':memory:' })]);
} catch (error) {
  console.log(JSON.stringify({ bench: 'bundle.sqlite', skipped: String(error) }));
}

for (const [backend, storage] of backends) await measure(backend, storage);

// Parallel vs serial batch on a storage where every call costs 2 ms.
{
  const latencyMs = 2;
  const n = 200;
  const engine = new FhirEngine({ storage: new LatencyAdapter(new MemoryAdapter(), latencyMs) });
  const bundle = creates('batch', n);
  const time = async (parallel: boolean) => {
    const started = performance.now();
    await engine.batch(bundle, { parallel });
    return performance.now() - started;
  };
  const serial = await time(false);
  const parallel = await time(true);
  console.log(
    JSON.stringify({
      bench: 'bundle.batch.latency-speedup',
      latencyMs,
      entries: n,
      serialMs: Math.round(serial),
      parallelMs: Math.round(parallel),
      serialEntriesPerSec: Math.round((n / serial) * 1000),
      parallelEntriesPerSec: Math.round((n / parallel) * 1000),
      speedup: Number((serial / parallel).toFixed(2)),
    }),
  );
}
