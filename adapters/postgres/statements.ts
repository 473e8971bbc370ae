/**
 * The SQL of one schema's reads and writes (everything but search, which `adapters/sql/` compiles),
 * as named prepared statements: PostgreSQL parses and plans each once per connection.
 *
 * **Compare-and-set.** A version write is one statement. Its first step claims the current pointer:
 * `UPDATE resource … WHERE version_id = <expected>` (expectation `current`) or
 * `INSERT … ON CONFLICT DO NOTHING` (expectation `absent`). Under READ COMMITTED, an `UPDATE` that
 * finds the row locked by another writer waits for it and re-checks its `WHERE` against the committed
 * row, and the `INSERT` waits for a racing insert of the same key: exactly one writer per expected
 * state gets a row back. The other steps (the version row, the replaced index rows) hang off that
 * row, so a refused write changes nothing and the statement returns no row.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';

import type { IndexEntry, IndexEntryKind, VersionWrite } from '../../src/adapter-kit.js';
import { INDEX_KINDS, KIND_COLUMNS } from '../sql/predicates.js';
import { pgText } from './dialect.js';

/** A statement ready for `client.query`. */
export interface Statement {
  readonly name: string;
  readonly text: string;
  readonly values: unknown[];
}

/** Distinct search shapes run as named statements (see {@link Statements.search}). */
export const SEARCH_SHAPES = 200;

/** Columns of a version row, as the adapter maps them to a `StoredVersion`. */
export const VERSION_COLUMNS = 'v.res_type, v.res_id, v.version_id, v.seq, v.last_updated, v.method, v.deleted, v.json';

/** The SQL type of each value column of the index tables (the others are text). */
export const NUMERIC_COLUMNS: ReadonlySet<string> = new Set(['low', 'high']);

/** Index entries as one array per column of each kind present (for `unnest`): `param`, then the kind's columns. */
export function columnsOf(index: readonly IndexEntry[]): Map<IndexEntryKind, unknown[][]> {
  const byKind = new Map<IndexEntryKind, unknown[][]>();
  for (const entry of index) {
    const columns = KIND_COLUMNS[entry.kind];
    let arrays = byKind.get(entry.kind);
    if (!arrays) byKind.set(entry.kind, (arrays = [[], ...columns.map(() => [])]));
    (arrays[0] as unknown[]).push(entry.param);
    const record = entry as unknown as Record<string, unknown>;
    columns.forEach((column, n) => (arrays[n + 1] as unknown[]).push(record[camel(column)] ?? null));
  }
  return byKind;
}

/** `target_type` → `targetType`: index entry properties are the camel-case column names. */
const camel = (column: string): string => column.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** Every value column of any kind, once, as `json_to_recordset` reads entries: `"targetType" text, …`. */
const RECORD_COLUMNS = [...new Set(INDEX_KINDS.flatMap((kind) => KIND_COLUMNS[kind]))]
  .map((column) => `"${camel(column)}" ${NUMERIC_COLUMNS.has(column) ? 'float8' : 'text'}`)
  .join(', ');

/** A number JSON cannot carry (the ±Infinity of an open range) as the text PostgreSQL's float8 reads. */
const finiteOrText = (_key: string, value: unknown): unknown =>
  typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;

const hasNonFinite = (index: readonly IndexEntry[]): boolean =>
  index.some((e) => 'low' in e && (!Number.isFinite(e.low) || !Number.isFinite(e.high)));

/**
 * The index entries of a write as one JSON text, which the statement unpacks with
 * `json_to_recordset`: one parameter instead of an array per column, serialised natively instead of
 * value by value. Infinite range ends go as text (`"Infinity"`, which float8 reads); a U+0000, which
 * PostgreSQL text cannot hold, as U+FFFD (see `pgText`).
 */
export function entriesJson(index: readonly IndexEntry[]): string {
  let json = hasNonFinite(index) ? JSON.stringify(index, finiteOrText) : JSON.stringify(index);
  if (json.includes('\\u0000')) {
    const mapped = index.map((e) => Object.fromEntries(Object.entries(e).map(([k, v]) => [k, pgText(v)])));
    json = JSON.stringify(mapped, finiteOrText);
  }
  return json;
}

/** The statements of one schema (`s`: quoted name); `tag` keeps statement names unique per schema. */
export class Statements {
  readonly #s: string;
  readonly #tag: string;
  readonly #texts = new Map<string, string>();
  /** Search SQL → statement name. */
  readonly #searches = new Map<string, string>();

