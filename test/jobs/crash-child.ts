/**
 * Child process of the kill -9 test (bundled by the test, run with plain node): opens the SQLite file
 * given as argv[2], submits a soft bulk delete of tagged Patients in small chunks and prints one JSON line
 * per committed chunk. The parent kills it with SIGKILL in the middle of the job.
 */
import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { fixedClock, sequentialIds } from '../../src/clock.js';
import { FhirEngine } from '../../src/engine.js';

const filename = process.argv[2];
const chunkSize = Number(process.argv[3] ?? '10');
if (!filename) throw new Error('usage: crash-child.js <db file> [chunk size]');

const sleep = new Int32Array(new SharedArrayBuffer(4));
const engine = new FhirEngine({
  storage: new SqliteAdapter({ filename }),
  clock: fixedClock('2026-02-01T00:00:00Z', 1),
  ids: sequentialIds('c'),
  limits: { bulkDeleteChunkSize: chunkSize },
});
engine.jobs.on('progress', (job) => {
  process.stdout.write(`${JSON.stringify({ id: job.id, status: job.status, chunks: job.progress.chunks, processed: job.progress.processed })}\n`);
  Atomics.wait(sleep, 0, 0, 2); // slow the job down a little, so that the kill lands mid-job
});
const job = await engine.bulkDelete({ type: 'Patient', criteria: '_tag=T' });
await engine.jobs.settled(job.id);
process.stdout.write(`${JSON.stringify({ finished: true })}\n`);
await engine.close();
