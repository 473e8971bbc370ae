/**
 * Core CRUD throughput through handle() on the memory adapter (issue: core engine).
 * Prints JSON lines: ops/s for create, read, update, delete, history at 20k Patients, and the heap
 * growth per stored Patient version after 100k creates (with Patient unsearched, then searched).
 */
import { MemoryAdapter } from '../adapters/memory/index.js';
import { FhirEngine } from '../src/index.js';

const N = 20_000;
const HEAP_N = 100_000;

const patient = (i: number) => ({
  resourceType: 'Patient',
  identifier: [{ system: 'http://hospital.example/mrn', value: `MRN${i}` }],
  active: true,
  name: [{ family: `Family${i % 1000}`, given: [`Given${i % 97}`] }],
  gender: i % 2 ? 'male' : 'female',
  birthDate: `19${String(50 + (i % 50)).padStart(2, '0')}-0${1 + (i % 9)}-1${i % 10}`,
  address: [{ city: `City${i % 50}`, postalCode: `${10000 + (i % 9000)}`, country: 'US' }],
});

const json = { 'content-type': 'application/fhir+json' };

function report(bench: string, ops: number, ms: number, extra: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ bench, ops, ms: Math.round(ms), opsPerSec: Math.round((ops / ms) * 1000), ...extra }));
}

async function timed(bench: string, n: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  report(bench, n, performance.now() - start);
}

async function crud(): Promise<void> {
  const engine = new FhirEngine({ storage: new MemoryAdapter() });
  const bodies = Array.from({ length: N }, (_, i) => JSON.stringify(patient(i)));
  const ids: string[] = [];
  // Warm-up: compile FHIRPath, JIT the hot paths.
  for (let i = 0; i < 2000; i++) await engine.handle({ method: 'POST', url: '/Patient', headers: json, body: bodies[i]! });

  await timed('core.create', N, async (i) => {
    const res = await engine.handle({ method: 'POST', url: '/Patient', headers: json, body: bodies[i]! });
    // Location: /Patient/{id}/_history/1, as a client would read it.
    ids.push(res.headers.location!.split('/')[2]!);
  });
  await timed('core.read', N, (i) => engine.handle({ method: 'GET', url: `/Patient/${ids[i]}` }));
  const updates = ids.map((id, i) => JSON.stringify({ ...patient(i), id, active: false }));
  await timed('core.update', N, (i) => engine.handle({ method: 'PUT', url: `/Patient/${ids[i]}`, headers: json, body: updates[i]! }));
  await timed('core.history', N, (i) => engine.handle({ method: 'GET', url: `/Patient/${ids[i]}/_history` }));
  await timed('core.delete', N, (i) => engine.handle({ method: 'DELETE', url: `/Patient/${ids[i]}` }));

  // Conditional create on 20k Patients, half of the criteria matching an existing one.
  const conditional = new FhirEngine({ storage: new MemoryAdapter() });
  for (let i = 0; i < N; i++) await conditional.handle({ method: 'POST', url: '/Patient', headers: json, body: bodies[i]! });
  await timed('core.conditional-create', N, (i) => {
    const n = i % 2 ? i : N + i; // odd: exists, even: new
    return conditional.handle({
      method: 'POST',
      url: '/Patient',
      headers: { ...json, 'if-none-exist': `identifier=http://hospital.example/mrn|MRN${n}` },
      body: JSON.stringify(patient(n)),
    });
  });
  await timed('core.search.identifier', N, (i) =>
    conditional.handle({ method: 'GET', url: `/Patient?identifier=http://hospital.example/mrn|MRN${i}` }),
  );

}

/**
 * Heap per stored version: 100k creates into a fresh adapter. With `searched`, Patient is searched
 * by gender once first, so that every create also extracts and stores that parameter's entries (the
 * memory adapter indexes a parameter from its first search on).
 */
async function heap(searched: boolean): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const heapEngine = new FhirEngine({ storage: new MemoryAdapter() });
  if (searched) await heapEngine.handle({ method: 'GET', url: '/Patient?gender=male' });
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const start = performance.now();
  for (let i = 0; i < HEAP_N; i++) {
    await heapEngine.handle({ method: 'POST', url: '/Patient', headers: json, body: JSON.stringify(patient(i)) });
  }
  const ms = performance.now() - start;
  gc?.();
  const after = process.memoryUsage();
  console.log(
    JSON.stringify({
      bench: searched ? 'core.memory.indexed' : 'core.memory',
      versions: HEAP_N,
      heapGrowthBytesPerVersion: Math.round((after.heapUsed - before) / HEAP_N),
      peakRssMB: Math.round(after.rss / 2 ** 20),
      createsPerSec: Math.round((HEAP_N / ms) * 1000),
      gcExposed: gc !== undefined,
      // Keeps the engine reachable until after the measurement.
      stored: (await heapEngine.storage.readHistory({ level: 'system' }, { count: 1 })).items.length,
    }),
  );
}

await crud();
await heap(false);
await heap(true);
