/**
 * Prepared statements and the synchronous read/write operations on one better-sqlite3 connection.
 * The adapter owns a {@link Store} for its write connection and, for file databases, a read-only one
 * for reads outside units of work. Every statement is prepared once, on first use.
 *
 * @packageDocumentation
 */
import type BetterSqlite3 from 'better-sqlite3';

import {
  encodePosition,
  StorageConflictError,
  type HistoryPage,
  type HistoryResult,
  type HistoryScope,
  type IndexEntry,
  type IndexEntryKind,
  type JobRecord,
  type ResourceKey,
  type SearchHit,
  type SearchHits,
  type SortValue,
  type StorageQuery,
  type StoredVersion,
  type VersionMethod,
  type VersionWrite,
} from '../../src/adapter-kit.js';
import { INDEX_KINDS, KIND_COLUMNS } from './schema.js';
import { compileSearch } from './search-sql.js';

type Db = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement;

interface VersionRow {
  seq: number;
  version_id: string;
  last_updated: string;
  method: string;
  deleted: number;
  json: string;
}

interface HistoryRow extends VersionRow {
  res_type: string;
  res_id: string;
}

const SEARCH_CACHE_LIMIT = 256;

/** Synchronous reads on one connection. */
export class Store {
  private readonly statements = new Map<string, Statement>();
  private readonly searchStatements = new Map<string, Statement>();

  constructor(readonly db: Db) {}

