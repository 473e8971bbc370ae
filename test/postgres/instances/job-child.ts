/**
 * Child process of the SIGKILL test (`job-leases.test.ts`), bundled and run with plain node: an engine
 * instance on the PostgreSQL schema named by its environment (`FHIR_TEST_PG_URL`,
 * `FHIR_TEST_PG_SCHEMA`), runner instance `child` with a lease of `FHIR_TEST_LEASE_MS`. It submits a
 * soft bulk delete of the Patients tagged `T` in chunks of `FHIR_TEST_CHUNK` and prints one JSON line
 * per committed chunk; the parent kills it with SIGKILL in the middle of the job.
 */
import { PostgresAdapter } from '../../../adapters/postgres/index.js';
import { FhirEngine } from '../../../src/engine.js';
import { InProcessJobRunner } from '../../../src/jobs/index.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const storage = await PostgresAdapter.open({ connectionString: env('FHIR_TEST_PG_URL'), schema: env('FHIR_TEST_PG_SCHEMA'), max: 2 });
const jobs = new InProcessJobRunner({ instanceId: 'child', leaseMs: Number(env('FHIR_TEST_LEASE_MS')), pollIntervalMs: 0 });
const engine = new FhirEngine({ storage, jobs, limits: { bulkDeleteChunkSize: Number(env('FHIR_TEST_CHUNK')) } });
const pause = new Int32Array(new SharedArrayBuffer(4));
engine.jobs.on('progress', (job) => {
  process.stdout.write(`${JSON.stringify({ id: job.id, status: job.status, chunks: job.progress.chunks, processed: job.progress.processed })}\n`);
  Atomics.wait(pause, 0, 0, 10); // slow the job down a little, so that the kill lands mid-job
});
const job = await engine.bulkDelete({ type: 'Patient', criteria: '_tag=T' });
await engine.jobs.settled(job.id);
process.stdout.write(`${JSON.stringify({ finished: true })}\n`);
await engine.close();
