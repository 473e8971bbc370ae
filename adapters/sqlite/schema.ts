/**
 * The SQLite schema and its forward migrations. `PRAGMA user_version` records how many migrations
 * a database has received; {@link migrate} applies the missing ones, in one transaction, on open.
 *
 * Layout (schema version 4):
 * - `resource_version`: every stored version, the resource JSON stored once per version. `seq` is
 *   the rowid. It is not `AUTOINCREMENT` (which rewrites a `sqlite_sequence` row on every insert,
 *   one more page per commit); instead, when a hard delete removes the highest rows, `meta.seq_floor`
 *   keeps the highest seq ever assigned and the next write takes the one above it (see
 *   `WriteStore.writeVersion` in `write-store.ts`), so seq still increases with every write and is
 *   never reused.
 *   `resource_version_key (res_type, res_id, seq, version_id)` answers the current version (the
 *   resource's last entry), vread and instance history.
 * - Derived state, brought up to date in bulk before the next read that needs it (a search or a
 *   type-level history read; see `DeferredIndex.apply` in `deferred-index.ts`): `resource`, the
 *   `ix_<kind>` tables and `type_seq`. `meta.applied_seq` is the highest seq applied; every version
 *   above it is pending. Why: a commit costs one WAL frame per dirty page, and a single write then dirties only the
 *   appended version and pending rows and one `resource_version_key` leaf, instead of also the
 *   resource's current row, a type index leaf and ~25 scattered index pages.
 * - `pending_index`: the index entries of each pending non-deleted version, keyed by its seq, as
 *   compact JSON (see `encodeEntries` in `deferred-index.ts`). A deleted version has no entries and
 *   no row. A pending version without a row (only left by the migration to version 3) keeps the
 *   resource's applied index rows as they are.
 * - `resource`: per (type, id), the applied current version (version, seq, deleted flag) and, per
 *   index kind, the rowid range `<kind>_lo…<kind>_hi` of the resource's rows in `ix_<kind>` (NULL
 *   when it has none). A resource's entries of one kind are inserted by one writer in one go, so
 *   they get consecutive rowids; the range replaces a `(res_type, res_id)` index on every index
 *   table: the rows of a resource are found (for replacement, per-resource probes and sort values)
 *   by a rowid range scan of the table itself. `deleted` is 0 (live), 1 (tombstone) or 2 (hard
 *   deleted; the row only remains to hold ranges not yet collected, see `garbage`).
 * - `ix_<kind>`: one table per index-entry kind with `(res_type, res_id, param, …values)` and one
 *   index leading with `(param, value…)` for candidate scans. `:exact` string matches use the
 *   `(param, folded)` index too (the core guarantees `folded = fold(exact)`), and external reference
 *   URLs are rare enough to be scanned per parameter.
 * - `garbage`: resources whose `resource` row is deleted (1 or 2) but still holds ranges. Their
 *   index rows are removed in bulk once enough have accumulated (`GarbageCollector.collect` in
 *   `garbage.ts`): deleting the ~25 rows of one resource dirties ~25 scattered b-tree pages, so a
 *   bulk delete that removed them chunk by chunk rewrote the same pages once per chunk. Until then they are harmless:
 *   every search joins `resource` and keeps `deleted = 0` only, and a resource that comes back
 *   (update of a tombstone, re-create after a hard delete) drops its old rows when it is applied.
 * - `type_seq`: `(res_type, seq)` of every applied version, for type-level history.
 * - `param_kind`: which index kinds a parameter has ever had entries in (a superset; used to compile
 *   `missing` clauses and sort keys, which do not name a kind).
 * - `job`: job records, stored opaquely as JSON with their revision and status.
 * - `meta`: named integers (`applied_seq`, `seq_floor`; `reindex_through` and `reindex_after` while
 *   resources indexed by an older version wait to be indexed again, see `DeferredIndex.reindex`).
 *
 * @packageDocumentation
 */
import type BetterSqlite3 from 'better-sqlite3';

import { INDEX_KINDS } from '../sql/predicates.js';

type Db = BetterSqlite3.Database;

export { INDEX_KINDS, KIND_COLUMNS } from '../sql/predicates.js';

/** The rowid range columns of `resource`, in {@link INDEX_KINDS} order. */
export const RANGE_COLUMNS: readonly string[] = INDEX_KINDS.flatMap((kind) => [`${kind}_lo`, `${kind}_hi`]);

