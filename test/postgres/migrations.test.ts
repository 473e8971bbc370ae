/**
 * Schema migrations: a database left at migration 1 is brought up to date with its data intact;
 * a schema written by a newer version is refused and left alone; instances opening a fresh schema
 * at the same moment migrate it exactly once.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PostgresAdapter, SCHEMA_VERSION } from '../../adapters/postgres/index.js';
import { migrate, MIGRATIONS } from '../../adapters/postgres/schema.js';
import { pgUrl, schemaNames } from './support.js';

const nextSchema = schemaNames('mig');
let pool: pg.Pool;

beforeAll(() => {
  pool = new pg.Pool({ connectionString: pgUrl(), max: 4 });
});
afterAll(() => pool.end());

const versions = async (schema: string): Promise<number[]> =>
  (await pool.query<{ version: number }>(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`)).rows.map((r) => r.version);

describe('PostgreSQL schema migrations', () => {
  it('upgrades a database left by migration 1, keeping its data', async () => {
    const schema = nextSchema();
    await migrate(pool, schema, MIGRATIONS.slice(0, 1));
    expect(await versions(schema)).toEqual([1]);
    // A resource as migration 1's tables hold it.
    const json = '{"resourceType":"Patient","id":"old","meta":{"versionId":"1","lastUpdated":"2025-01-01T00:00:00.000Z"}}';
    await pool.query(
      `WITH r AS (INSERT INTO "${schema}".resource (res_type, res_id, version_id, seq, deleted) VALUES ('Patient', 'old', '1', nextval('"${schema}".seq'), false) RETURNING rid, seq),
            v AS (INSERT INTO "${schema}".version (seq, res_type, res_id, version_id, last_updated, last_updated_at, method, deleted, json)
                  SELECT seq, 'Patient', 'old', '1', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00Z', 'POST', false, $1 FROM r)
       INSERT INTO "${schema}".ix_token (rid, param, system, code) SELECT rid, '_id', NULL, 'old' FROM r`,
      [json],
    );

    const adapter = await PostgresAdapter.open({ pool, schema });
    try {
      expect(await versions(schema)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, n) => n + 1));
      expect((await adapter.readCurrent({ type: 'Patient', id: 'old' }))?.json).toBe(json);
      const hits = await adapter.search({ types: ['Patient'], where: [{ kind: 'any', param: '_id', of: [{ kind: 'token', code: 'old' }] }], sort: [], limit: 10 });
      expect(hits.hits.map((h) => h.id)).toEqual(['old']);
    } finally {
      await adapter.close();
    }

    // A later migration runs on the next open, once.
    const later = [...MIGRATIONS, 'CREATE TABLE {s}.later (x integer)'];
    await migrate(pool, schema, later);
    await migrate(pool, schema, later);
    expect(await versions(schema)).toEqual(Array.from({ length: SCHEMA_VERSION + 1 }, (_, n) => n + 1));
    expect((await pool.query(`SELECT count(*)::int AS n FROM "${schema}".later`)).rows).toEqual([{ n: 0 }]);
  });

  it('refuses a schema written by a newer version, with a clear error, and changes nothing', async () => {
    const schema = nextSchema();
    await migrate(pool, schema, [...MIGRATIONS, 'CREATE TABLE {s}.from_the_future (x integer)']);
    const open = PostgresAdapter.open({ pool, schema });
    await expect(open).rejects.toThrow(`has schema version ${SCHEMA_VERSION + 1}, newer than this fhir-engine supports (${SCHEMA_VERSION})`);
    expect(await versions(schema)).toEqual(Array.from({ length: SCHEMA_VERSION + 1 }, (_, n) => n + 1));
    // The adapter built directly reports the same error on first use.
    const adapter = new PostgresAdapter({ pool, schema });
    await expect(adapter.readCurrent({ type: 'Patient', id: 'x' })).rejects.toThrow('newer than this fhir-engine supports');
    await adapter.close();
  });

  it('instances opening a fresh schema at the same moment migrate it exactly once', async () => {
    const schema = nextSchema();
    const pools = Array.from({ length: 4 }, () => new pg.Pool({ connectionString: pgUrl(), max: 2 }));
    try {
      const adapters = await Promise.all(pools.map((p) => PostgresAdapter.open({ pool: p, schema })));
      expect(await versions(schema)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, n) => n + 1));
      // They all work on the one schema.
      await adapters[0]!.transact(async (tx) => {
        await tx.writeJob({ id: 'j', kind: 'k', status: 'queued', cancelRequested: false, revision: 1, params: {}, state: {}, progress: { processed: 0, byType: {}, chunks: 0 }, createdAt: '2026-01-01T00:00:00.000Z', transitions: [] }, null);
      });
      for (const a of adapters) expect((await a.readJob('j'))?.revision).toBe(1);
      await Promise.all(adapters.map((a) => a.close()));
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });
});
