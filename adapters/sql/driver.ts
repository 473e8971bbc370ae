/**
 * The driving clause of a search, for layouts with a `semiJoin` (databases whose planner does not
 * choose the join order by itself: SQLite). The most selective indexable `any` clause becomes an
 * uncorrelated semi-join that the `(param, value…)` index answers; every other clause stays a
 * per-resource probe. How selective each candidate is, is counted (up to a cap) by the adapter.
 *
 * @packageDocumentation
 */
import type { Clause, IndexEntryKind, Predicate, StorageQuery } from '../../src/adapter-kit.js';
import { BoundParams, type SqlTarget } from './dialect.js';
import { predicateSql } from './predicates.js';

/**
 * Counts the rows of a `SELECT count(*)` the compiler wrote (bound with `params`, capped by the SQL
 * itself), synchronously: how many index rows a candidate driving clause selects.
 */
export type EstimateRows = (sql: string, params: readonly unknown[]) => number;

/** A driving clause matching at least this many index rows is not used for key-ordered pages. */
export const DRIVER_CAP = 1000;

/** How well a predicate narrows candidates through the value index (0: not at all). */
function predicateScore(p: Predicate): number {
  switch (p.kind) {
    case 'token':
      return p.code !== undefined ? 3 : 0;
    case 'text':
      return p.folded.length >= 2 ? 2 : p.folded.length === 1 ? 1 : 0;
    case 'string':
      if (p.match === 'exact') return 3;
      if (p.match === 'prefix') return p.folded.length >= 2 ? 2 : p.folded.length === 1 ? 1 : 0;
      return 0;
    case 'reference':
      return p.targetId !== undefined ? 3 : 0;
    case 'uri':
      return p.match === 'exact' ? 3 : 0;
    case 'date':
    case 'number':
      return p.op === 'eq' && Number.isFinite(p.low) && Number.isFinite(p.high) ? 2 : 0;
    case 'quantity':
      return p.code !== undefined && p.code !== null ? 2 : 0;
  }
}

/** A clause's score: that of its weakest predicate, when all are of one kind; else 0. */
function clauseScore(c: Clause): number {
  if (c.kind !== 'any' || c.of.length === 0) return 0;
  const kind = (c.of[0] as Predicate).kind;
  if (c.of.some((p) => p.kind !== kind)) return 0;
  return Math.min(...c.of.map(predicateScore));
}

/** The index rows of `kind` a driving clause selects, as a condition over alias `x`. */
export function scanWhere(target: SqlTarget, param: string, of: readonly Predicate[], params: BoundParams): string {
  return `x.param = ${params.text(param)} AND (${of.map((p) => predicateSql(target.dialect, p, 'x', params)).join(' OR ')})`;
}

/** The kind of a driving clause (one kind, see {@link clauseScore}). */
export const driverKind = (c: Clause): IndexEntryKind => ((c as Extract<Clause, { kind: 'any' }>).of[0] as Predicate).kind;

/** The chosen driving clause: its index in `query.where`, and how many rows it selects (capped). */
export interface Driver {
  readonly index: number;
  readonly rows: number;
}

/**
 * The clause that drives `query`: the indexable `any` clause of the best kind that selects the
 * fewest index rows (counted by `estimate` when there is a choice to make, or when the page is in
 * key order and might be better served without a driver). None for a layout without `semiJoin`, or
 * when an `ids` clause already pins the rows.
 */
export function chooseDriver(target: SqlTarget, query: StorageQuery, keyOrdered: boolean, estimate: EstimateRows | undefined): Driver | undefined {
  if (target.layout.semiJoin === undefined || query.where.some((c) => c.kind === 'ids')) return undefined;
  const candidates = query.where
    .map((clause, index) => ({ clause, index, score: clauseScore(clause) }))
    .filter((c) => c.score >= 2)
    .sort((a, b) => b.score - a.score);
  let best: Driver | undefined;
  for (const { clause, index } of candidates) {
    let rows = 0;
    if (estimate !== undefined && (candidates.length > 1 || keyOrdered)) {
      const params = new BoundParams(target.dialect);
      const where = scanWhere(target, (clause as Extract<Clause, { kind: 'any' }>).param, (clause as Extract<Clause, { kind: 'any' }>).of, params);
      rows = estimate(`SELECT count(*) FROM (SELECT 1 FROM ${target.layout.indexTable(driverKind(clause))} x WHERE ${where} LIMIT ${DRIVER_CAP})`, params.values);
    }
    if (best === undefined || rows < best.rows) best = { index, rows };
    if (rows <= 1) break;
  }
  return best;
}
