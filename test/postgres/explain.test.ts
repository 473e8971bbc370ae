/**
 * Index design at scale: over 1,000,000 resources, a token search is answered through the
 * `(param, code, system)` index of `ix_token` and the resources' `rid` key, never by scanning.
 * The rows are loaded with `generate_series` (the adapter's write path is not what is measured here),
 * then analysed, as autovacuum would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PostgresAdapter } from '../../adapters/postgres/index.js';
import { compileSearch } from '../../adapters/sql/search.js';
import type { StorageQuery } from '../../src/storage/query.js';
import { freshAdapter, schemaNames } from './support.js';

const RESOURCES = 1_000_000;
const nextSchema = schemaNames('explain');
let adapter: PostgresAdapter;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}
const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)];

beforeAll(async () => {
  adapter = await freshAdapter(nextSchema, 2);
  const s = adapter.s;
  // Loading is quicker with the secondary indexes built afterwards, from their own definitions.
  const { rows: indexes } = await adapter.pool.query<{ indexname: string; indexdef: string }>(
    `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname IN ('ix_token_value', 'ix_token_rid', 'version_type_seq')`,
    [adapter.schema],
  );
  expect(indexes).toHaveLength(3);
  await adapter.pool.query(indexes.map((i) => `DROP INDEX ${s}."${i.indexname}";`).join('\n'));
  await adapter.pool.query(`
    INSERT INTO ${s}.resource (res_type, res_id, version_id, seq, deleted)
      SELECT 'Patient', 'p' || n, '1', n, false FROM generate_series(1, ${RESOURCES}) n;
    INSERT INTO ${s}.ix_token (rid, param, system, code)
      SELECT rid, 'identifier', 'urn:mrn', 'MRN-' || rid FROM ${s}.resource;
    INSERT INTO ${s}.ix_token (rid, param, system, code)
      SELECT rid, 'gender', 'http://hl7.org/fhir/administrative-gender', CASE WHEN rid % 2 = 0 THEN 'female' ELSE 'male' END
      FROM ${s}.resource WHERE rid % 4 = 0;
    INSERT INTO ${s}.version (seq, res_type, res_id, version_id, last_updated, last_updated_at, method, deleted, json)
      SELECT seq, res_type, res_id, '1', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00Z', 'POST', false, '{"resourceType":"Patient","id":"' || res_id || '"}'
      FROM ${s}.resource;`);
  await adapter.pool.query(indexes.map((i) => `${i.indexdef};`).join('\n'));
  await adapter.pool.query(`ANALYZE ${s}.resource; ANALYZE ${s}.ix_token; ANALYZE ${s}.version;`);
}, 300_000);
afterAll(() => adapter.close());

describe('EXPLAIN over 1M resources', () => {
  it('a token search is an index lookup', async () => {
    const query: StorageQuery = {
      types: ['Patient'],
      where: [{ kind: 'any', param: 'identifier', of: [{ kind: 'token', system: 'urn:mrn', code: 'MRN-424000' }] }],
      sort: [],
      limit: 21,
    };
    const compiled = compileSearch(adapter.target, query);
    const { rows } = await adapter.pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>({
      text: `EXPLAIN (FORMAT JSON) ${compiled.sql}`,
      values: compiled.params as unknown[],
    });
    const plan = nodes(rows[0]!['QUERY PLAN'][0].Plan);
    const scans = plan
      .filter((n) => n['Relation Name'] !== undefined || n['Index Name'] !== undefined)
      .map((n) => [n['Node Type'], n['Relation Name'], n['Index Name']].filter(Boolean).join(' '));
    // Candidates come from the value index (directly or through a bitmap), resources by their rid key.
    expect(scans.some((s) => /^(Index Scan ix_token|Index Only Scan ix_token|Bitmap Index Scan) ix_token_value$/.test(s)), scans.join('; ')).toBe(true);
    expect(scans).toContain('Index Scan resource resource_rid_key');
    expect(scans.filter((s) => s.startsWith('Seq Scan'))).toEqual([]);

    const hits = await adapter.search(query);
    expect(hits.hits.map((h) => h.id)).toEqual(['p424000']);
  });
});
