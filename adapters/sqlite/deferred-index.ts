/**
 * The deferred index of the write connection (see `pending_index` in `schema.ts`): a write appends
 * its version's index entries as one compact row; {@link DeferredIndex.apply} later brings the
 * derived state (`resource`, the `ix_<kind>` tables, `type_seq`) up to date in bulk, before the
 * next read that needs it. Runs inside the caller's unit of work.
 *
 * @packageDocumentation
 */
import type { IndexEntry, IndexEntryKind, ResourceIndexer } from '../../src/adapter-kit.js';
import type { GarbageCollector } from './garbage.js';
import type { Statement, Store } from './read-store.js';
import { INDEX_KINDS, KIND_COLUMNS, RANGE_COLUMNS, hasRanges, type ResourceRow } from './schema.js';

/** Most index rows one multi-row INSERT carries. */
const INSERT_CHUNK = 32;
/** Most index rows one multi-row INSERT carries when applying pending rows in bulk. */
const BULK_CHUNK = 256;
/**
 * Pending versions read and applied per batch: small enough that one batch stays well under the
 * 20 ms step of a background or search-side apply on a slow machine (~25 index rows per Patient).
 */
const PENDING_BATCH = 128;
/**
 * A unit of work that brings the backlog (pending versions) to this many applies one batch of the
 * oldest on the spot, so that no backlog beyond it builds up however long writes go on back to
 * back (a search then waits for at most this many, about 100 ms), and the cost of index
 * maintenance is paid along with the writes that cause it, in steps of {@link PENDING_BATCH}.
 */
const BACKLOG_LIMIT = 640;
/** Resources re-indexed per batch after an upgrade (see `DeferredIndex.reindex`). */
const REINDEX_BATCH = 200;

/** A pending version; `entries` is null for a deleted version (and one left by the migration to version 3). */
type PendingRow = [seq: number, type: string, id: string, versionId: string, deleted: number, entries: string | null];

/** Pending versions and their application to the derived index state. */
export class DeferredIndex {
  /** `insert[kind][n - 1]`: a multi-row INSERT of `n` rows into `ix_<kind>`. */
  private readonly insertIndex: Record<IndexEntryKind, (Statement | undefined)[]>;
  private readonly deleteRange: Record<IndexEntryKind, Statement>;
  private readonly insertPending: Statement;
  private readonly selectPending: Statement;
  private readonly deletePending: Statement;
  private readonly insertTypeSeq: Statement;
  private readonly selectResource: Statement;
  private readonly upsertResource: Statement;
  private readonly updateRanges: Statement;
  /** Pending (unapplied) versions in committed state (an estimate when another connection wrote). */
  private committedBacklog = 0;
  /** Inside a unit of work: pending versions in the unit's state. */
  private unitBacklog = 0;
  private readonly knownParamKinds = new Set<string>();
  /** param/kind pairs inserted by the open unit of work; known once it commits. */
  private readonly pendingParamKinds = new Set<string>();
  /** Reused per write: the entries of each kind, flattened into bind values. */
  private readonly buffers: Record<IndexEntryKind, unknown[]>;
  private readonly selectReindex: Statement;
  /** The engine's indexer (see `SqliteAdapter.useIndexer`): what re-indexing after an upgrade needs. */
  private indexer: ResourceIndexer | undefined;
  /**
   * `meta.reindex_through`: the live resources whose current version has a seq up to this one were
   * indexed by an older version of the engine and are indexed again from their JSON (0: none).
   */
  private reindexThrough = 0;
  /** A unit of work changed `meta.reindex_*`: read it again once the unit has ended. */
  private reindexChanged = false;

  constructor(
    private readonly store: Store,
    private readonly garbage: GarbageCollector,
  ) {
    const db = store.db;
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
    this.selectReindex = db
      .prepare(
        `SELECT v.seq, v.res_type, v.res_id, v.json, ${RANGE_COLUMNS.map((c) => `r.${c}`).join(', ')} FROM resource_version v ` +
          'JOIN resource r ON r.res_type = v.res_type AND r.res_id = v.res_id AND r.seq = v.seq ' +
          'WHERE v.seq > ? AND v.seq <= ? AND r.deleted = 0 ORDER BY v.seq LIMIT ?',
      )
      .raw();
    for (const row of db.prepare('SELECT param, kind FROM param_kind').all() as { param: string; kind: string }[]) {
      this.knownParamKinds.add(`${row.kind}\u0000${row.param}`);
    }
  }

