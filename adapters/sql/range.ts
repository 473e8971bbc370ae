/**
 * Range prefixes (`eq`, `gt`, `sa`…) as data: each is an OR of ANDs of bound comparisons between
 * the entry range `[low, high]` and the value range `[low, high]`, optionally negated. The SQL is
 * rendered from the table, so every dialect gets the same semantics, and a unit test checks the
 * table against `compareRange` of the core (the oracle). Should the core publish such a table, this
 * module renders that one instead.
 *
 * @packageDocumentation
 */
import type { RangeOp } from '../../src/adapter-kit.js';
import type { BoundParams } from './dialect.js';

/** Which end of a range. */
export type RangeBound = 'low' | 'high';
/** A comparison operator, entry bound on the left. */
export type RangeComparison = '<' | '<=' | '>' | '>=';
/** `entry.<bound> <cmp> value.<bound>`. */
export type RangeTest = readonly [entry: RangeBound, cmp: RangeComparison, value: RangeBound];

/** One prefix: NOT? (any of (all of tests)). */
export interface RangeCondition {
  readonly negated: boolean;
  readonly anyOf: readonly (readonly RangeTest[])[];
}

const contained: readonly RangeTest[] = [
  ['low', '>=', 'low'],
  ['high', '<=', 'high'],
];

/** FHIR search.html §3.1.1.4, as `compareRange` in `src/search/match.ts` implements it. */
export const RANGE_CONDITIONS: Readonly<Record<RangeOp, RangeCondition>> = {
  eq: { negated: false, anyOf: [contained] },
  ne: { negated: true, anyOf: [contained] },
  gt: { negated: false, anyOf: [[['high', '>', 'high']]] },
  lt: { negated: false, anyOf: [[['low', '<', 'low']]] },
  ge: { negated: false, anyOf: [[['high', '>', 'high']], contained] },
  le: { negated: false, anyOf: [[['low', '<', 'low']], contained] },
  sa: { negated: false, anyOf: [[['low', '>', 'high']]] },
  eb: { negated: false, anyOf: [[['high', '<', 'low']]] },
  // The parser already widened the value range for `ap`: overlap.
  ap: {
    negated: false,
    anyOf: [
      [
        ['low', '<=', 'high'],
        ['high', '>=', 'low'],
      ],
    ],
  },
};

/** Evaluates a condition in JavaScript (for tests against the core's oracle). */
export function evaluateRange(condition: RangeCondition, entry: Record<RangeBound, number>, value: Record<RangeBound, number>): boolean {
  const test = ([e, cmp, v]: RangeTest): boolean => {
    const a = entry[e];
    const b = value[v];
    return cmp === '<' ? a < b : cmp === '<=' ? a <= b : cmp === '>' ? a > b : a >= b;
  };
  const matched = condition.anyOf.some((all) => all.every(test));
  return condition.negated ? !matched : matched;
}

/** SQL for `op` on the index row alias `x` (columns `low`, `high`) against a bound value range. */
export function rangeSql(x: string, op: RangeOp, low: number, high: number, params: BoundParams): string {
  const condition = RANGE_CONDITIONS[op];
  // Bind each end once, and only if used: PostgreSQL cannot type a parameter the text never mentions.
  const bound: Partial<Record<RangeBound, string>> = {};
  const value = (v: RangeBound): string => (bound[v] ??= params.float(v === 'low' ? low : high));
  const disjuncts = condition.anyOf.map((all) => all.map(([e, cmp, v]) => `${x}.${e} ${cmp} ${value(v)}`).join(' AND '));
  const sql = disjuncts.length === 1 ? (disjuncts[0] as string) : disjuncts.map((d) => `(${d})`).join(' OR ');
  return condition.negated ? `NOT (${sql})` : `(${sql})`;
}
