/**
 * Bundle throughput: a 1,000-entry batch and transaction of creates on memory and SQLite
 * (entries/s), and the speed-up of a parallel batch over a serial one on a storage with latency.
 * Run: `npx tsx bench/bundle.bench.ts`. Prints one JSON line per measurement.
 */
import { MemoryAdapter } from '../adapters/memory/index.js';
import { FhirEngine } from '../src/engine.js';
import type { Resource } from '../src/resource/resource.js';
import type { StorageAdapter } from '../src/storage/storage-adapter.js';
import { LatencyAdapter } from '../test/support/latency-adapter.js';

const ENTRIES = 1000;

const creates = (type: 'batch' | 'transaction', n: number): Resource => ({
  resourceType: 'Bundle',
  type,
  entry: Array.from({ length: n }, (_, i) => ({
    fullUrl: `urn:uuid:00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
    resource: {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      valueQuantity: { value: 60 + (i % 40), unit: 'bpm' },
      ...(i > 0 && { subject: { reference: `urn:uuid:00000000-0000-0000-0000-${String(0).padStart(12, '0')}` } }),
    },
    request: { method: 'POST', url: 'Observation' },
  })),
});

async function measure(name: string, storage: () => StorageAdapter, type: 'batch' | 'transaction', parallel = false) {
  const engine = new FhirEngine({ storage: storage() });
  await engine.batch(creates('batch', 20)); // warm-up
  const bundle = creates(type, ENTRIES);
  const started = performance.now();
  const res = type === 'batch' ? await engine.batch(bundle, { parallel }) : await engine.transaction(bundle);
  const ms = performance.now() - started;
  const ok = res.entry.filter((e) => e.response.status === '201 Created').length;
  if (ok !== ENTRIES) throw new Error(`${name}: ${ok}/${ENTRIES} created`);
  await engine.close();
  console.log(JSON.stringify({ bench: name, entries: ENTRIES, ms: Math.round(ms), entriesPerSec: Math.round((ENTRIES / ms) * 1000) }));
}

const backends: [string, () => StorageAdapter][] = [['memory', () => new MemoryAdapter()]];
try {
  const { SqliteAdapter } = await import('../adapters/sqlite/index.js');
  new SqliteAdapter({ filename: ':memory:' }).close();
  backends.push(['sqlite', () => new SqliteAdapter({ filename: ':memory:' })]);
} catch (error) {
  console.log(JSON.stringify({ bench: 'bundle.sqlite', skipped: String(error) }));
}

for (const [name, storage] of backends) {
  await measure(`bundle.batch.${name}`, storage, 'batch');
  await measure(`bundle.batch-parallel.${name}`, storage, 'batch', true);
  await measure(`bundle.transaction.${name}`, storage, 'transaction');
}

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
