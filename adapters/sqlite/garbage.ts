/**
 * Garbage collection of index rows (see `garbage` in `schema.ts`): a tombstoned or hard-deleted
 * resource keeps its `ix_<kind>` rows, listed in `garbage`, until enough have accumulated to delete
 * them all with a few range DELETEs.
 *
 * @packageDocumentation
 */
import type { IndexEntryKind } from '../../src/adapter-kit.js';
import type { Store } from './read-store.js';
import { INDEX_KINDS, RANGE_COLUMNS } from './schema.js';

/**
 * Resources in `garbage` (see `schema.ts`) that trigger a collection. It bounds the dead index rows
 * a search may meet (~25 per resource) and lets a bulk delete remove index rows in passes of this
 * many resources: a pass dirties each page of a scattered value index (birth dates, postal codes…)
 * about once, whether it removes the rows of 500 resources or of 10,000.
 */
const GARBAGE_LIMIT = 10_000;

/**
 * Listed resources one pass of a collection removes the rows of: a collection runs in passes, and
 * stops between two at the caller's deadline (the rest is left to the next step), so that it never
 * holds the event loop for long.
 */
const GARBAGE_PASS = 1000;

/** The `garbage` list of the write connection and its collection. Runs inside the caller's unit of work. */
export class GarbageCollector {
  /** Rows in `garbage`. */
  private count = 0;
  /** `count` when the unit of work began, restored on rollback. */
  private unitStart = 0;
  /** A collection started (the list reached the limit) and has resources left to collect. */
  private collecting = false;
  private unitCollecting = false;

  /** @param deleteRows deletes the rows `lo…hi` (rowids) of `ix_<kind>`. */
  constructor(
    private readonly store: Store,
    private readonly deleteRows: (kind: IndexEntryKind, lo: number, hi: number) => void,
  ) {}

  /** (Re)reads the count, which other connections may change. */
  load(): void {
    this.count = this.store.stmt('SELECT count(*) FROM garbage').pluck().get() as number;
    this.collecting = false;
  }

  beginUnit(): void {
    this.unitStart = this.count;
    this.unitCollecting = this.collecting;
  }

  endUnit(committed: boolean): void {
    if (!committed) {
      this.count = this.unitStart;
      this.collecting = this.unitCollecting;
    }
  }

  /** Whether a collection has resources left to collect (see {@link GarbageCollector.collect}). */
  get pending(): boolean {
    return this.collecting;
  }

  /** Lists a resource whose `resource` row is deleted but still holds ranges. */
  add(type: string, id: string): void {
    this.store.stmt('INSERT INTO garbage (res_type, res_id) VALUES (?, ?)').run(type, id);
    this.count++;
  }

  /**
   * Once `garbage` lists {@link GARBAGE_LIMIT} resources, deletes their index rows and forgets
   * them, in passes of {@link GARBAGE_PASS} listed resources, oldest first, until the list is empty
   * or `deadline` (a `performance.now()` time) has passed; a later call goes on where it stopped.
   * In a pass the ranges are merged per kind where they touch (resources applied together have
   * adjacent ranges), so that a few range DELETEs remove them all. A listed resource that came back
   * meanwhile had its rows replaced when it was applied and is skipped.
   */
  collect(deadline = Number.POSITIVE_INFINITY): void {
    if (!this.collecting) {
      if (this.count < GARBAGE_LIMIT) return;
      this.collecting = true;
    }
    for (;;) {
      const upTo = this.store
        .stmt('SELECT max(seq) FROM (SELECT seq FROM garbage ORDER BY seq LIMIT ?)')
        .pluck()
        .get(GARBAGE_PASS) as number | null;
      if (upTo === null) break;
      this.collectPass(upTo);
      if (performance.now() >= deadline) return;
    }
    this.count = 0;
    this.collecting = false;
  }

  /** Collects the listed resources up to `garbage.seq` `upTo`. */
  private collectPass(upTo: number): void {
    const listed = 'SELECT res_type, res_id FROM garbage WHERE seq <= ?';
    const rows = this.store
      .stmt(`SELECT ${RANGE_COLUMNS.join(', ')} FROM resource WHERE deleted <> 0 AND (res_type, res_id) IN (${listed})`)
      .raw()
      .all(upTo) as (number | null)[][];
    this.store.stmt(`DELETE FROM resource WHERE deleted = 2 AND (res_type, res_id) IN (${listed})`).run(upTo);
    this.store
      .stmt(
        `UPDATE resource SET ${RANGE_COLUMNS.map((c) => `${c} = NULL`).join(', ')} ` +
          `WHERE deleted = 1 AND (res_type, res_id) IN (${listed})`,
      )
      .run(upTo);
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
        this.deleteRows(kind, lo, hi);
      }
    });
    const removed = this.store.stmt('DELETE FROM garbage WHERE seq <= ?').run(upTo).changes;
    this.count = Math.max(0, this.count - removed);
  }
}
