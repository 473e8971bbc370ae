/**
 * Test helpers for the PostgreSQL adapter: the server URL from the global setup, and schemas that
 * isolate each test file (and each conformance case) from the others.
 */
import { randomBytes } from 'node:crypto';

import pg from 'pg';
import { afterAll, inject } from 'vitest';

import { PostgresAdapter } from '../../adapters/postgres/index.js';

/** The URL of the test server (see `global-setup.ts`). */
export function pgUrl(): string {
  const url = inject('fhirTestPgUrl');
  if (!url) throw new Error('No PostgreSQL server: the global setup did not start one for this run (see test/postgres/global-setup.ts).');
  return url;
}

/**
 * Returns a function that makes unique schema names for this file, and drops them after the file
 * (so that a server given by FHIR_TEST_PG_URL is left as it was found).
 */
export function schemaNames(prefix: string): () => string {
  const run = randomBytes(4).toString('hex');
  const made: string[] = [];
  afterAll(async () => {
    if (made.length === 0) return;
    const client = new pg.Client({ connectionString: pgUrl() });
    await client.connect();
    try {
      for (const name of made) await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
    } finally {
      await client.end();
    }
  });
  return () => {
    const name = `${prefix}_${run}_${made.length}`;
    made.push(name);
    return name;
  };
}

/** A fresh adapter in a new schema, with its own small pool (closed by `close()`). */
export function freshAdapter(nextSchema: () => string, max = 4): Promise<PostgresAdapter> {
  return PostgresAdapter.open({ connectionString: pgUrl(), max, schema: nextSchema() });
}
