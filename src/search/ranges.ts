/**
 * The range prefixes of FHIR search (search.html §3.1.1.4) as one table, {@link RANGE_PREFIXES}, and
 * the three things derived from it: the reference comparison ({@link compareRange}, used by
 * `matchPredicate`), SQL conditions ({@link rangeSql}) and the window of a sorted scan
 * ({@link rangeWindow}). An adapter that derives its own form from the table agrees with the core by
 * construction.
 *
 * Dates, numbers and quantities are all indexed as ranges `[low, high]` with `low <= high`: a date
 * `2020-03` is the month's first to last millisecond, a number `1.5` the interval of its precision.
 * A search value is a range too, compared with the entry's range by the prefix.
 * @packageDocumentation
 */
import type { RangeOp } from '../storage/query.js';

/** One end of a range. */
export type RangeBound = 'low' | 'high';

/** `entry[entry] <cmp> value[value]`: one comparison of an entry bound with a value bound. */
export interface RangeComparison {
  readonly entry: RangeBound;
  readonly cmp: '<' | '<=' | '>' | '>=';
  readonly value: RangeBound;
}

/** A prefix's condition: an OR of ANDs of comparisons, negated as a whole when `negated`. */
export interface RangeCondition {
  readonly anyOf: readonly (readonly RangeComparison[])[];
  readonly negated: boolean;
}

const is = (entry: RangeBound, cmp: RangeComparison['cmp'], value: RangeBound): RangeComparison => ({ entry, cmp, value });

/** The entry range lies within the value range. */
const WITHIN = [is('low', '>=', 'low'), is('high', '<=', 'high')];

/**
 * What each prefix means for an entry range `[el, eh]` and a value range `[vl, vh]`:
 * - `eq`: the value range contains the entry range (`el >= vl and eh <= vh`); `ne`: not `eq`;
 * - `gt`: the entry reaches above the value (`eh > vh`); `lt`: below it (`el < vl`);
 * - `ge`: `gt` or `eq`; `le`: `lt` or `eq`;
 * - `sa`: the entry starts after the value (`el > vh`); `eb`: it ends before (`eh < vl`);
 * - `ap`: the ranges overlap (`el <= vh and eh >= vl`). The parser has already widened the value
 *   range by about 10% (of the distance to now for dates, of the value for numbers): search.html
 *   leaves "approximately" to the server.
 */
export const RANGE_PREFIXES: Readonly<Record<RangeOp, RangeCondition>> = {
  eq: { anyOf: [WITHIN], negated: false },
  ne: { anyOf: [WITHIN], negated: true },
  gt: { anyOf: [[is('high', '>', 'high')]], negated: false },
  lt: { anyOf: [[is('low', '<', 'low')]], negated: false },
  ge: { anyOf: [[is('high', '>', 'high')], WITHIN], negated: false },
  le: { anyOf: [[is('low', '<', 'low')], WITHIN], negated: false },
  sa: { anyOf: [[is('low', '>', 'high')]], negated: false },
  eb: { anyOf: [[is('high', '<', 'low')]], negated: false },
  ap: { anyOf: [[is('low', '<=', 'high'), is('high', '>=', 'low')]], negated: false },
};

function holds(c: RangeComparison, el: number, eh: number, vl: number, vh: number): boolean {
  const a = c.entry === 'low' ? el : eh;
  const b = c.value === 'low' ? vl : vh;
  switch (c.cmp) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}

/** Whether the entry range `[el, eh]` matches the value range `[vl, vh]` under prefix `op` ({@link RANGE_PREFIXES}). */
export function compareRange(op: RangeOp, el: number, eh: number, vl: number, vh: number): boolean {
  const { anyOf, negated } = RANGE_PREFIXES[op];
  for (const all of anyOf) {
    let ok = true;
    for (const c of all) {
      if (!holds(c, el, eh, vl, vh)) {
        ok = false;
        break;
      }
    }
    if (ok) return !negated;
  }
  return negated;
}

/**
 * A SQL condition for prefix `op`, over the entry's `low`/`high` column expressions, against the
 * value range `[low, high]`. `bind` receives each value in the order of its placeholder in the text
 * and returns the placeholder (`?` for SQLite, `$n` for PostgreSQL). For example `ge` gives
 * `(x.high > ? OR (x.low >= ? AND x.high <= ?))`.
 */
export function rangeSql(
  op: RangeOp,
  columns: { readonly low: string; readonly high: string },
  low: number,
  high: number,
  bind: (value: number) => string,
): string {
  const { anyOf, negated } = RANGE_PREFIXES[op];
  const value = { low, high };
  const group = (parts: string[], join: string): string => (parts.length === 1 ? (parts[0] as string) : `(${parts.join(join)})`);
  const sql = group(
    anyOf.map((all) => group(all.map((c) => `${columns[c.entry]} ${c.cmp} ${bind(value[c.value])}`), ' AND ')),
    ' OR ',
  );
  return negated ? `NOT ${sql}` : sql;
}

/**
 * The entries that can match prefix `op` against `[low, high]`, as an interval `[from, to]` of their
 * `low`, for a scan of entries sorted by `low`; `maxSpan` is the largest `high - low` among them (so
 * `high` lies within `[low, low + maxSpan]`). The window is a superset: entries inside it still need
 * {@link compareRange}. Unbounded ends are ±Infinity.
 */
export function rangeWindow(op: RangeOp, low: number, high: number, maxSpan: number): [from: number, to: number] {
  const { anyOf, negated } = RANGE_PREFIXES[op];
  if (negated) return [-Infinity, Infinity];
  const value = { low, high };
  let from = Infinity;
  let to = -Infinity;
  for (const all of anyOf) {
    let allFrom = -Infinity;
    let allTo = Infinity;
    for (const c of all) {
      const v = value[c.value];
      const above = c.cmp === '>' || c.cmp === '>=';
      // A bound on `high` bounds `low` too: low <= high <= low + maxSpan.
      if (above) allFrom = Math.max(allFrom, c.entry === 'low' ? v : v - maxSpan);
      else allTo = Math.min(allTo, v);
    }
    from = Math.min(from, allFrom);
    to = Math.max(to, allTo);
  }
  // NaN (an infinite span against an infinite value) leaves that end open.
  return [Number.isNaN(from) ? -Infinity : from, Number.isNaN(to) ? Infinity : to];
}
