/**
 * Validation cost, in two parts:
 * - the structural validator alone, in resources/s: `validateResource` on the Synthea Patients and
 *   Observations of `../shared/testdata/synthea/` (parsed once; the loop validates objects); skipped with
 *   one line when that folder is absent;
 * - create throughput through `handle()` on the memory adapter with `validation: 'strict'` and `'off'`,
 *   in interleaved rounds (on, off, off, on, …) so that both see the same machine; on the core bench's
 *   Patient and, when present, the Synthea Patients. Timed in CPU time of this process (user + system),
 *   which other processes on a shared machine disturb far less than wall time: creates per CPU second.
 *   `costPct` is how much slower strict creates are.
 * Each figure is the best of `BENCH_ROUNDS` rounds (the machine may be shared), with the median beside it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryAdapter } from '../adapters/memory/index.js';
import { FhirEngine } from '../src/index.js';
import { validateResource } from '../src/validation/index.js';

// Benches run bundled from node_modules/.cache, so the corpus is found from the repository root.
const SYNTHEA = join(process.cwd(), '..', 'shared', 'testdata', 'synthea');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const PER_ROUND = 20_000;

function syntheaResources(): Record<string, unknown>[] {
  return readdirSync(SYNTHEA, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) =>
      readdirSync(join(SYNTHEA, d.name))
        .filter((f) => f.endsWith('.json'))
        .flatMap((f) => (JSON.parse(readFileSync(join(SYNTHEA, d.name, f), 'utf8')) as { entry: { resource: Record<string, unknown> }[] }).entry.map((e) => e.resource)),
    );
}

function run(bench: string, resources: Record<string, unknown>[]): void {
  const validate = (i: number): void => {
    if (validateResource(resources[i % resources.length]).length > 0) throw new Error(`${bench}: resource ${i % resources.length} is invalid`);
  };
  for (let i = 0; i < 2000; i++) validate(i); // warm-up
  const times: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.now();
    for (let i = 0; i < PER_ROUND; i++) validate(i);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const perSec = (ms: number): number => Math.round((PER_ROUND / ms) * 1000);
  const bytes = resources.reduce((sum, r) => sum + JSON.stringify(r).length, 0) / resources.length;
  console.log(
    JSON.stringify({ bench, distinct: resources.length, avgBytes: Math.round(bytes), ops: PER_ROUND, ms: Math.round(times[0]!), opsPerSec: perSec(times[0]!), medianOpsPerSec: perSec(times[Math.floor(times.length / 2)]!) }),
  );
}

/** The Patient of `core.bench.ts`. */
const corePatient = (i: number) => ({
  resourceType: 'Patient',
  identifier: [{ system: 'http://hospital.example/mrn', value: `MRN${i}` }],
  active: true,
  name: [{ family: `Family${i % 1000}`, given: [`Given${i % 97}`] }],
  gender: i % 2 ? 'male' : 'female',
  birthDate: `19${String(50 + (i % 50)).padStart(2, '0')}-0${1 + (i % 9)}-1${i % 10}`,
  address: [{ city: `City${i % 50}`, postalCode: `${10000 + (i % 9000)}`, country: 'US' }],
});

const CREATES_PER_ROUND = 10_000;
const FHIR_JSON = { 'content-type': 'application/fhir+json' };

/**
 * POST /Patient through handle() with validation on and off, interleaved; `bodies` are JSON texts.
 * Every round runs on a fresh engine after a full GC, so that neither mode pays for the other's heap.
 */
async function creates(bench: string, bodies: string[]): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const times: Record<'strict' | 'off', number[]> = { strict: [], off: [] };
  const round = async (validation: 'strict' | 'off', n: number): Promise<number> => {
    const engine = new FhirEngine({ storage: new MemoryAdapter(), validation });
    gc?.();
    const start = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const res = await engine.handle({ method: 'POST', url: '/Patient', headers: FHIR_JSON, body: bodies[i % bodies.length]! });
      if (res.status !== 201) throw new Error(`${bench} (${validation}): ${res.status} ${res.body}`);
    }
    const used = process.cpuUsage(start);
    await engine.close();
    return (used.user + used.system) / 1000;
  };
  await round('strict', 2000); // warm-up of both paths
  await round('off', 2000);
  for (let r = 0; r < ROUNDS; r++) {
    const order: ('strict' | 'off')[] = r % 2 === 0 ? ['strict', 'off'] : ['off', 'strict'];
    for (const mode of order) times[mode].push(await round(mode, CREATES_PER_ROUND));
  }
  const perSec = (ms: number): number => Math.round((CREATES_PER_ROUND / ms) * 1000);
  const best = (mode: 'strict' | 'off') => perSec(Math.min(...times[mode]));
  const median = (mode: 'strict' | 'off') => perSec([...times[mode]].sort((a, b) => a - b)[Math.floor(ROUNDS / 2)]!);
  console.log(
    JSON.stringify({
      bench,
      avgBytes: Math.round(bodies.reduce((sum, b) => sum + b.length, 0) / bodies.length),
      ops: CREATES_PER_ROUND,
      strictOpsPerCpuSec: best('strict'),
      offOpsPerCpuSec: best('off'),
      costPct: Math.round((1 - best('strict') / best('off')) * 1000) / 10,
      medianStrictOpsPerCpuSec: median('strict'),
      medianOffOpsPerCpuSec: median('off'),
      medianCostPct: Math.round((1 - median('strict') / median('off')) * 1000) / 10,
    }),
  );
}

await creates('validation.create.core-patient', Array.from({ length: CREATES_PER_ROUND }, (_, i) => JSON.stringify(corePatient(i))));

if (!existsSync(SYNTHEA)) {
  console.log(JSON.stringify({ bench: 'validation', skipped: `${SYNTHEA} is absent` }));
} else {
  const resources = syntheaResources();
  const patients = resources.filter((r) => r.resourceType === 'Patient');
  run('validation.synthea-patient', patients);
  run('validation.synthea-observation', resources.filter((r) => r.resourceType === 'Observation'));
  // Without their ids: a create assigns one.
  await creates('validation.create.synthea-patient', patients.map(({ id: _id, ...rest }) => JSON.stringify(rest)));
}
