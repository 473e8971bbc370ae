/**
 * Prepared statements and the synchronous read/write operations on one better-sqlite3 connection.
 * The adapter owns a {@link Store} for its write connection and, for file databases, a read-only one
 * for reads outside units of work. Every statement is prepared once, on first use.
 *
 * @packageDocumentation
 */
import type BetterSqlite3 from 'better-sqlite3';

import type { IndexEntry, IndexEntryKind } from '../../src/storage/index-entry.js';
import type { JobRecord } from '../../src/storage/job-record.js';
import type { SearchHit, SearchHits, StorageQuery } from '../../src/storage/query.js';
import {
  StorageConflictError,
  type HistoryPage,
  type HistoryResult,
  type HistoryScope,
  type ResourceKey,
  type StoredVersion,
  type VersionMethod,
  type VersionWrite,
} from '../../src/storage/storage-adapter.js';
import { INDEX_KINDS, KIND_BIT, KIND_COLUMNS } from './schema.js';
import { compileSearch, encodePosition } from './search-sql.js';

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
      'SELECT v.seq, v.version_id, v.last_updated, v.method, v.deleted, v.json FROM resource r ' +
        'JOIN resource_version v ON v.seq = r.seq WHERE r.res_type = ? AND r.res_id = ?',
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

  readHistory(scope: HistoryScope, page: HistoryPage): HistoryResult {
    const where: string[] = [];
    const params: unknown[] = [];
    if (scope.level === 'instance') {
      where.push('res_type = ?', 'res_id = ?');
      params.push(scope.type, scope.id);
    } else if (scope.level === 'type') {
      where.push('res_type = ?');
      params.push(scope.type);
    }
    if (page.before !== undefined) {
      where.push('seq < ?');
      params.push(page.before);
    }
    if (page.since !== undefined) {
      const since = Date.parse(page.since);
      if (Number.isNaN(since)) throw new Error(`Invalid history 'since' instant: ${page.since}`);
      where.push('last_updated_ms >= ?');
      params.push(since);
    }
    params.push(Math.max(0, Math.floor(page.count)));
    const sql =
      'SELECT seq, res_type, res_id, version_id, last_updated, method, deleted, json FROM resource_version' +
      (where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '') +
      ' ORDER BY seq DESC LIMIT ?';
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
    const compiled = compileSearch(query, (param) => this.kindsOf(param));
    const statement = this.searchStatement(compiled.sql);
    const rows = statement.all(...compiled.params) as Record<string, unknown>[];
    const sortColumns = compiled.sortColumns;
    const hits: SearchHit[] = rows.map((row) => {
      const type = row.t as string;
      const id = row.i as string;
      const values: (string | number | null)[] = [];
      for (let n = 0; n < sortColumns; n++) values.push(row[`s${n}`] as string | number | null);
      return {
        type,
        id,
        versionId: row.vid as string,
        seq: row.q as number,
        lastUpdated: row.lu as string,
        method: row.method as VersionMethod,
        deleted: false,
        json: (row.json as string | null) ?? undefined,
        position: encodePosition(values, type, id),
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

/** Reads plus writes, on the write connection. Callers run these inside `BEGIN IMMEDIATE`. */
export class WriteStore extends Store {
  private readonly insertIndex: Record<IndexEntryKind, Statement>;
  private readonly deleteIndex: Record<IndexEntryKind, Statement>;
  private readonly knownParamKinds = new Set<string>();
  /** param/kind pairs inserted by the open unit of work; known once it commits. */
  private readonly pendingParamKinds = new Set<string>();

  constructor(db: Db) {
    super(db);
    const insert = {} as Record<IndexEntryKind, Statement>;
    const remove = {} as Record<IndexEntryKind, Statement>;
    for (const kind of INDEX_KINDS) {
      const cols = KIND_COLUMNS[kind];
      insert[kind] = db.prepare(
        `INSERT INTO ix_${kind} (res_type, res_id, param, ${cols.join(', ')}) VALUES (?, ?, ?${', ?'.repeat(cols.length)})`,
      );
      remove[kind] = db.prepare(`DELETE FROM ix_${kind} WHERE res_type = ? AND res_id = ?`);
    }
    this.insertIndex = insert;
    this.deleteIndex = remove;
    for (const row of db.prepare('SELECT param, kind FROM param_kind').all() as { param: string; kind: string }[]) {
      this.knownParamKinds.add(`${row.kind}\u0000${row.param}`);
    }
  }

  /** Called after COMMIT / ROLLBACK of a unit of work. */
  endUnit(committed: boolean): void {
    if (committed) for (const k of this.pendingParamKinds) this.knownParamKinds.add(k);
    this.pendingParamKinds.clear();
  }

  writeVersion(write: VersionWrite): number {
    const cur = this.stmt('SELECT version_id, ix_kinds FROM resource WHERE res_type = ? AND res_id = ?').get(
      write.type,
      write.id,
    ) as { version_id: string; ix_kinds: number } | undefined;
    const expect = write.expect;
    if (expect.kind === 'absent') {
      if (cur !== undefined) {
        throw new StorageConflictError(
          `${write.type}/${write.id} already exists (current version ${cur.version_id}).`,
        );
      }
    } else if (cur === undefined || cur.version_id !== expect.versionId) {
      throw new StorageConflictError(
        cur === undefined
          ? `${write.type}/${write.id} does not exist (expected version ${expect.versionId}).`
          : `${write.type}/${write.id} is at version ${cur.version_id}, not ${expect.versionId}.`,
      );
    }

    const lastUpdatedMs = Date.parse(write.lastUpdated);
    const seq = Number(
      this.stmt(
        'INSERT INTO resource_version (res_type, res_id, version_id, last_updated, last_updated_ms, method, deleted, json) ' +
          'VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(
        write.type,
        write.id,
        write.versionId,
        write.lastUpdated,
        Number.isNaN(lastUpdatedMs) ? 0 : lastUpdatedMs,
        write.method,
        write.deleted ? 1 : 0,
        write.json,
      ).lastInsertRowid,
    );

    if (cur !== undefined && cur.ix_kinds !== 0) this.deleteEntries(write.type, write.id, cur.ix_kinds);
    const kinds = this.insertEntries(write.type, write.id, write.index);

    if (cur === undefined) {
      this.stmt(
        'INSERT INTO resource (res_type, res_id, version_id, seq, deleted, ix_kinds) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(write.type, write.id, write.versionId, seq, write.deleted ? 1 : 0, kinds);
    } else {
      this.stmt(
        'UPDATE resource SET version_id = ?, seq = ?, deleted = ?, ix_kinds = ? WHERE res_type = ? AND res_id = ?',
      ).run(write.versionId, seq, write.deleted ? 1 : 0, kinds, write.type, write.id);
    }
    return seq;
  }

  private deleteEntries(type: string, id: string, mask: number): void {
    for (const kind of INDEX_KINDS) {
      if ((mask & KIND_BIT[kind]) !== 0) this.deleteIndex[kind].run(type, id);
    }
  }

  /** Inserts `entries`; returns the mask of kinds written. */
  private insertEntries(type: string, id: string, entries: readonly IndexEntry[]): number {
    let mask = 0;
    for (const e of entries) {
      switch (e.kind) {
        case 'token':
          this.insertIndex.token.run(type, id, e.param, e.system, e.code);
          break;
        case 'text':
          this.insertIndex.text.run(type, id, e.param, e.folded);
          break;
        case 'string':
          this.insertIndex.string.run(type, id, e.param, e.folded, e.exact);
          break;
        case 'date':
          this.insertIndex.date.run(type, id, e.param, e.low, e.high);
          break;
        case 'number':
          this.insertIndex.number.run(type, id, e.param, e.low, e.high);
          break;
        case 'quantity':
          this.insertIndex.quantity.run(type, id, e.param, e.low, e.high, e.system, e.code);
          break;
        case 'reference':
          this.insertIndex.reference.run(type, id, e.param, e.targetType, e.targetId, e.url);
          break;
        case 'uri':
          this.insertIndex.uri.run(type, id, e.param, e.value);
          break;
      }
      mask |= KIND_BIT[e.kind];
      const pk = `${e.kind}\u0000${e.param}`;
      if (!this.knownParamKinds.has(pk) && !this.pendingParamKinds.has(pk)) {
        this.stmt('INSERT OR IGNORE INTO param_kind (param, kind) VALUES (?, ?)').run(e.param, e.kind);
        this.pendingParamKinds.add(pk);
      }
    }
    return mask;
  }

  purge(key: ResourceKey, keep: 'none' | 'current'): number {
    const cur = this.stmt('SELECT seq, ix_kinds FROM resource WHERE res_type = ? AND res_id = ?').get(
      key.type,
      key.id,
    ) as { seq: number; ix_kinds: number } | undefined;
    if (keep === 'current') {
      if (cur === undefined) return 0;
      return this.stmt('DELETE FROM resource_version WHERE res_type = ? AND res_id = ? AND seq <> ?').run(
        key.type,
        key.id,
        cur.seq,
      ).changes;
    }
    const removed = this.stmt('DELETE FROM resource_version WHERE res_type = ? AND res_id = ?').run(
      key.type,
      key.id,
    ).changes;
    if (cur !== undefined) {
      this.stmt('DELETE FROM resource WHERE res_type = ? AND res_id = ?').run(key.type, key.id);
      this.deleteEntries(key.type, key.id, cur.ix_kinds);
    }
    return removed;
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
