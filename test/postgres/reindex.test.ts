/**
 * Upgrading a schema written before the engine indexed compartment memberships (migration 1):
 * migration 2 has its live resources indexed again from their JSON when an engine takes the adapter,
 * before anything else, so that compartment searches find the data of the older version.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PostgresAdapter } from '../../adapters/postgres/index.js';
import { REINDEX_BATCH } from '../../adapters/postgres/reindex.js';
import { FhirEngine } from '../../src/engine.js';
import { compartmentClause } from '../../src/search/compartments.js';
import { RuntimeStorage } from '../../src/storage/runtime-storage.js';
import { oldWrite, writeOldData } from '../support/old-index.js';
import { pgUrl, schemaNames } from './support.js';

const nextSchema = schemaNames('reindex');
let pool: pg.Pool;
beforeAll(() => {
  pool = new pg.Pool({ connectionString: pgUrl(), max: 6 });
});
afterAll(() => pool.end());

const N = REINDEX_BATCH + 100;

/** A schema at migration 1 holding the old data set. */
async function oldSchema(): Promise<string> {
  const schema = nextSchema();
  const storage = new RuntimeStorage(await PostgresAdapter.open({ pool, schema }));
  await writeOldData(storage, N);
  await storage.transact((tx) => tx.writeVersion(oldWrite({ resourceType: 'Observation', id: 'late', status: 'final', subject: { reference: 'Patient/p1' } })));
  await storage.close();
  await pool.query(`DROP TABLE "${schema}".reindex; DELETE FROM "${schema}".schema_migrations WHERE version > 1`);
  return schema;
}

const ids = (bundle: { entry?: { resource?: { id?: string } }[] }): string[] => (bundle.entry ?? []).map((e) => e.resource!.id!).sort();

describe('PostgreSQL: a schema written before compartment memberships were indexed', () => {
  it('has them after the upgrade, indexed once even by two engines opening it at once', async () => {
    const schema = await oldSchema();

    // Without an engine's indexer nothing is indexed again: the old index has no memberships.
    const bare = await PostgresAdapter.open({ pool, schema });
    const inP1 = { types: ['Observation'], where: [compartmentClause('Patient', 'p1')], sort: [], limit: 10_000 };
    expect((await bare.search(inP1)).hits).toHaveLength(0);
    await bare.close();

    const engines = [0, 1].map(() => new FhirEngine({ storage: new PostgresAdapter({ pool, schema }) }));
    try {
      const [a, b] = engines as [FhirEngine, FhirEngine];
      const [first, second] = await Promise.all([
        a.compartment('Patient', 'p1', 'Observation', '_summary=count'),
        b.compartment('Patient', 'p1', 'Observation', '_summary=count'),
      ]);
      expect([first.total, second.total]).toEqual([N + 2, N + 2]); // o0…, perf and late; not `gone`, not `other`
      expect(ids(await a.compartment('Patient', 'p1', 'Observation', '_id=perf,late,gone,other'))).toEqual(['late', 'perf']);
      expect((await a.compartment('Encounter', 'e1', '*', '_summary=count')).total).toBe(N + 1);
      expect((await a.search('Observation', 'subject=Patient/p1&_summary=count')).total).toBe(N + 1);
    } finally {
      await Promise.all(engines.map((e) => e.close()));
    }
    const left = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".reindex`);
    expect(left.rows[0].n).toBe(0);
    const rows = await pool.query(
      `SELECT x.param, x.target_type || '/' || x.target_id AS target FROM "${schema}".ix_reference x
       JOIN "${schema}".resource r ON r.rid = x.rid WHERE r.res_type = 'Observation' AND r.res_id = 'o7' ORDER BY 1, 2`,
    );
    expect(rows.rows.map((r) => [r.param, r.target])).toEqual([
      ['_compartment', 'Encounter/e1'],
      ['_compartment', 'Patient/p1'],
      ['encounter', 'Encounter/e1'],
      ['patient', 'Patient/p1'],
      ['subject', 'Patient/p1'],
    ]);
  });
});
