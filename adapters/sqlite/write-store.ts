/**
 * The write connection's operations: everything {@link Store} reads, plus version and job writes,
 * purge, and units of work over the deferred index (`deferred-index.ts`) and its garbage collection
 * (`garbage.ts`). Callers run writes inside `BEGIN IMMEDIATE`.
 *
 * @packageDocumentation
 */
import {
  StorageConflictError,
  type HistoryPage,
  type HistoryResult,
  type HistoryScope,
  type JobRecord,
  type ResourceIndexer,
  type ResourceKey,
  type SearchHits,
  type StorageQuery,
  type VersionWrite,
} from '../../src/adapter-kit.js';
import { DeferredIndex } from './deferred-index.js';
import { GarbageCollector } from './garbage.js';
import { Store, type Db, type Statement } from './read-store.js';
import { hasRanges } from './schema.js';

/** Reads plus writes, on the write connection. */
export class WriteStore extends Store {
  private readonly index: DeferredIndex;
  private readonly garbage: GarbageCollector;
  private readonly selectHead: Statement;
  private readonly insertVersion: Statement;
  private readonly insertVersionAbove: Statement;
  private readonly dataVersion: Statement;
  private lastDataVersion: number;
  /** `meta.seq_floor`: the highest seq ever assigned while the versions holding it are gone, else 0. */
  private seqFloor = 0;
  /** `seqFloor` when the unit of work began, restored on rollback. */
  private unitSeqFloor = 0;

  constructor(db: Db) {
    super(db);
    this.garbage = new GarbageCollector(this, (kind, lo, hi) => this.index.deleteRows(kind, lo, hi));
    this.index = new DeferredIndex(this, this.garbage);
    this.selectHead = db
      .prepare('SELECT version_id FROM resource_version WHERE res_type = ? AND res_id = ? ORDER BY seq DESC LIMIT 1')
      .pluck();
    const versionColumns = 'res_type, res_id, version_id, last_updated, last_updated_ms, method, deleted, json';
    this.insertVersion = db.prepare(`INSERT INTO resource_version (${versionColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.insertVersionAbove = db.prepare(
      `INSERT INTO resource_version (seq, ${versionColumns}) ` +
        'VALUES ((SELECT max(coalesce(max(seq), 0), ?) + 1 FROM resource_version), ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.dataVersion = db.prepare('PRAGMA data_version').pluck();
    this.lastDataVersion = this.dataVersion.get() as number;
    this.loadShared();
  }

  /** (Re)reads the state that other connections may change. */
  private loadShared(): void {
    this.index.load();
    this.seqFloor = this.meta('seq_floor') ?? 0;
    this.garbage.load();
  }

  /** Whether another connection (process) committed since the last look. */
  private othersCommitted(): boolean {
    const version = this.dataVersion.get() as number;
    if (version === this.lastDataVersion) return false;
    this.lastDataVersion = version;
    return true;
  }

  /**
   * Outside units of work: whether committed state may hold pending versions, so that a search
   * (or type-level history read) must first apply them, in a unit of work of its own.
   */
  hasCommittedPending(): boolean {
    if (this.othersCommitted()) this.loadShared();
    return this.index.hasCommittedPending();
  }

  /** The engine's indexer, for re-indexing after an upgrade (see `DeferredIndex.reindex`). */
  useIndexer(indexer: ResourceIndexer): void {
    this.index.useIndexer(indexer);
  }

  /** Called right after `BEGIN IMMEDIATE` of a unit of work. */
  beginUnit(): void {
    if (this.othersCommitted()) this.loadShared();
    this.index.beginUnit();
    this.unitSeqFloor = this.seqFloor;
    this.garbage.beginUnit();
  }

  /** Called after COMMIT / ROLLBACK of a unit of work. */
  endUnit(committed: boolean): void {
    this.index.endUnit(committed);
    if (!committed) this.seqFloor = this.unitSeqFloor;
    this.garbage.endUnit(committed);
  }

  /** Inside a unit of work: applies the pending versions, then searches. */
  searchInUnit(query: StorageQuery): SearchHits {
    this.index.apply();
    return super.search(query);
  }

  /** Inside a unit of work: history; a type-level read applies the pending versions first. */
  readHistoryInUnit(scope: HistoryScope, page: HistoryPage): HistoryResult {
    if (scope.level === 'type') this.index.apply();
    return super.readHistory(scope, page);
  }

  /**
   * Inside a unit of work: applies pending versions (see {@link DeferredIndex.apply}); with a
   * `deadline` (`performance.now()` time), false when some remain after it.
   */
  applyPending(deadline?: number): boolean {
    return this.index.apply(deadline);
  }

  /** Outside units of work: whether index maintenance is left to do (see `scheduleBackgroundApply`). */
  maintenanceDue(): boolean {
    return this.index.maintenanceDue();
  }

  /** Outside units of work: pending versions in committed state, as last loaded. */
  get backlog(): number {
    return this.index.backlog;
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
    this.index.record(seq, write.deleted, write.index);
    return seq;
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
    const cur = this.index.resourceRow(key.type, key.id);
    if (cur !== undefined) {
      if (hasRanges(cur, 1)) {
        if (cur[0] === 0) this.garbage.add(key.type, key.id);
        this.stmt('UPDATE resource SET deleted = 2 WHERE res_type = ? AND res_id = ?').run(key.type, key.id);
        this.garbage.collect();
      } else {
        this.stmt('DELETE FROM resource WHERE res_type = ? AND res_id = ?').run(key.type, key.id);
      }
    }
    return removed.length;
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
