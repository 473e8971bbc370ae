/**
 * An engine instance in its own process, on the PostgreSQL schema named by its environment
 * (`FHIR_TEST_PG_URL`, `FHIR_TEST_PG_SCHEMA`), with its own pool. It reads one JSON command per line
 * on stdin (`{ id, op, args }`, `op` from `ops.ts`) and answers one JSON line on stdout
 * (`{ id, result }` or `{ id, error }`); it prints `{ ready: true }` first and exits when stdin ends.
 */
import { createInterface } from 'node:readline';

import { PostgresAdapter } from '../../../adapters/postgres/index.js';
import { FhirEngine } from '../../../src/engine.js';
import { ops, type Op } from './ops.js';

const storage = await PostgresAdapter.open({ connectionString: process.env.FHIR_TEST_PG_URL!, schema: process.env.FHIR_TEST_PG_SCHEMA!, max: 4 });
const engine = new FhirEngine({ storage });
const send = (message: unknown): void => void process.stdout.write(`${JSON.stringify(message)}\n`);
send({ ready: true });

const pending: Promise<void>[] = [];
for await (const line of createInterface({ input: process.stdin })) {
  const { id, op, args } = JSON.parse(line) as { id: number; op: Op; args: unknown[] };
  pending.push(
    (ops[op] as (engine: FhirEngine, ...args: unknown[]) => Promise<unknown>)(engine, ...args).then(
      (result) => send({ id, result }),
      (error: unknown) => send({ id, error: String((error as Error)?.stack ?? error) }),
    ),
  );
}
await Promise.all(pending);
await engine.close();
