/**
 * Child process of the export kill -9 test (bundled by the test, run with plain node): opens the SQLite
 * file argv[2], exports system-wide into the directory argv[3] in chunks of argv[4] resources, and
 * prints one JSON line per committed chunk. The parent kills it with SIGKILL in the middle of the job.
 */
import { DirectoryExportSink } from '../../adapters/directory-export/index.js';
import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { fixedClock, sequentialIds } from '../../src/clock.js';
import { FhirEngine } from '../../src/engine.js';
import { InProcessJobRunner } from '../../src/jobs/index.js';

const [filename, directory, chunk] = process.argv.slice(2);
if (!filename || !directory) throw new Error('usage: export-child.js <db file> <export directory> [chunk size]');

const sleep = new Int32Array(new SharedArrayBuffer(4));
const engine = new FhirEngine({
  storage: new SqliteAdapter({ filename }),
  clock: fixedClock('2026-02-01T00:00:00Z', 1),
  ids: sequentialIds('c'),
  limits: { exportChunkSize: Number(chunk ?? '10') },
  exportSink: new DirectoryExportSink(directory),
  // The instance id the restarted process has too (a host name in a deployment): it takes its job back
  // at once instead of waiting for its lease to expire.
  jobs: new InProcessJobRunner({ instanceId: 'export-host' }),
});
engine.jobs.on('progress', (job) => {
  process.stdout.write(`${JSON.stringify({ id: job.id, status: job.status, chunks: job.progress.chunks, processed: job.progress.processed })}\n`);
  Atomics.wait(sleep, 0, 0, 2); // slow the job down a little, so that the kill lands mid-job
});
const job = await engine.bulkExport({ level: 'system' });
await engine.jobs.settled(job.id);
process.stdout.write(`${JSON.stringify({ finished: true })}\n`);
await engine.close();
