/**
 * Composite search parameters through `FhirEngine.search`, on memory and on SQLite (a file in a temp
 * folder): `npm run bench -- composite`. Prints one JSON line per query: the composite, and beside it
 * the plain parameters of its parts (`code=…&value-quantity=…`), which the adapter answers alone. The
 * ratio is what evaluating the composite in the core costs on top of that.
 *
 * Corpus: `BENCH_OBSERVATIONS` (default 5000) Observations: 60% systolic blood pressures with a value
 * in the resource, 40% blood pressure panels with a systolic and a diastolic component.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryAdapter } from '../adapters/memory/index.js';
import { SqliteAdapter } from '../adapters/sqlite/index.js';
import { FhirEngine } from '../src/engine.js';
import type { Resource } from '../src/resource/resource.js';
import type { StorageAdapter } from '../src/storage/storage-adapter.js';

const N = Number(process.env.BENCH_OBSERVATIONS ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const LOINC = 'http://loinc.org';
const quantity = (value: number) => ({ value, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' });

function observation(i: number): Resource {
  const systolic = 90 + ((i * 37) % 91); // 90…180
  const diastolic = 50 + ((i * 53) % 61); // 50…110
  const base = { resourceType: 'Observation', id: `o${i}`, status: 'final', subject: { reference: `Patient/p${i % 200}` } };
  if (i % 5 < 3) return { ...base, code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: quantity(systolic) };
  return {
    ...base,
    code: { coding: [{ system: LOINC, code: '85354-9' }] },
    component: [
      { code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: quantity(systolic) },
      { code: { coding: [{ system: LOINC, code: '8462-4' }] }, valueQuantity: quantity(diastolic) },
    ],
  };
}

/** Pairs: the composite query and the plain one over the same parts. */
const QUERIES: [string, string, string][] = [
  ['code-value-quantity', `code-value-quantity=${LOINC}|8480-6$gt170`, `code=${LOINC}|8480-6&value-quantity=gt170`],
  ['component-code-value-quantity', `component-code-value-quantity=${LOINC}|8462-4$gt100`, `component-code=${LOINC}|8462-4&component-value-quantity=gt100`],
  ['combo-code-value-quantity', `combo-code-value-quantity=${LOINC}|8480-6$gt175`, `combo-code=${LOINC}|8480-6&combo-value-quantity=gt175`],
  ['with subject', `subject=Patient/p7&combo-code-value-quantity=${LOINC}|8480-6$gt100`, `subject=Patient/p7&combo-code=${LOINC}|8480-6&combo-value-quantity=gt100`],
];

async function timeQuery(engine: FhirEngine, qs: string): Promise<{ ms: number; matches: number }> {
  const run = async () => (await engine.search('Observation', `${qs}&_count=20&_total=accurate`)).total ?? 0;
  const matches = await run(); // warm-up
  const times: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, matches };
}

async function bench(kind: string, storage: StorageAdapter): Promise<void> {
  const engine = new FhirEngine({ storage });
  const bundle = { resourceType: 'Bundle', type: 'batch', entry: [] as unknown[] };
  for (let i = 0; i < N; i++) {
    const r = observation(i);
    bundle.entry.push({ resource: r, request: { method: 'PUT', url: `Observation/${r.id}` } });
  }
  await engine.handle({ method: 'POST', url: '/', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(bundle) });
  for (const [name, composite, plain] of QUERIES) {
    // Back to back, in one process: the ratio holds while absolute figures move with the machine.
    const c = await timeQuery(engine, composite);
    const p = await timeQuery(engine, plain);
    console.log(
      JSON.stringify({
        bench: `composite.${kind}.${name}`,
        observations: N,
        compositeMs: Number(c.ms.toFixed(2)),
        plainMs: Number(p.ms.toFixed(2)),
        ratio: Number((c.ms / p.ms).toFixed(2)),
        compositeMatches: c.matches,
        plainMatches: p.matches,
      }),
    );
  }
  await engine.close();
}

const dir = mkdtempSync(join(tmpdir(), 'fhir-engine-composite-bench-'));
try {
  await bench('memory', new MemoryAdapter());
  await bench('sqlite', new SqliteAdapter({ filename: join(dir, 'bench.db') }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
