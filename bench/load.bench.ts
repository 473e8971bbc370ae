/**
 * `npm run bench -- load`: the example server (`serve()`, as `npm start` runs it) on a fresh SQLite file
 * in a child process, under 64 concurrent keep-alive connections for 20 s (`LOAD_SECONDS`,
 * `LOAD_CONNECTIONS`) of mixed work: 25% creates, 25% reads, 15% searches, 35% increments of one of 16
 * counter extensions by read-modify-write with If-Match, retried on 412. Prints throughput and
 * latency quantiles, and fails on any 5xx or lost increment.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { quantile, readCounters, runLoad } from '../test/support/http-load.js';
import { startServer } from '../test/support/server-child.js';

if (process.argv[2] === 'serve') {
  // The child: this same bundle, serving.
  const { serve } = await import('../examples/node-http.js');
  await serve({ db: process.argv[3]!, exportDir: process.argv[4]!, port: 0, host: '127.0.0.1', log: false });
} else {
  const seconds = Number(process.env.LOAD_SECONDS ?? 20);
  const connections = Number(process.env.LOAD_CONNECTIONS ?? 64);
  const dir = mkdtempSync(join(tmpdir(), 'fhir-load-bench-'));
  const server = await startServer(fileURLToPath(import.meta.url), ['serve', join(dir, 'fhir.db'), join(dir, 'export')]);
  try {
    const result = await runLoad(server.base, { connections, seconds });
    const counters = await readCounters(server.base, result.increments.keys());
    const lost = [...result.increments].filter(([id, n]) => counters.get(id)?.value !== n || counters.get(id)?.versions !== n + 1);
    const increments = [...result.increments.values()].reduce((a, b) => a + b, 0);
    const ms = (q: number): number => Math.round(quantile(result.latencies, q) * 100) / 100;
    console.log(
      JSON.stringify({
        bench: 'load: example server on SQLite, mixed workload',
        connections,
        seconds: Math.round(result.seconds * 10) / 10,
        requests: result.requests,
        requestsPerSec: Math.round(result.requests / result.seconds),
        p50ms: ms(0.5),
        p99ms: ms(0.99),
        maxMs: ms(1),
        byKind: result.byKind,
        byStatus: result.byStatus,
        increments,
        retriesOn412: result.retries,
        serverErrors: result.serverErrors.length,
        lostIncrements: lost.length,
      }),
    );
    if (result.serverErrors.length > 0 || lost.length > 0) {
      console.error(result.serverErrors.slice(0, 5).join('\n'), lost.slice(0, 5));
      process.exitCode = 1;
    }
  } finally {
    server.process.kill('SIGTERM');
    await server.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}
