/**
 * The structural validator alone, in resources/s: `validateResource` on the Synthea Patients and
 * Observations of `../shared/testdata/synthea/` (parsed once; the loop validates objects). Skipped with one
 * line when that folder is absent. Each figure is the best of `BENCH_ROUNDS` rounds (the machine may be
 * shared), with the median beside it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateResource } from '../src/validation/index.js';

// Benches run bundled from node_modules/.cache, so the corpus is found from the repository root.
const SYNTHEA = join(process.cwd(), '..', 'shared', 'testdata', 'synthea');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
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

if (!existsSync(SYNTHEA)) {
  console.log(JSON.stringify({ bench: 'validation', skipped: `${SYNTHEA} is absent` }));
} else {
  const resources = syntheaResources();
  run('validation.synthea-patient', resources.filter((r) => r.resourceType === 'Patient'));
  run('validation.synthea-observation', resources.filter((r) => r.resourceType === 'Observation'));
}
