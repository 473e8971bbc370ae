/**
 * The SQLite schema and its forward migrations. `PRAGMA user_version` records how many migrations
 * a database has received; {@link migrate} applies the missing ones, in one transaction, on open.
 *
 * Layout:
 * - `resource_version`: every stored version, the resource JSON stored once per version. `seq` is an
 *   `INTEGER PRIMARY KEY AUTOINCREMENT`, so it increases with every write and is never reused, not
 *   even after a purge or hard delete removed the highest rows.
 * - `resource`: the current pointer per (type, id): version, seq, deleted flag and, per index kind,
 *   the rowid range `<kind>_lo…<kind>_hi` of the resource's rows in `ix_<kind>` (NULL when it has
 *   none). A resource's entries of one kind are inserted by one writer in one go, so they get
 *   consecutive rowids; the range replaces a `(res_type, res_id)` index on every index table: the
 *   rows of a resource are found (for replacement, per-resource probes and sort values) by a rowid
 *   range scan of the table itself, which saves one b-tree insert per index entry on every write.
 * - `ix_<kind>`: one table per index-entry kind with `(res_type, res_id, param, …values)` and one
 *   index leading with `(param, value…)` for candidate scans. `:exact` string matches use the
 *   `(param, folded)` index too (the core guarantees `folded = fold(exact)`), and external reference
 *   URLs are rare enough to be scanned per parameter.
 * - `param_kind`: which index kinds a parameter has ever had entries in (a superset; used to compile
 *   `missing` clauses and sort keys, which do not name a kind).
 * - `job`: job records, stored opaquely as JSON with their revision and status.
 * - `pending_index` (migration 2): the deferred index. A write does not touch the `ix_<kind>`
 *   tables; it appends one row `(seq, res_type, res_id, entries)` with the write's index entries as
 *   compact JSON (`[]` for a tombstone; see `encodeEntries` in `statements.ts`). A pending row supersedes the resource's index rows and every earlier
 *   pending row of that resource. Before the next index read the pending rows are applied in bulk, in
 *   `seq` order, and deleted (see `WriteStore.applyPending`). The `<kind>_lo…<kind>_hi` ranges of
 *   `resource` always describe the *applied* rows. Why: a commit costs one WAL frame per dirty page,
 *   and the ~25 index rows of one resource land on ~25 different b-tree pages, while one appended
 *   row dirties one or two; applied in bulk, many resources share those pages.
 *
 * @packageDocumentation
 */
import type BetterSqlite3 from 'better-sqlite3';

import type { IndexEntryKind } from '../../src/storage/index-entry.js';

type Db = BetterSqlite3.Database;

/** Every index-entry kind, in a fixed order. */
export const INDEX_KINDS: readonly IndexEntryKind[] = [
  'token',
  'text',
  'string',
  'date',
  'number',
  'quantity',
  'reference',
  'uri',
];

/** The value columns of each index table, in insertion order. */
export const KIND_COLUMNS: Readonly<Record<IndexEntryKind, readonly string[]>> = {
  token: ['system', 'code'],
  text: ['folded'],
  string: ['folded', 'exact'],
  date: ['low', 'high'],
  number: ['low', 'high'],
  quantity: ['low', 'high', 'system', 'code'],
  reference: ['target_type', 'target_id', 'url'],
  uri: ['value'],
};

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
