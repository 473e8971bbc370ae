/**
 * The PostgreSQL schema and its numbered forward migrations. Everything lives in one PostgreSQL
 * schema (default `fhir`), so that the engine's tables never mix with an application's.
 *
 * Layout (migration 1):
 * - `resource`: the current pointer of each logical resource: `(res_type, res_id)` primary key, its
 *   current `version_id`, the `seq` of that version, `deleted` (tombstone), and `rid`, a surrogate
 *   key that index rows refer to. Compare-and-set happens here (see `statements.ts`).
 * - `version`: every stored version, `seq` primary key, unique `(res_type, res_id, version_id)`,
 *   the resource JSON as `text` (exactly the bytes the engine wrote), `last_updated` as written and
 *   as `timestamptz` (for `_since`). `(res_type, seq)` answers type-level history.
 * - `seq`: the sequence `seq` values come from (see "Commit order" in `postgres-adapter.ts`).
 * - `ix_<kind>`: the index entries of current live versions, one table per kind, each row
 *   `(rid, param, value…)`; one index leading with `(param, value…)` drives searches, one on `rid`
 *   answers per-resource probes and replaces a resource's rows on write. Text is `COLLATE "C"`:
 *   code point order, as the search compiler's prefix ranges and `sortValue` need, whatever the
 *   database's locale.
 * - `job`: job records as JSON text with their `revision` (compare-and-set) and `status`; `n`
 *   keeps submission order.
 * - `schema_migrations`: one row per applied migration (created by {@link migrate}, not numbered).
 * - `reindex` (migration 2): while resources indexed by an older version wait to be indexed again,
 *   one row: the last seq concerned and the cursor (see `reindex.ts`).
 *
 * @packageDocumentation
 */
import type pg from 'pg';

import { advisoryKey, retryTransient } from './errors.js';

/** Index tables: kind → value columns with their SQL types, and the columns of the value index. */
const INDEX_TABLES: readonly { kind: string; columns: string; value: string; extra?: string }[] = [
  { kind: 'token', columns: 'system text COLLATE "C", code text COLLATE "C" NOT NULL', value: 'param, code, system' },
  { kind: 'text', columns: 'folded text COLLATE "C" NOT NULL', value: 'param, folded' },
  { kind: 'string', columns: 'folded text COLLATE "C" NOT NULL, exact text COLLATE "C" NOT NULL', value: 'param, folded' },
  { kind: 'date', columns: 'low float8 NOT NULL, high float8 NOT NULL', value: 'param, low, high' },
  { kind: 'number', columns: 'low float8 NOT NULL, high float8 NOT NULL', value: 'param, low, high' },
  {
    kind: 'quantity',
    columns: 'low float8 NOT NULL, high float8 NOT NULL, system text COLLATE "C", code text COLLATE "C"',
    value: 'param, code, low',
  },
  {
    kind: 'reference',
    columns: 'target_type text COLLATE "C", target_id text COLLATE "C", url text COLLATE "C"',
    value: 'param, target_id, target_type',
    // External references are searched by URL.
    extra: 'CREATE INDEX ix_reference_url ON {s}.ix_reference (param, url) WHERE url IS NOT NULL;',
  },
  { kind: 'uri', columns: 'value text COLLATE "C" NOT NULL', value: 'param, value' },
];

/**
 * The migrations, oldest first; `{s}` stands for the quoted schema name. Migration `n` (1-based)
 * brings a database from version `n - 1` to `n`. Never edit a released one: append.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE SEQUENCE {s}.seq AS bigint;

  CREATE TABLE {s}.resource (
    rid bigint GENERATED ALWAYS AS IDENTITY,
    res_type text COLLATE "C" NOT NULL,
    res_id text COLLATE "C" NOT NULL,
    version_id text NOT NULL,
    seq bigint NOT NULL,
    deleted boolean NOT NULL,
    PRIMARY KEY (res_type, res_id),
    UNIQUE (rid)
  ) WITH (fillfactor = 90);

  CREATE TABLE {s}.version (
    seq bigint PRIMARY KEY,
    res_type text COLLATE "C" NOT NULL,
    res_id text COLLATE "C" NOT NULL,
    version_id text COLLATE "C" NOT NULL,
    last_updated text NOT NULL,
    last_updated_at timestamptz NOT NULL,
    method text NOT NULL,
    deleted boolean NOT NULL,
    json text NOT NULL,
    UNIQUE (res_type, res_id, version_id)
  );
  CREATE INDEX version_type_seq ON {s}.version (res_type, seq);

  ${INDEX_TABLES.map(
    (t) => `
  CREATE TABLE {s}.ix_${t.kind} (rid bigint NOT NULL, param text COLLATE "C" NOT NULL, ${t.columns});
  CREATE INDEX ix_${t.kind}_value ON {s}.ix_${t.kind} (${t.value});
  CREATE INDEX ix_${t.kind}_rid ON {s}.ix_${t.kind} (rid);
  ${t.extra ?? ''}`,
  ).join('\n')}

  CREATE TABLE {s}.job (
    n bigint GENERATED ALWAYS AS IDENTITY,
    id text PRIMARY KEY,
    revision integer NOT NULL,
    status text NOT NULL,
    record text NOT NULL
  );
  CREATE INDEX job_unfinished ON {s}.job (n) WHERE status IN ('queued', 'running');
  `,
  // 2: the engine indexes compartment memberships (\`_compartment\` entries). The live resources
  // written so far are indexed again from their JSON, with the engine's indexer (see \`reindex.ts\`).
  `
  CREATE TABLE {s}.reindex (through bigint NOT NULL, after_seq bigint NOT NULL DEFAULT 0);
  INSERT INTO {s}.reindex (through) SELECT max(seq) FROM {s}.version HAVING max(seq) IS NOT NULL;
  `,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** A schema name usable unquoted and quoted alike (letters, digits, `_`; not starting with a digit). */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Quotes a schema name after checking it. */
export function quoteSchema(name: string): string {
  if (!SCHEMA_NAME.test(name)) {
    throw new Error(`Invalid PostgreSQL schema name '${name}': use letters, digits and '_', not starting with a digit (at most 63).`);
  }
  return `"${name}"`;
}

/**
 * Brings `schema` up to the last of `migrations` (default {@link MIGRATIONS}): in one transaction,
 * under a transaction-scoped advisory lock on the schema name, so that instances opening the same
 * database at once migrate it exactly once (the others wait, then find it done). Refuses a schema
 * written by a newer version. Retries deadlocks and serialization failures a few times.
 */
export async function migrate(pool: pg.Pool, schema: string, migrations: readonly string[] = MIGRATIONS): Promise<void> {
  const s = quoteSchema(schema);
  await retryTransient(async () => {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1::int8)', [advisoryKey(`fhir-engine:migrate:${schema}`)]);
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
        );
        const { rows } = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${s}.schema_migrations`);
        const current = rows[0]?.v ?? 0;
        if (current > migrations.length) {
          throw new Error(
            `PostgreSQL schema ${s} has schema version ${current}, newer than this fhir-engine supports (${migrations.length}); ` +
              'upgrade fhir-engine, or point it at another schema or database.',
          );
        }
        for (let version = current; version < migrations.length; version++) {
          await client.query((migrations[version] as string).replaceAll('{s}', s));
          await client.query(`INSERT INTO ${s}.schema_migrations (version) VALUES ($1)`, [version + 1]);
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw error;
      }
    } finally {
      client.release(broken);
    }
  });
}