  /** (Re)reads whether committed state holds pending versions, which other connections may change. */
  load(): void {
    const applied = this.store.meta('applied_seq') ?? 0;
    const top = (this.store.stmt('SELECT max(seq) FROM resource_version').pluck().get() ?? 0) as number;
    this.committedBacklog = Math.max(0, top - applied);
    this.reindexThrough = this.store.meta('reindex_through') ?? 0;
  }

  /** Hands over the engine's indexer, with which resources indexed by an older version are indexed again. */
  useIndexer(indexer: ResourceIndexer): void {
    this.indexer = indexer;
  }

  /** Whether resources indexed by an older version wait to be indexed again (and can be: there is an indexer). */
  private get reindexDue(): boolean {
    return this.reindexThrough > 0 && this.indexer !== undefined;
  }

  /** Outside units of work: whether committed state may hold pending versions (as last loaded), or a re-index is due. */
  hasCommittedPending(): boolean {
    return this.committedBacklog > 0 || this.reindexDue;
  }

  /** Outside units of work: whether index maintenance is left to do (pending versions, a collection under way). */
  maintenanceDue(): boolean {
    return this.hasCommittedPending() || this.garbage.pending;
  }

  /** Outside units of work: how many versions committed state holds pending (as last loaded). */
  get backlog(): number {
    return this.committedBacklog;
  }

  beginUnit(): void {
    this.unitBacklog = this.committedBacklog;
  }

  endUnit(committed: boolean): void {
    if (committed) {
      for (const k of this.pendingParamKinds) this.knownParamKinds.add(k);
      this.committedBacklog = this.unitBacklog;
    }
    this.pendingParamKinds.clear();
    if (this.reindexChanged) {
      this.reindexChanged = false;
      this.reindexThrough = this.store.meta('reindex_through') ?? 0;
    }
  }

  /** Records a written version as pending. A deleted version has no entries: its index is not read. */
  record(seq: number, deleted: boolean, entries: readonly IndexEntry[]): void {
    // One appended row instead of ~25 scattered index rows (see `apply`).
    if (!deleted) this.insertPending.run(seq, encodeEntries(entries));
    if (++this.unitBacklog >= BACKLOG_LIMIT) this.applyBatch();
  }

  /** The applied `resource` row of a resource: its deleted flag, then its rowid ranges. */
  resourceRow(type: string, id: string): ResourceRow | undefined {
    return this.selectResource.get(type, id) as ResourceRow | undefined;
  }

  /** Deletes the rows `lo…hi` (rowids) of `ix_<kind>`. */
  deleteRows(kind: IndexEntryKind, lo: number, hi: number): void {
    this.deleteRange[kind].run(lo, hi);
  }

  /**
   * Applies the pending versions, oldest first, in batches: per batch, `type_seq` gets every
   * version; per resource, only its last version in the batch counts: `resource` takes its
   * version, seq and deleted flag; a live version's entries replace the resource's index rows
   * (deleted by their rowid ranges, then inserted with multi-row INSERTs per kind across resources);
   * a deleted version leaves its rows to garbage collection. Runs inside the caller's unit of work,
   * so a rollback undoes it together with the unit's writes. With a `deadline` (a
   * `performance.now()` time), stops after the batch that reaches it and returns false when pending
   * versions (or resources to re-index) remain.
   */
  apply(deadline = Number.POSITIVE_INFINITY): boolean {
    while (this.unitBacklog > 0) {
      this.applyBatch();
      if (this.unitBacklog > 0 && performance.now() >= deadline) return false;
    }
    // Searches do not wait for garbage: a collection that reaches the deadline goes on in the next step.
    this.garbage.collect(deadline);
    return this.reindexDue ? this.reindex(deadline) : true;
  }