/** A `resource` row as the apply, purge and collect paths read it: deleted flag, then the ranges. */
export type ResourceRow = [deleted: number, ...ranges: (number | null)[]];

/** Whether `row` (ranges from `offset` on) holds any index rows. */
export function hasRanges(row: readonly unknown[], offset: number): boolean {
  for (let k = 0; k < INDEX_KINDS.length; k++) if (row[offset + 2 * k] !== null) return true;
  return false;
}

/** The migrations, oldest first. Migration `n` brings `user_version` from `n` to `n + 1`. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE resource_version (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    res_type TEXT NOT NULL,
    res_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    last_updated TEXT NOT NULL,
    last_updated_ms REAL NOT NULL,
    method TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    json TEXT NOT NULL
  );
  CREATE INDEX resource_version_instance ON resource_version (res_type, res_id, version_id);
  CREATE INDEX resource_version_type ON resource_version (res_type, seq);

  CREATE TABLE resource (
    res_type TEXT NOT NULL,
    res_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    token_lo INTEGER,
    token_hi INTEGER,
    text_lo INTEGER,
    text_hi INTEGER,
    string_lo INTEGER,
    string_hi INTEGER,
    date_lo INTEGER,
    date_hi INTEGER,
    number_lo INTEGER,
    number_hi INTEGER,
    quantity_lo INTEGER,
    quantity_hi INTEGER,
    reference_lo INTEGER,
    reference_hi INTEGER,
    uri_lo INTEGER,
    uri_hi INTEGER,
    PRIMARY KEY (res_type, res_id)
  ) WITHOUT ROWID;

  CREATE TABLE ix_token (
    res_type TEXT NOT NULL, res_id TEXT NOT NULL, param TEXT NOT NULL,
    system TEXT, code TEXT NOT NULL
  );
  CREATE INDEX ix_token_value ON ix_token (param, code, system);
  CREATE TABLE ix_text (
    res_type TEXT NOT NULL, res_id TEXT NOT NULL, param TEXT NOT NULL,
    folded TEXT NOT NULL
  );
  CREATE INDEX ix_text_value ON ix_text (param, folded);
  CREATE TABLE ix_string (
    res_type TEXT NOT NULL, res_id TEXT NOT NULL, param TEXT NOT NULL,
    folded TEXT NOT NULL, exact TEXT NOT NULL
  );
  CREATE INDEX ix_string_value ON ix_string (param, folded);
  CREATE TABLE ix_date (
    res_type TEXT NOT NULL, res_id TEXT NOT NULL, param TEXT NOT NULL,
    low REAL NOT NULL, high REAL NOT NULL
  );
  CREATE INDEX ix_date_value ON ix_date (param, low, high);
  CREATE TABLE ix_number (
    res_type TEXT NOT NULL, res_id TEXT NOT NULL, param TEXT NOT NULL,
    low REAL NOT NULL, high REAL NOT NULL
  );
  CREATE INDEX ix_number_value ON ix_number (param, low, high);
  CREATE TABLE ix_quantity (
    res_type TEXT NOT NULL, res_id TEXT NOT NULL, param TEXT NOT NULL,
    low REAL NOT NULL, high REAL NOT NULL, system TEXT, code TEXT
  );
  CREATE INDEX ix_quantity_value ON ix_quantity (param, code, low);
  CREATE TABLE ix_reference (
    res_type TEXT NOT NULL, res_id TEXT NOT NULL, param TEXT NOT NULL,
    target_type TEXT, target_id TEXT, url TEXT
  );
  CREATE INDEX ix_reference_value ON ix_reference (param, target_id, target_type);
  CREATE TABLE ix_uri (
    res_type TEXT NOT NULL, res_id TEXT NOT NULL, param TEXT NOT NULL,
    value TEXT NOT NULL
  );
  CREATE INDEX ix_uri_value ON ix_uri (param, value);

  CREATE TABLE param_kind (
    param TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (param, kind)
  ) WITHOUT ROWID;

  CREATE TABLE job (
    id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    status TEXT NOT NULL,
    json TEXT NOT NULL
  );
  CREATE INDEX job_status ON job (status);
  `,
  // 2: deferred index maintenance (see `pending_index` above).
  `
  CREATE TABLE pending_index (
    seq INTEGER PRIMARY KEY,
    res_type TEXT NOT NULL,
    res_id TEXT NOT NULL,
    entries TEXT NOT NULL
  );
  `,
  // 3: seq without AUTOINCREMENT; the current pointer and type history become derived state;
  // pending rows keyed by version seq; garbage collection of index rows (see the layout above).
  // Version 2 kept `resource` up to date on every write and applied its pending rows (one per
  // write, own seq, newest per resource wins) in bulk. The newest pending row of a live resource
  // carries the entries of its current version: it is keyed by that version's seq, and every
  // version from the oldest of those on is marked pending again (versions without a pending row
  // keep their applied index rows). A tombstoned resource whose rows were not removed yet is garbage.
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
  INSERT INTO meta (key, value)
    SELECT 'seq_floor', seq FROM sqlite_sequence
    WHERE name = 'resource_version' AND seq > (SELECT coalesce(max(seq), 0) FROM resource_version);

  CREATE TABLE resource_version_v3 (
    seq INTEGER PRIMARY KEY,
    res_type TEXT NOT NULL,
    res_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    last_updated TEXT NOT NULL,
    last_updated_ms REAL NOT NULL,
    method TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    json TEXT NOT NULL
  );
  INSERT INTO resource_version_v3
    SELECT seq, res_type, res_id, version_id, last_updated, last_updated_ms, method, deleted, json
    FROM resource_version ORDER BY seq;
  DROP TABLE resource_version;
  ALTER TABLE resource_version_v3 RENAME TO resource_version;
  CREATE INDEX resource_version_key ON resource_version (res_type, res_id, seq, version_id);

  CREATE TABLE type_seq (
    res_type TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (res_type, seq)
  ) WITHOUT ROWID;
  INSERT INTO type_seq (res_type, seq) SELECT res_type, seq FROM resource_version;

  CREATE TABLE pending_index_v3 (seq INTEGER PRIMARY KEY, entries TEXT NOT NULL);
  INSERT INTO pending_index_v3 (seq, entries)
    SELECT r.seq, p.entries
    FROM (SELECT res_type, res_id, entries, max(seq) FROM pending_index GROUP BY res_type, res_id) p
    JOIN resource r ON r.res_type = p.res_type AND r.res_id = p.res_id
    WHERE r.deleted = 0;
  DROP TABLE pending_index;
  ALTER TABLE pending_index_v3 RENAME TO pending_index;
  INSERT INTO meta (key, value)
    SELECT 'applied_seq', coalesce(
      (SELECT min(seq) - 1 FROM pending_index),
      (SELECT max(seq) FROM resource_version),
      0
    );

  CREATE TABLE garbage (
    seq INTEGER PRIMARY KEY,
    res_type TEXT NOT NULL,
    res_id TEXT NOT NULL
  );
  INSERT INTO garbage (res_type, res_id)
    SELECT res_type, res_id FROM resource
    WHERE deleted <> 0
      AND coalesce(token_lo, text_lo, string_lo, date_lo, number_lo, quantity_lo, reference_lo, uri_lo) IS NOT NULL;
  `,
  // 4: the engine indexes compartment memberships (\`_compartment\` entries). The live resources
  // written so far are indexed again from their JSON, with the engine's indexer, before the next
  // search (see \`DeferredIndex.reindex\`): \`meta.reindex_through\` is the last seq concerned.
  `
  INSERT INTO meta (key, value) SELECT 'reindex_through', max(seq) FROM resource_version HAVING max(seq) IS NOT NULL;
  `,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the schema of `db` up to {@link SCHEMA_VERSION}, applying each missing migration in one
 * `BEGIN IMMEDIATE` transaction. Idempotent. Refuses a database written by a newer version.
 */
export function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current === SCHEMA_VERSION) return;
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `SQLite database ${db.name} has schema version ${current}, newer than this fhir-engine supports (${SCHEMA_VERSION}).`,
    );
  }
  db.exec('BEGIN IMMEDIATE');
  try {
    // Re-read under the write lock: another process may have migrated meanwhile.
    const locked = db.pragma('user_version', { simple: true }) as number;
    for (let version = locked; version < SCHEMA_VERSION; version++) {
      db.exec(MIGRATIONS[version] as string);
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw error;
  }
}
