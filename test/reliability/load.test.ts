/**
 * The example server on a SQLite file under 64 concurrent connections for 5 s (`LOAD_SECONDS`), with
 * creates, reads, searches and read-modify-write increments of counters (If-Match, retried on 412).
 * Correctness only (timing figures come from `npm run bench -- load`): no 5xx, and no lost increment:
 * each counter's value equals its acknowledged increments, with one version per increment.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { bundleForNode } from '../support/bundle.js';
import { readCounters, runLoad } from '../support/http-load.js';
import { startServer } from '../support/server-child.js';

const SECONDS = Number(process.env.LOAD_SECONDS ?? 5);

describe('load: the example server on SQLite', () => {
  let script: string;
  let dir: string;
  beforeAll(async () => {
    script = await bundleForNode('test/reliability/serve-child.ts');
    dir = mkdtempSync(join(tmpdir(), 'fhir-load-'));
  });
  afterAll(() => {
    rmSync(dirname(script), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it(`64 connections for ${SECONDS} s: no 5xx, no lost increment`, async () => {
    const server = await startServer(script, [join(dir, 'fhir.db'), join(dir, 'export')]);
    try {
      const result = await runLoad(server.base, { connections: 64, seconds: SECONDS });
      expect(result.serverErrors).toEqual([]);
      expect(result.byKind.increment).toBeGreaterThan(0);
      const counters = await readCounters(server.base, result.increments.keys());
      for (const [id, acknowledged] of result.increments) {
        expect(counters.get(id), id).toEqual({ value: acknowledged, versions: acknowledged + 1 });
      }
      const total = [...result.increments.values()].reduce((a, b) => a + b, 0);
      console.log(`load: ${result.requests} requests in ${result.seconds.toFixed(1)} s, ${total} increments (${result.retries} retries on 412), statuses ${JSON.stringify(result.byStatus)}`);
    } finally {
      server.process.kill('SIGTERM');
      await server.exited;
    }
  }, 120_000);
});
