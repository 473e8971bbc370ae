/**
 * Indexing again, after an upgrade, what an older version of the engine indexed. Migration 2 (the
 * engine indexes compartment memberships) records in `reindex` the last seq written before it; every
 * live resource whose current version is at most that one gets its index rows replaced by the
 * entries the engine's indexer computes from its stored JSON. Versions written since carry entries of
 * the current indexer already.
 *
 * It runs when the engine hands over its indexer, before the adapter answers anything else, in
 * batches of {@link REINDEX_BATCH} in seq order. Each batch is one transaction that locks the
 * `reindex` row, so that instances opening the database at once share the work instead of repeating
 * it, and the resources it rewrites, so that a writer of one of them waits and then replaces the rows
 * with its own entries.
 * @packageDocumentation
 */
import type pg from 'pg';

import type { IndexEntryKind, ResourceIndexer } from '../../src/adapter-kit.js';
import { INDEX_KINDS, KIND_COLUMNS } from '../sql/predicates.js';
import { pgText } from './dialect.js';
import { retryTransient } from './errors.js';
import { columnsOf, NUMERIC_COLUMNS } from './statements.js';

/** Resources indexed again per transaction. */
export const REINDEX_BATCH = 1000;

/** Runs the re-index a migration asked for, if any, to its end. */
export async function reindex(pool: pg.Pool, s: string, indexer: ResourceIndexer): Promise<void> {
  while (!(await retryTransient(() => reindexBatch(pool, s, indexer)))) {
    // next batch
  }
}

/** One batch; true when nothing is left. */
async function reindexBatch(pool: pg.Pool, s: string, indexer: ResourceIndexer): Promise<boolean> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      const done = await reindexIn(client, s, indexer);
      await client.query('COMMIT');
      return done;
    } catch (error) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw error;
    }
  } finally {
    client.release(broken);
  }
}

async function reindexIn(client: pg.PoolClient, s: string, indexer: ResourceIndexer): Promise<boolean> {
  const state = await client.query<{ through: string; after_seq: string }>(`SELECT through, after_seq FROM ${s}.reindex FOR UPDATE`);
  const row = state.rows[0];
  if (row === undefined) return true;
  const { rows } = await client.query<{ rid: string; seq: string; json: string }>(
    `SELECT r.rid, v.seq, v.json FROM ${s}.version v
     JOIN ${s}.resource r ON r.res_type = v.res_type AND r.res_id = v.res_id AND r.seq = v.seq
     WHERE v.seq > $1 AND v.seq <= $2 AND NOT r.deleted ORDER BY v.seq LIMIT $3 FOR UPDATE OF r`,
    [row.after_seq, row.through, REINDEX_BATCH],
  );
  if (rows.length > 0) {
    const rids = rows.map((r) => r.rid);
    const columns = new Map<IndexEntryKind, unknown[][]>();
    for (const r of rows) {
      for (const [kind, arrays] of columnsOf(indexer(r.json))) {
        let all = columns.get(kind);
        if (!all) columns.set(kind, (all = [[], ...arrays.map(() => [])]));
        all[0]!.push(...arrays[0]!.map(() => r.rid));
        arrays.forEach((values, n) => all[n + 1]!.push(...values));
      }
    }
    for (const kind of INDEX_KINDS) {
      await client.query(`DELETE FROM ${s}.ix_${kind} WHERE rid = ANY($1::int8[])`, [rids]);
      const arrays = columns.get(kind);
      if (!arrays) continue;
      const types = ['int8', 'text', ...KIND_COLUMNS[kind].map((c) => (NUMERIC_COLUMNS.has(c) ? 'float8' : 'text'))];
      await client.query(
        `INSERT INTO ${s}.ix_${kind} (rid, param, ${KIND_COLUMNS[kind].join(', ')})
         SELECT * FROM unnest(${types.map((t, n) => `$${n + 1}::${t}[]`).join(', ')})`,
        arrays.map(pgText),
      );
    }
  }
  if (rows.length < REINDEX_BATCH) await client.query(`DELETE FROM ${s}.reindex`);
  else await client.query(`UPDATE ${s}.reindex SET after_seq = $1`, [rows[rows.length - 1]!.seq]);
  return rows.length < REINDEX_BATCH;
}