  /** The statement for `sql`, prepared on first use. */
  protected stmt(sql: string): Statement {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  readCurrent(key: ResourceKey): StoredVersion | undefined {
    const row = this.stmt(
      'SELECT seq, version_id, last_updated, method, deleted, json FROM resource_version ' +
        'WHERE res_type = ? AND res_id = ? ORDER BY seq DESC LIMIT 1',
    ).get(key.type, key.id) as VersionRow | undefined;
    return row === undefined ? undefined : toVersion(key.type, key.id, row);
  }

  readVersion(key: ResourceKey, versionId: string): StoredVersion | undefined {
    const row = this.stmt(
      'SELECT seq, version_id, last_updated, method, deleted, json FROM resource_version ' +
        'WHERE res_type = ? AND res_id = ? AND version_id = ? ORDER BY seq DESC LIMIT 1',
    ).get(key.type, key.id, versionId) as VersionRow | undefined;
    return row === undefined ? undefined : toVersion(key.type, key.id, row);
  }

  /** History; a `type` scope reads the derived `type_seq`, so the caller applies pending rows first. */
  readHistory(scope: HistoryScope, page: HistoryPage): HistoryResult {
    const where: string[] = [];
    const params: unknown[] = [];
    let from = 'resource_version v';
    if (scope.level === 'instance') {
      where.push('v.res_type = ?', 'v.res_id = ?');
      params.push(scope.type, scope.id);
    } else if (scope.level === 'type') {
      from = 'type_seq t JOIN resource_version v ON v.seq = t.seq';
      where.push('t.res_type = ?');
      params.push(scope.type);
    }
    const seq = scope.level === 'type' ? 't.seq' : 'v.seq';
    if (page.before !== undefined) {
      where.push(`${seq} < ?`);
      params.push(page.before);
    }
    if (page.since !== undefined) {
      const since = Date.parse(page.since);
      if (Number.isNaN(since)) throw new Error(`Invalid history 'since' instant: ${page.since}`);
      where.push('v.last_updated_ms >= ?');
      params.push(since);
    }
    params.push(Math.max(0, Math.floor(page.count)));
    const sql =
      `SELECT v.seq, v.res_type, v.res_id, v.version_id, v.last_updated, v.method, v.deleted, v.json FROM ${from}` +
      (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
      ` ORDER BY ${seq} DESC LIMIT ?`;
    const rows = this.stmt(sql).all(...params) as HistoryRow[];
    return { items: rows.map((row) => toVersion(row.res_type, row.res_id, row)) };
  }

  /** Index kinds `param` has (ever had) entries in. */
  kindsOf(param: string): IndexEntryKind[] {
    return this.stmt('SELECT kind FROM param_kind WHERE param = ?')
      .pluck()
      .all(param) as IndexEntryKind[];
  }

  search(query: StorageQuery): SearchHits {
    const compiled = compileSearch(
      query,
      (param) => this.kindsOf(param),
      (sql, params, cap) => this.searchStatement(sql).pluck().get(...params, cap) as number,
    );
    const statement = this.searchStatement(compiled.sql);
    const rows = statement.all(...compiled.params) as Record<string, unknown>[];
    const sortColumns = compiled.sortColumnNames;
    const hits: SearchHit[] = rows.map((row) => {
      const type = row.t as string;
      const id = row.i as string;
      const values: SortValue[] = [];
      for (const col of sortColumns) values.push((row[col] as string | number | null) ?? undefined);
      return {
        type,
        id,
        versionId: row.vid as string,
        seq: row.q as number,
        lastUpdated: row.lu as string,
        method: row.method as VersionMethod,
        deleted: false,
        json: (row.json as string | null) ?? undefined,
        position: encodePosition({ values, type, id }),
      };
    });
    if (compiled.countSql === undefined) return { hits };
    const total = this.searchStatement(compiled.countSql)
      .pluck()
      .get(...(compiled.countParams ?? [])) as number;
    return { hits, total };
  }

  private searchStatement(sql: string): Statement {
    let s = this.searchStatements.get(sql);
    if (s === undefined) {
      if (this.searchStatements.size >= SEARCH_CACHE_LIMIT) {
        const oldest = this.searchStatements.keys().next().value as string;
        this.searchStatements.delete(oldest);
      }
      s = this.db.prepare(sql);
    } else {
      this.searchStatements.delete(sql); // re-insert: most recently used last
    }
    this.searchStatements.set(sql, s);
    return s;
  }

  readJob(id: string): JobRecord | undefined {
    const json = this.stmt('SELECT json FROM job WHERE id = ?').pluck().get(id) as string | undefined;
    return json === undefined ? undefined : (JSON.parse(json) as JobRecord);
  }

  listUnfinishedJobs(): JobRecord[] {
    const rows = this.stmt(
      "SELECT json FROM job WHERE status IN ('queued', 'running') ORDER BY rowid",
    )
      .pluck()
      .all() as string[];
    return rows.map((json) => JSON.parse(json) as JobRecord);
  }
}

/** Most index rows one multi-row INSERT carries. */
const INSERT_CHUNK = 32;
/** Most index rows one multi-row INSERT carries when applying pending rows in bulk. */
const BULK_CHUNK = 256;
/** Pending versions read and applied per batch. */
const PENDING_BATCH = 5000;
/**
 * Resources in `garbage` (see `schema.ts`) that trigger a collection. It bounds the dead index rows
 * a search may meet (~25 per resource) and lets a bulk delete remove index rows in passes of this
 * many resources: a pass dirties each page of a scattered value index (birth dates, postal codes…)
 * about once, whether it removes the rows of 500 resources or of 10,000.
 */
const GARBAGE_LIMIT = 10_000;

/** The rowid range columns of `resource`, in {@link INDEX_KINDS} order. */
const RANGE_COLUMNS = INDEX_KINDS.flatMap((kind) => [`${kind}_lo`, `${kind}_hi`]);

/** The ranges of a resource without index rows. */
const NO_RANGES: readonly null[] = RANGE_COLUMNS.map(() => null);

/** A `resource` row as the apply, purge and collect paths read it: deleted flag, then the ranges. */
type ResourceRow = [deleted: number, ...ranges: (number | null)[]];

/** A pending version; `entries` is null for a deleted version (and one left by the migration to version 3). */
type PendingRow = [seq: number, type: string, id: string, versionId: string, deleted: number, entries: string | null];

/** Whether `row` (ranges from `offset` on) holds any index rows. */
function hasRanges(row: readonly unknown[], offset: number): boolean {
  for (let k = 0; k < INDEX_KINDS.length; k++) if (row[offset + 2 * k] !== null) return true;
  return false;
}

/** Reads plus writes, on the write connection. Callers run these inside `BEGIN IMMEDIATE`. */
export class WriteStore extends Store {
  /** `insert[kind][n - 1]`: a multi-row INSERT of `n` rows into `ix_<kind>`. */
  private readonly insertIndex: Record<IndexEntryKind, (Statement | undefined)[]>;
  private readonly deleteRange: Record<IndexEntryKind, Statement>;
  private readonly selectHead: Statement;
  private readonly insertVersion: Statement;
  private readonly insertVersionAbove: Statement;
  private readonly insertPending: Statement;
  private readonly selectPending: Statement;
  private readonly deletePending: Statement;
  private readonly insertTypeSeq: Statement;
  private readonly selectResource: Statement;
  private readonly upsertResource: Statement;
  private readonly updateRanges: Statement;
  private readonly dataVersion: Statement;
  private lastDataVersion: number;
  /** Whether committed state may hold pending (unapplied) versions. */
  private committedPending = false;
  /** Inside a unit of work: whether the unit's state may hold pending versions. */
  private unitPending = false;
  /** `meta.seq_floor`: the highest seq ever assigned while the versions holding it are gone, else 0. */
  private seqFloor = 0;
  /** Rows in `garbage`. */
  private garbageCount = 0;
  /** `seqFloor` and `garbageCount` when the unit of work began, restored on rollback. */
  private unitStart: [seqFloor: number, garbageCount: number] = [0, 0];
  private readonly knownParamKinds = new Set<string>();
  /** param/kind pairs inserted by the open unit of work; known once it commits. */
  private readonly pendingParamKinds = new Set<string>();
  /** Reused per write: the entries of each kind, flattened into bind values. */
  private readonly buffers: Record<IndexEntryKind, unknown[]>;

  constructor(db: Db) {
    super(db);
    const remove = {} as Record<IndexEntryKind, Statement>;
    const insert = {} as Record<IndexEntryKind, (Statement | undefined)[]>;
    const buffers = {} as Record<IndexEntryKind, unknown[]>;
    for (const kind of INDEX_KINDS) {
      remove[kind] = db.prepare(`DELETE FROM ix_${kind} WHERE rowid BETWEEN ? AND ?`);
      insert[kind] = [];
      buffers[kind] = [];
    }
    this.deleteRange = remove;
    this.insertIndex = insert;
    this.buffers = buffers;
    this.selectHead = db
      .prepare('SELECT version_id FROM resource_version WHERE res_type = ? AND res_id = ? ORDER BY seq DESC LIMIT 1')
      .pluck();
    const versionColumns = 'res_type, res_id, version_id, last_updated, last_updated_ms, method, deleted, json';
    this.insertVersion = db.prepare(`INSERT INTO resource_version (${versionColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.insertVersionAbove = db.prepare(
      `INSERT INTO resource_version (seq, ${versionColumns}) ` +
        'VALUES ((SELECT max(coalesce(max(seq), 0), ?) + 1 FROM resource_version), ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.insertPending = db.prepare('INSERT INTO pending_index (seq, entries) VALUES (?, ?)');
    this.selectPending = db
      .prepare(
        'SELECT v.seq, v.res_type, v.res_id, v.version_id, v.deleted, p.entries FROM resource_version v ' +
          'LEFT JOIN pending_index p ON p.seq = v.seq WHERE v.seq > ? ORDER BY v.seq LIMIT ?',
      )
      .raw();
    this.deletePending = db.prepare('DELETE FROM pending_index WHERE seq <= ?');
    this.insertTypeSeq = db.prepare(
      'INSERT OR IGNORE INTO type_seq (res_type, seq) ' +
        'SELECT res_type, seq FROM resource_version WHERE seq > ? AND seq <= ?',
    );
    this.selectResource = db
      .prepare(`SELECT deleted, ${RANGE_COLUMNS.join(', ')} FROM resource WHERE res_type = ? AND res_id = ?`)
      .raw();
    this.upsertResource = db.prepare(
      'INSERT INTO resource (res_type, res_id, version_id, seq, deleted) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT (res_type, res_id) DO UPDATE SET version_id = excluded.version_id, seq = excluded.seq, deleted = excluded.deleted',
    );
    this.updateRanges = db.prepare(
      `UPDATE resource SET ${RANGE_COLUMNS.map((c) => `${c} = ?`).join(', ')} WHERE res_type = ? AND res_id = ?`,
    );
    this.dataVersion = db.prepare('PRAGMA data_version').pluck();
    this.lastDataVersion = this.dataVersion.get() as number;
    this.loadShared();
    for (const row of db.prepare('SELECT param, kind FROM param_kind').all() as { param: string; kind: string }[]) {
      this.knownParamKinds.add(`${row.kind}\u0000${row.param}`);
    }
  }

  /** (Re)reads the state that other connections may change. */
  private loadShared(): void {
    const applied = this.meta('applied_seq') ?? 0;
    const top = (this.stmt('SELECT max(seq) FROM resource_version').pluck().get() ?? 0) as number;
    this.committedPending = top > applied;
    this.seqFloor = this.meta('seq_floor') ?? 0;
    this.garbageCount = this.stmt('SELECT count(*) FROM garbage').pluck().get() as number;
  }

  /** Whether another connection (process) committed since the last look. */
  private othersCommitted(): boolean {
    const version = this.dataVersion.get() as number;
    if (version === this.lastDataVersion) return false;
    this.lastDataVersion = version;
    return true;
  }

  private meta(key: string): number | undefined {
    return this.stmt('SELECT value FROM meta WHERE key = ?').pluck().get(key) as number | undefined;
  }

  private setMeta(key: string, value: number | undefined): void {
    if (value === undefined) this.stmt('DELETE FROM meta WHERE key = ?').run(key);
    else {
      this.stmt('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(
        key,
        value,
      );
    }
  }

  /**
   * Outside units of work: whether committed state may hold pending versions, so that a search
   * (or type-level history read) must first apply them, in a unit of work of its own.
   */
  hasCommittedPending(): boolean {
    if (this.othersCommitted()) this.loadShared();
    return this.committedPending;
  }

  /** Called right after `BEGIN IMMEDIATE` of a unit of work. */
  beginUnit(): void {
    if (this.othersCommitted()) this.loadShared();
    this.unitPending = this.committedPending;
    this.unitStart = [this.seqFloor, this.garbageCount];
  }

  /** Called after COMMIT / ROLLBACK of a unit of work. */
  endUnit(committed: boolean): void {
    if (committed) {
      for (const k of this.pendingParamKinds) this.knownParamKinds.add(k);
      this.committedPending = this.unitPending;
    } else {
      [this.seqFloor, this.garbageCount] = this.unitStart;
    }
    this.pendingParamKinds.clear();
  }

  /** Inside a unit of work: applies the pending versions, then searches. */
  searchInUnit(query: StorageQuery): SearchHits {
    this.applyPending();
    return super.search(query);
  }

  /** Inside a unit of work: history; a type-level read applies the pending versions first. */
  readHistoryInUnit(scope: HistoryScope, page: HistoryPage): HistoryResult {
    if (scope.level === 'type') this.applyPending();
    return super.readHistory(scope, page);
  }

  writeVersion(write: VersionWrite): number {
    const current = this.selectHead.get(write.type, write.id) as string | undefined;
    const expect = write.expect;
    if (expect.kind === 'absent') {
      if (current !== undefined) {
        throw new StorageConflictError(`${write.type}/${write.id} already exists (current version ${current}).`);
      }
    } else if (current !== expect.versionId) {
      throw new StorageConflictError(
        current === undefined
          ? `${write.type}/${write.id} does not exist (expected version ${expect.versionId}).`
          : `${write.type}/${write.id} is at version ${current}, not ${expect.versionId}.`,
      );
    }

    const lastUpdatedMs = Date.parse(write.lastUpdated);
    const row = [
      write.type,
      write.id,
      write.versionId,
      write.lastUpdated,
      Number.isNaN(lastUpdatedMs) ? 0 : lastUpdatedMs,
      write.method,
      write.deleted ? 1 : 0,
      write.json,
    ];
    let seq: number;
    if (this.seqFloor === 0) {
      seq = Number(this.insertVersion.run(row).lastInsertRowid);
    } else {
      // The newest versions were hard-deleted: continue above the highest seq ever assigned.
      seq = Number(this.insertVersionAbove.run(this.seqFloor, ...row).lastInsertRowid);
      this.setMeta('seq_floor', undefined);
      this.seqFloor = 0;
    }
    // Deferred index: one appended row instead of ~25 scattered index rows (see `applyPending`).
    // A deleted version has no entries: its index is not read.
    if (!write.deleted) this.insertPending.run(seq, encodeEntries(write.index));
    this.unitPending = true;
    return seq;
  }

  /**
   * Applies the pending versions, oldest first, in batches: per batch, `type_seq` gets every
   * version; per resource, only its last version in the batch counts: `resource` takes its
   * version, seq and deleted flag; a live version's entries replace the resource's index rows
   * (deleted by their rowid ranges, then inserted with multi-row INSERTs per kind across resources);
   * a deleted version leaves its rows to garbage collection. Runs inside the caller's unit of work,
   * so a rollback undoes it together with the unit's writes. With `maxBatches`, stops after that
   * many batches and returns false when pending versions remain.
   */
  applyPending(maxBatches = Number.POSITIVE_INFINITY): boolean {
    if (!this.unitPending) return true;
    let applied = this.meta('applied_seq') ?? 0;
    for (let batch = 0; ; batch++) {
      if (batch >= maxBatches) return false;
      const rows = this.selectPending.all(applied, PENDING_BATCH) as PendingRow[];
      if (rows.length === 0) break;
      const last = (rows[rows.length - 1] as PendingRow)[0];
      this.insertTypeSeq.run(applied, last);
      const latest = new Map<string, PendingRow>();
      for (const row of rows) {
        const key = `${row[1]}\u0000${row[2]}`;
        latest.delete(key); // keep the map in seq order of the latest rows
        latest.set(key, row);
      }
      const replaced: [type: string, id: string, entries: PendingEntry[]][] = [];
      for (const [seq, type, id, versionId, deleted, entries] of latest.values()) {
        const cur = this.selectResource.get(type, id) as ResourceRow | undefined;
        this.upsertResource.run(type, id, versionId, seq, deleted);
        if (deleted !== 0) {
          if (cur !== undefined && cur[0] === 0 && hasRanges(cur, 1)) this.addGarbage(type, id);
        } else if (entries !== null) {
          // Also drops rows of an earlier life (tombstone, hard delete) not collected yet.
          if (cur !== undefined) this.deleteEntries(cur, 1);
          replaced.push([type, id, decodeEntries(entries)]);
        }
      }
      this.insertBulk(replaced);
      this.deletePending.run(last);
      applied = last;
      this.setMeta('applied_seq', applied);
      if (rows.length < PENDING_BATCH) break;
    }
    this.unitPending = false;
    this.collectGarbage();
    return true;
  }

  /**
   * Inserts the entries of many resources, each kind with multi-row INSERTs across resources, and
   * records each resource's rowid range per kind. One writer inserting in one go gets consecutive
   * rowids (max + 1), checked per kind.
   */
  private insertBulk(resources: readonly [string, string, PendingEntry[]][]): void {
    if (resources.length === 0) return;
    // counts[r * K + k]: rows of kind k of resource r.
    const K = INDEX_KINDS.length;
    const counts = new Array<number>(resources.length * K).fill(0);
    for (let r = 0; r < resources.length; r++) {
      const [type, id, entries] = resources[r] as [string, string, PendingEntry[]];
      for (const e of entries) {
        const k = e[0];
        const kind = INDEX_KINDS[k] as IndexEntryKind;
        const values = this.buffers[kind];
        values.push(type, id);
        for (let i = 1; i < e.length; i++) values.push(e[i]);
        counts[r * K + k]! += 1;
        const pk = `${kind}\u0000${e[1]}`;
        if (!this.knownParamKinds.has(pk) && !this.pendingParamKinds.has(pk)) {
          this.stmt('INSERT OR IGNORE INTO param_kind (param, kind) VALUES (?, ?)').run(e[1], kind);
          this.pendingParamKinds.add(pk);
        }
      }
    }
    const first: number[] = [];
    for (const kind of INDEX_KINDS) {
      const values = this.buffers[kind];
      if (values.length === 0) {
        first.push(0);
        continue;
      }
      const width = 3 + KIND_COLUMNS[kind].length;
      const total = values.length / width;
      try {
        first.push(this.insertRows(kind, values, total, BULK_CHUNK));
      } finally {
        values.length = 0;
      }
    }
    const ranges = new Array<number | null>(2 * K);
    for (let r = 0; r < resources.length; r++) {
      for (let k = 0; k < K; k++) {
        const n = counts[r * K + k] as number;
        if (n === 0) {
          ranges[2 * k] = null;
          ranges[2 * k + 1] = null;
        } else {
          const lo = first[k] as number;
          ranges[2 * k] = lo;
          ranges[2 * k + 1] = lo + n - 1;
          first[k] = lo + n;
        }
      }
      const [type, id] = resources[r] as [string, string, PendingEntry[]];
      this.updateRanges.run(...ranges, type, id);
    }
  }

  /**
   * Inserts the `rows` rows in `values` into `ix_<kind>` in chunks of at most `chunk` rows (then
   * {@link INSERT_CHUNK}, then the rest); returns the first rowid and checks that they are consecutive.
   */
  private insertRows(kind: IndexEntryKind, values: unknown[], rows: number, chunk: number): number {
    const width = 3 + KIND_COLUMNS[kind].length;
    let first = 0;
    let start = 0;
    while (start < rows) {
      const left = rows - start;
      const n = left >= chunk ? chunk : left >= INSERT_CHUNK ? INSERT_CHUNK : left;
      const part = start === 0 && n === rows ? values : values.slice(start * width, (start + n) * width);
      const last = Number(this.insertStatement(kind, n).run(part).lastInsertRowid);
      if (start === 0) first = last - n + 1;
      else if (last !== first + start + n - 1) {
        throw new Error(`ix_${kind}: index rowids are not consecutive (${first}…, got ${last}).`);
      }
      start += n;
    }
    return first;
  }

  /** Deletes the index rows of the ranges in `row` (starting at `offset`). */
  private deleteEntries(row: readonly unknown[], offset: number): void {
    for (let k = 0; k < INDEX_KINDS.length; k++) {
      const lo = row[offset + 2 * k];
      if (lo !== null && lo !== undefined) {
        this.deleteRange[INDEX_KINDS[k] as IndexEntryKind].run(lo, row[offset + 2 * k + 1]);
      }
    }
  }

  private insertStatement(kind: IndexEntryKind, rows: number): Statement {
    const cached = this.insertIndex[kind][rows - 1];
    if (cached !== undefined) return cached;
    const cols = KIND_COLUMNS[kind];
    const tuple = `(?, ?, ?${', ?'.repeat(cols.length)})`;
    const statement = this.db.prepare(
      `INSERT INTO ix_${kind} (res_type, res_id, param, ${cols.join(', ')}) VALUES ${Array(rows).fill(tuple).join(', ')}`,
    );
    this.insertIndex[kind][rows - 1] = statement;
    return statement;
  }

  purge(key: ResourceKey, keep: 'none' | 'current'): number {
    const removed = (
      keep === 'current'
        ? this.stmt(
            'DELETE FROM resource_version WHERE res_type = ? AND res_id = ? ' +
              'AND seq < (SELECT max(seq) FROM resource_version WHERE res_type = ? AND res_id = ?) RETURNING seq',
          )
            .pluck()
            .all(key.type, key.id, key.type, key.id)
        : this.stmt('DELETE FROM resource_version WHERE res_type = ? AND res_id = ? RETURNING seq')
            .pluck()
            .all(key.type, key.id)
    ) as number[];
    let top = 0;
    for (const seq of removed) {
      this.stmt('DELETE FROM type_seq WHERE res_type = ? AND seq = ?').run(key.type, seq);
      this.stmt('DELETE FROM pending_index WHERE seq = ?').run(seq);
      if (seq > top) top = seq;
    }
    if (keep === 'current') return removed.length;

    // Keep the highest seq ever assigned when its version is gone, so that it is never reused.
    const maxSeq = this.stmt('SELECT coalesce(max(seq), 0) FROM resource_version').pluck();
    if (top > this.seqFloor && top > (maxSeq.get() as number)) {
      this.seqFloor = top;
      this.setMeta('seq_floor', top);
    }
    // The index rows go with the next garbage collection; until then the row holds their ranges.
    const cur = this.selectResource.get(key.type, key.id) as ResourceRow | undefined;
    if (cur !== undefined) {
      if (hasRanges(cur, 1)) {
        if (cur[0] === 0) this.addGarbage(key.type, key.id);
        this.stmt('UPDATE resource SET deleted = 2 WHERE res_type = ? AND res_id = ?').run(key.type, key.id);
        this.collectGarbage();
      } else {
        this.stmt('DELETE FROM resource WHERE res_type = ? AND res_id = ?').run(key.type, key.id);
      }
    }
    return removed.length;
  }

  private addGarbage(type: string, id: string): void {
    this.stmt('INSERT INTO garbage (res_type, res_id) VALUES (?, ?)').run(type, id);
    this.garbageCount++;
  }

  /**
   * Once `garbage` lists {@link GARBAGE_LIMIT} resources, deletes their index rows and forgets
   * them: the ranges are merged per kind where they touch (resources applied together have
   * adjacent ranges), so that a few range DELETEs remove them all. A listed resource that came back
   * meanwhile had its rows replaced when it was applied and is skipped.
   */
  private collectGarbage(): void {
    if (this.garbageCount < GARBAGE_LIMIT) return;
    const listed = 'SELECT res_type, res_id FROM garbage';
    const rows = this.stmt(
      `SELECT ${RANGE_COLUMNS.join(', ')} FROM resource WHERE deleted <> 0 AND (res_type, res_id) IN (${listed})`,
    )
      .raw()
      .all() as (number | null)[][];
    this.stmt(`DELETE FROM resource WHERE deleted = 2 AND (res_type, res_id) IN (${listed})`).run();
    this.stmt(
      `UPDATE resource SET ${RANGE_COLUMNS.map((c) => `${c} = NULL`).join(', ')} ` +
        `WHERE deleted = 1 AND (res_type, res_id) IN (${listed})`,
    ).run();
    INDEX_KINDS.forEach((kind, k) => {
      const ranges: [number, number][] = [];
      for (const row of rows) if (row[2 * k] !== null) ranges.push([row[2 * k] as number, row[2 * k + 1] as number]);
      ranges.sort((a, b) => a[0] - b[0]);
      for (let i = 0; i < ranges.length; ) {
        const [lo] = ranges[i] as [number, number];
        let hi = (ranges[i] as [number, number])[1];
        for (i++; i < ranges.length && (ranges[i] as [number, number])[0] <= hi + 1; i++) {
          hi = Math.max(hi, (ranges[i] as [number, number])[1]);
        }
        this.deleteRange[kind].run(lo, hi);
      }
    });
    this.stmt('DELETE FROM garbage').run();
    this.garbageCount = 0;
  }

  writeJob(job: JobRecord, expectedRevision: number | null): void {
    const stored = this.stmt('SELECT revision FROM job WHERE id = ?').pluck().get(job.id) as number | undefined;
    if (expectedRevision === null) {
      if (stored !== undefined) {
        throw new StorageConflictError(`Job ${job.id} already exists (revision ${stored}).`);
      }
      this.stmt('INSERT INTO job (id, revision, status, json) VALUES (?, ?, ?, ?)').run(
        job.id,
        job.revision,
        job.status,
        JSON.stringify(job),
      );
      return;
    }
    if (stored !== expectedRevision) {
      throw new StorageConflictError(
        stored === undefined
          ? `Job ${job.id} does not exist (expected revision ${expectedRevision}).`
          : `Job ${job.id} is at revision ${stored}, not ${expectedRevision}.`,
      );
    }
    this.stmt('UPDATE job SET revision = ?, status = ?, json = ? WHERE id = ?').run(
      job.revision,
      job.status,
      JSON.stringify(job),
      job.id,
    );
  }
}

/** One index entry as stored in `pending_index`: `[kind ordinal, param, ...KIND_COLUMNS values]`. */
type PendingEntry = [kind: number, param: string, ...values: (string | number | null)[]];

/** JSON has no infinities (open date/number ranges use them): those are written as strings. */
const num = (n: number): number | string => (Number.isFinite(n) ? n : String(n));

/**
 * The `pending_index.entries` text of `entries`: a JSON array of {@link PendingEntry} (compact: the
 * row is appended on every write, so its size is part of the commit cost).
 */
function encodeEntries(entries: readonly IndexEntry[]): string {
  const out: PendingEntry[] = [];
  for (const e of entries) {
    switch (e.kind) {
      case 'token':
        out.push([0, e.param, e.system, e.code]);
        break;
      case 'text':
        out.push([1, e.param, e.folded]);
        break;
      case 'string':
        out.push([2, e.param, e.folded, e.exact]);
        break;
      case 'date':
        out.push([3, e.param, num(e.low), num(e.high)]);
        break;
      case 'number':
        out.push([4, e.param, num(e.low), num(e.high)]);
        break;
      case 'quantity':
        out.push([5, e.param, num(e.low), num(e.high), e.system, e.code]);
        break;
      case 'reference':
        out.push([6, e.param, e.targetType, e.targetId, e.url]);
        break;
      case 'uri':
        out.push([7, e.param, e.value]);
        break;
    }
  }
  return JSON.stringify(out);
}

/** The entries of a `pending_index.entries` text, numbers restored. */
function decodeEntries(text: string): PendingEntry[] {
  const entries = JSON.parse(text) as PendingEntry[];
  for (const e of entries) {
    if (e[0] >= 3 && e[0] <= 5) {
      if (typeof e[2] === 'string') e[2] = Number(e[2]);
      if (typeof e[3] === 'string') e[3] = Number(e[3]);
    }
  }
  return entries;
}

function toVersion(type: string, id: string, row: VersionRow): StoredVersion {
  return {
    type,
    id,
    versionId: row.version_id,
    seq: row.seq,
    lastUpdated: row.last_updated,
    method: row.method as VersionMethod,
    deleted: row.deleted !== 0,
    json: row.json,
  };
}