  constructor(s: string, tag: string) {
    this.#s = s;
    this.#tag = tag;
  }

  #statement(key: string, build: () => string, values: unknown[]): Statement {
    let text = this.#texts.get(key);
    if (text === undefined) this.#texts.set(key, (text = build()));
    return { name: `fhir-engine:${this.#tag}:${key}`, text, values };
  }

  /**
   * A compiled search (or count) as a named statement, so that PostgreSQL parses and plans its shape
   * once per connection instead of on every query (planning took longer than running an identifier
   * search). Values are bound, so a shape is the same SQL text for any values; after five executions
   * PostgreSQL may keep one generic plan for it. The first {@link SEARCH_SHAPES} shapes are named;
   * later ones run unnamed, so that the statements each connection holds stay bounded.
   */
  search(sql: string, values: readonly unknown[]): Statement | { readonly text: string; readonly values: unknown[] } {
    let name = this.#searches.get(sql);
    if (name === undefined && this.#searches.size < SEARCH_SHAPES) {
      name = `fhir-engine:${this.#tag}:q:${createHash('sha256').update(sql).digest('base64url').slice(0, 24)}`;
      this.#searches.set(sql, name);
    }
    return name === undefined ? { text: sql, values: values as unknown[] } : { name, text: sql, values: values as unknown[] };
  }

  /** Writes a version with compare-and-set; returns one row `{ seq }`, or none when the expectation failed. */
  writeVersion(write: VersionWrite): Statement {
    const s = this.#s;
    const absent = write.expect.kind === 'absent';
    const values: unknown[] = [write.type, write.id, write.versionId, write.deleted, write.lastUpdated, write.method, write.json];
    values.push(write.deleted || write.index.length === 0 ? '[]' : entriesJson(write.index));
    if (write.expect.kind === 'current') values.push(write.expect.versionId);
    return this.#statement(
      absent ? 'write-absent' : 'write-current',
      () => {
        const claim = absent
          ? `INSERT INTO ${s}.resource (res_type, res_id, version_id, seq, deleted)
             VALUES ($1::text, $2::text, $3::text, nextval('${s}.seq'), $4::boolean)
             ON CONFLICT (res_type, res_id) DO NOTHING RETURNING rid, seq`
          : `UPDATE ${s}.resource SET version_id = $3::text, seq = nextval('${s}.seq'), deleted = $4::boolean
             WHERE res_type = $1::text AND res_id = $2::text AND version_id = $9::text RETURNING rid, seq`;
        // Every parameter is cast where it is used: a bare `$5::timestamptz` would type $5 itself.
        const ctes = [
          `cur AS (${claim})`,
          `ver AS (INSERT INTO ${s}.version (seq, res_type, res_id, version_id, last_updated, last_updated_at, method, deleted, json)
             SELECT cur.seq, $1::text, $2::text, $3::text, $5::text, ($5::text)::timestamptz, $6::text, $4::boolean, $7::text FROM cur)`,
          // Unpacked once (a CTE referenced by several is computed once), then split by kind.
          `e AS MATERIALIZED (SELECT * FROM json_to_recordset($8::json) AS e(kind text, param text, ${RECORD_COLUMNS}))`,
        ];
        // A new resource has no index rows yet; an existing one drops all of its old ones.
        if (!absent) {
          for (const kind of INDEX_KINDS) ctes.push(`d_${kind} AS (DELETE FROM ${s}.ix_${kind} x USING cur WHERE x.rid = cur.rid)`);
        }
        for (const kind of INDEX_KINDS) {
          const columns = KIND_COLUMNS[kind];
          ctes.push(
            `i_${kind} AS (INSERT INTO ${s}.ix_${kind} (rid, param, ${columns.join(', ')})
               SELECT cur.rid, e.param, ${columns.map((c) => `e."${camel(c)}"`).join(', ')} FROM cur, e WHERE e.kind = '${kind}')`,
          );
        }
        return `WITH ${ctes.join(',\n')} SELECT seq FROM cur`;
      },
      values,
    );
  }

  /** Locks the current pointer of a resource: one row `{ rid, seq }`, or none. */
  lockResource(type: string, id: string): Statement {
    const s = this.#s;
    return this.#statement('lock-resource', () => `SELECT rid, seq FROM ${s}.resource WHERE res_type = $1 AND res_id = $2 FOR UPDATE`, [type, id]);
  }

  /** Removes every version, the pointer and the index rows of a (locked) resource: one row `{ n }`. */
  purgeAll(type: string, id: string, rid: string | null): Statement {
    const s = this.#s;
    return this.#statement(
      'purge-all',
      () =>
        `WITH gone AS (DELETE FROM ${s}.version WHERE res_type = $1 AND res_id = $2 RETURNING 1),
           pointer AS (DELETE FROM ${s}.resource WHERE res_type = $1 AND res_id = $2),
           ${INDEX_KINDS.map((kind) => `d_${kind} AS (DELETE FROM ${s}.ix_${kind} WHERE rid = $3)`).join(',\n')}
         SELECT count(*)::int AS n FROM gone`,
      [type, id, rid],
    );
  }

  /** Removes every version of a (locked) resource but the one with `seq`: one row `{ n }`. */
  purgeHistory(type: string, id: string, seq: string): Statement {
    const s = this.#s;
    return this.#statement(
      'purge-history',
      () =>
        `WITH gone AS (DELETE FROM ${s}.version WHERE res_type = $1 AND res_id = $2 AND seq <> $3 RETURNING 1)
         SELECT count(*)::int AS n FROM gone`,
      [type, id, seq],
    );
  }

  readCurrent(type: string, id: string): Statement {
    const s = this.#s;
    return this.#statement(
      'read-current',
      () => `SELECT ${VERSION_COLUMNS} FROM ${s}.resource r JOIN ${s}.version v ON v.seq = r.seq WHERE r.res_type = $1 AND r.res_id = $2`,
      [type, id],
    );
  }

  readVersion(type: string, id: string, versionId: string): Statement {
    const s = this.#s;
    return this.#statement(
      'read-version',
      () => `SELECT ${VERSION_COLUMNS} FROM ${s}.version v WHERE v.res_type = $1 AND v.res_id = $2 AND v.version_id = $3`,
      [type, id, versionId],
    );
  }

  /** A page of history, newest first. `scope` decides the filter; `before`/`since` may be null. */
  readHistory(
    scope: { level: 'system' } | { level: 'type'; type: string } | { level: 'instance'; type: string; id: string },
    count: number,
    before: number | null,
    since: string | null,
  ): Statement {
    const s = this.#s;
    const filters = { system: 'TRUE', type: 'v.res_type = $4', instance: 'v.res_type = $4 AND v.res_id = $5' };
    const values: unknown[] = [Math.max(0, Math.floor(count)), before, since];
    if (scope.level !== 'system') values.push(scope.type);
    if (scope.level === 'instance') values.push(scope.id);
    return this.#statement(
      `history:${scope.level}`,
      () =>
        `SELECT ${VERSION_COLUMNS} FROM ${s}.version v
         WHERE ${filters[scope.level]} AND ($2::int8 IS NULL OR v.seq < $2::int8) AND ($3::timestamptz IS NULL OR v.last_updated_at >= $3::timestamptz)
         ORDER BY v.seq DESC LIMIT $1`,
      values,
    );
  }

  readJob(id: string): Statement {
    const s = this.#s;
    return this.#statement('read-job', () => `SELECT record FROM ${s}.job WHERE id = $1`, [id]);
  }

  listUnfinishedJobs(): Statement {
    const s = this.#s;
    return this.#statement('unfinished-jobs', () => `SELECT record FROM ${s}.job WHERE status IN ('queued', 'running') ORDER BY n`, []);
  }

  /** Inserts a job that must not exist yet: one row, or none when it does. */
  insertJob(id: string, revision: number, status: string, record: string): Statement {
    const s = this.#s;
    return this.#statement(
      'insert-job',
      () => `INSERT INTO ${s}.job (id, revision, status, record) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING RETURNING 1`,
      [id, revision, status, record],
    );
  }

  /** Replaces a job at an expected revision: one row, or none when the revision differs. */
  updateJob(id: string, revision: number, status: string, record: string, expected: number): Statement {
    const s = this.#s;
    return this.#statement(
      'update-job',
      () => `UPDATE ${s}.job SET revision = $2, status = $3, record = $4 WHERE id = $1 AND revision = $5 RETURNING 1`,
      [id, revision, status, record, expected],
    );
  }
}
