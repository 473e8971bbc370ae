/**
 * Synchronous reads on one better-sqlite3 connection. The adapter owns a {@link Store} for reads
 * outside units of work on file databases (a read-only connection); its write connection's
 * `WriteStore` (`write-store.ts`) extends it. Every statement is prepared once, on first use.
 *
 * @packageDocumentation
 */
import type BetterSqlite3 from 'better-sqlite3';

import type {
  HistoryPage,
  HistoryResult,
  HistoryScope,
  IndexEntryKind,
  JobRecord,
  ResourceKey,
  SearchHits,
  StorageQuery,
  StoredVersion,
  VersionMethod,
} from '../../src/adapter-kit.js';
import type { SqlTarget } from '../sql/dialect.js';
import { compileSearch, hitsOf, type SearchRow } from '../sql/search.js';
import { numbered, sqliteTarget } from './dialect.js';

export type Db = BetterSqlite3.Database;
export type Statement = BetterSqlite3.Statement;

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
  private readonly target: SqlTarget;

  constructor(readonly db: Db) {
    this.target = sqliteTarget((param) => this.kindsOf(param));
  }

  /** The statement for `sql`, prepared on first use (and shared by every user of this connection). */
  stmt(sql: string): Statement {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /** A named integer of the `meta` table. */
  meta(key: string): number | undefined {
    return this.stmt('SELECT value FROM meta WHERE key = ?').pluck().get(key) as number | undefined;
  }

  /** Sets (or, with undefined, removes) a named integer of the `meta` table; write connection only. */
  setMeta(key: string, value: number | undefined): void {
    if (value === undefined) this.stmt('DELETE FROM meta WHERE key = ?').run(key);
    else {
      this.stmt('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(
        key,
        value,
      );
    }
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
    const compiled = compileSearch(this.target, query, {
      estimate: (sql, params) => this.searchStatement(sql).pluck().get(...numbered(params)) as number,
    });
    const rows = this.searchStatement(compiled.sql).all(...numbered(compiled.params)) as SearchRow[];
    if (compiled.count === undefined) return hitsOf(compiled, rows);
    const total = this.searchStatement(compiled.count.sql).pluck().get(...numbered(compiled.count.params)) as number;
    return hitsOf(compiled, rows, total);
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
