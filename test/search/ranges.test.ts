import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { RANGE_PREFIXES, compareRange, rangeSql, rangeWindow } from '../../src/search/ranges.js';
import type { RangeOp } from '../../src/storage/query.js';

const OPS = Object.keys(RANGE_PREFIXES) as RangeOp[];

/** search.html §3.1.1.4, written out independently of the table. */
function spec(op: RangeOp, el: number, eh: number, vl: number, vh: number): boolean {
  const within = el >= vl && eh <= vh;
  switch (op) {
    case 'eq':
      return within;
    case 'ne':
      return !within;
    case 'gt':
      return eh > vh;
    case 'lt':
      return el < vl;
    case 'ge':
      return eh > vh || within;
    case 'le':
      return el < vl || within;
    case 'sa':
      return el > vh;
    case 'eb':
      return eh < vl;
    case 'ap':
      return el <= vh && eh >= vl;
  }
}

const POINTS = [-Infinity, 0, 1, 2, 3, 4, 5, Infinity];
/** Every range [l, h] with l <= h over POINTS. */
const RANGES: [number, number][] = POINTS.flatMap((l, i) => POINTS.slice(i).map((h) => [l, h] as [number, number]));

describe('the range-prefix table', () => {
  it('has all nine R4 prefixes', () => {
    expect(OPS.sort()).toEqual(['ap', 'eb', 'eq', 'ge', 'gt', 'le', 'lt', 'ne', 'sa']);
  });

  it('compareRange agrees with search.html on every pair of ranges', () => {
    const disagreements: string[] = [];
    for (const op of OPS) {
      for (const [el, eh] of RANGES) {
        for (const [vl, vh] of RANGES) {
          if (compareRange(op, el, eh, vl, vh) !== spec(op, el, eh, vl, vh)) disagreements.push(`${op} [${el},${eh}] vs [${vl},${vh}]`);
        }
      }
    }
    expect(disagreements).toEqual([]);
  });

  it('compares dates by their precision ranges', () => {
    // birthdate 2020-03 (the whole month) against 2020-03-10 (one day)
    const month: [number, number] = [Date.UTC(2020, 2, 1), Date.UTC(2020, 3, 1) - 1];
    const day: [number, number] = [Date.UTC(2020, 2, 10), Date.UTC(2020, 2, 11) - 1];
    expect(compareRange('eq', ...month, ...day)).toBe(false);
    expect(compareRange('eq', ...day, ...month)).toBe(true);
    expect(compareRange('gt', ...month, ...day)).toBe(true);
    expect(compareRange('lt', ...month, ...day)).toBe(true);
    expect(compareRange('sa', ...month, ...day)).toBe(false);
    expect(compareRange('ap', ...month, ...day)).toBe(true);
  });

  it('rangeSql renders the conditions with placeholders in binding order', () => {
    const params: number[] = [];
    const bind = (v: number) => {
      params.push(v);
      return '?';
    };
    const cols = { low: 'x.low', high: 'x.high' };
    expect(rangeSql('ge', cols, 1, 2, bind)).toBe('(x.high > ? OR (x.low >= ? AND x.high <= ?))');
    expect(params).toEqual([2, 1, 2]);
    expect(rangeSql('ne', cols, 1, 2, bind)).toBe('NOT (x.low >= ? AND x.high <= ?)');
    expect(rangeSql('sa', cols, 1, 2, bind)).toBe('x.low > ?');
    let n = 0;
    expect(rangeSql('ap', cols, 1, 2, () => `$${++n}`)).toBe('(x.low <= $1 AND x.high >= $2)');
  });

  it('rangeSql evaluated by SQLite agrees with compareRange', () => {
    const db = new Database(':memory:');
    try {
      const disagreements: string[] = [];
      for (const op of OPS) {
        for (const [vl, vh] of RANGES) {
          const params: number[] = [];
          const where = rangeSql(op, { low: 'e.low', high: 'e.high' }, vl, vh, (v) => {
            params.push(v);
            return '?';
          });
          const statement = db.prepare(`SELECT ${where} AS m FROM (SELECT ? AS low, ? AS high) e`).pluck();
          for (const [el, eh] of RANGES) {
            const sql = statement.get(...params, el, eh) === 1;
            if (sql !== compareRange(op, el, eh, vl, vh)) disagreements.push(`${op} [${el},${eh}] vs [${vl},${vh}]`);
          }
        }
      }
      expect(disagreements).toEqual([]);
    } finally {
      db.close();
    }
  });

  it('rangeWindow keeps every matching entry and narrows the bounded prefixes', () => {
    const finite = RANGES.filter(([l, h]) => Number.isFinite(l) && Number.isFinite(h));
    const maxSpan = Math.max(...finite.map(([l, h]) => h - l));
    const missed: string[] = [];
    for (const op of OPS) {
      for (const [vl, vh] of RANGES) {
        const [from, to] = rangeWindow(op, vl, vh, maxSpan);
        for (const [el, eh] of finite) {
          if (compareRange(op, el, eh, vl, vh) && !(el >= from && el <= to)) missed.push(`${op} [${el},${eh}] vs [${vl},${vh}]`);
        }
      }
    }
    expect(missed).toEqual([]);
    expect(rangeWindow('eq', 2, 3, 10)).toEqual([2, 3]);
    expect(rangeWindow('gt', 2, 3, 10)).toEqual([-7, Infinity]);
    expect(rangeWindow('ge', 2, 3, 0)).toEqual([2, Infinity]);
    expect(rangeWindow('le', 2, 3, 10)).toEqual([-Infinity, 3]);
    expect(rangeWindow('ne', 2, 3, 10)).toEqual([-Infinity, Infinity]);
    expect(rangeWindow('gt', Infinity, Infinity, Infinity)).toEqual([-Infinity, Infinity]);
  });
});