  /** Applies the oldest {@link PENDING_BATCH} pending versions (and learns when none are left). */
  private applyBatch(): void {
    const applied = this.store.meta('applied_seq') ?? 0;
    {
      const rows = this.selectPending.all(applied, PENDING_BATCH) as PendingRow[];
      if (rows.length === 0) {
        this.unitBacklog = 0;
        return;
      }
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
        const cur = this.resourceRow(type, id);
        this.upsertResource.run(type, id, versionId, seq, deleted);
        if (deleted !== 0) {
          if (cur !== undefined && cur[0] === 0 && hasRanges(cur, 1)) this.garbage.add(type, id);
        } else if (entries !== null) {
          // Also drops rows of an earlier life (tombstone, hard delete) not collected yet.
          if (cur !== undefined) this.deleteEntries(cur, 1);
          replaced.push([type, id, decodeEntries(entries)]);
        }
      }
      this.insertBulk(replaced);
      this.deletePending.run(last);
      this.store.setMeta('applied_seq', last);
      // Versions are counted, not their seqs (hard deletes leave gaps); a short batch read them all.
      this.unitBacklog = rows.length < PENDING_BATCH ? 0 : Math.max(1, this.unitBacklog - rows.length);
    }
  }

  /**
   * After an upgrade that changed what the engine indexes (schema migration 4: compartment
   * memberships), indexes every live resource whose current version is at most
   * `meta.reindex_through` again, from its stored JSON with the engine's indexer, in batches of
   * {@link REINDEX_BATCH} in seq order (`meta.reindex_after` is the cursor). Versions written since
   * carry entries of the current indexer already. Runs after the pending versions are applied, in the
   * caller's unit of work; returns false when it stopped at `deadline` with resources left.
   */
  private reindex(deadline: number): boolean {
    let after = this.store.meta('reindex_after') ?? 0;
    this.reindexChanged = true;
    for (;;) {
      const rows = this.selectReindex.all(after, this.reindexThrough, REINDEX_BATCH) as [number, string, string, string, ...(number | null)[]][];
      const replaced: [string, string, PendingEntry[]][] = [];
      for (const row of rows) {
        this.deleteEntries(row, 4);
        replaced.push([row[1], row[2], this.indexer!(row[3]).map((e) => pendingEntry(e, keep))]);
      }
      this.insertBulk(replaced);
      if (rows.length < REINDEX_BATCH) {
        this.store.setMeta('reindex_through', undefined);
        this.store.setMeta('reindex_after', undefined);
        this.reindexThrough = 0;
        return true;
      }
      after = rows[rows.length - 1]![0];
      this.store.setMeta('reindex_after', after);
      if (performance.now() >= deadline) return false;
    }
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
          this.store.stmt('INSERT OR IGNORE INTO param_kind (param, kind) VALUES (?, ?)').run(e[1], kind);
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
    const statement = this.store.db.prepare(
      `INSERT INTO ix_${kind} (res_type, res_id, param, ${cols.join(', ')}) VALUES ${Array(rows).fill(tuple).join(', ')}`,
    );
    this.insertIndex[kind][rows - 1] = statement;
    return statement;
  }
}

/** One index entry as stored in `pending_index`: `[kind ordinal, param, ...KIND_COLUMNS values]`. */
type PendingEntry = [kind: number, param: string, ...values: (string | number | null)[]];

/** JSON has no infinities (open date/number ranges use them): those are written as strings. */
const num = (n: number): number | string => (Number.isFinite(n) ? n : String(n));

/** Numbers as they are (for binding). */
const keep = (n: number): number => n;

/** One entry as a {@link PendingEntry}, numbers written by `n`. */
function pendingEntry(e: IndexEntry, n: (x: number) => number | string): PendingEntry {
  switch (e.kind) {
    case 'token':
      return [0, e.param, e.system, e.code];
    case 'text':
      return [1, e.param, e.folded];
    case 'string':
      return [2, e.param, e.folded, e.exact];
    case 'date':
      return [3, e.param, n(e.low), n(e.high)];
    case 'number':
      return [4, e.param, n(e.low), n(e.high)];
    case 'quantity':
      return [5, e.param, n(e.low), n(e.high), e.system, e.code];
    case 'reference':
      return [6, e.param, e.targetType, e.targetId, e.url];
    case 'uri':
      return [7, e.param, e.value];
  }
}

/**
 * The `pending_index.entries` text of `entries`: a JSON array of {@link PendingEntry} (compact: the
 * row is appended on every write, so its size is part of the commit cost).
 */
function encodeEntries(entries: readonly IndexEntry[]): string {
  const out: PendingEntry[] = [];
  for (const e of entries) out.push(pendingEntry(e, num));
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
