/**
 * Sort values and keyset positions shared by adapters (see `SortKey` in `src/storage/query.ts`); the
 * text form of a position is in `position.ts`.
 * @packageDocumentation
 */
import type { IndexEntry } from '../storage/index-entry.js';
import type { SortKey } from '../storage/query.js';

/** A sort value: a string, a number, or undefined when the resource has no value (sorts last). */
export type SortValue = string | number | undefined;

function entryValue(e: IndexEntry, descending: boolean): SortValue {
  switch (e.kind) {
    case 'string':
    case 'text':
      return e.folded;
    case 'token':
      return e.code;
    case 'date':
    case 'number':
    case 'quantity':
      return descending ? e.high : e.low;
    case 'reference':
      return e.targetType !== null && e.targetId !== null ? `${e.targetType}/${e.targetId}` : (e.url ?? undefined);
    case 'uri':
      return e.value;
  }
}

/**
 * Compares strings by Unicode code point, which is the order of their UTF-8 bytes: the order of the
 * SQL adapters (SQLite's BINARY collation, PostgreSQL's "C"). JavaScript's `<` compares UTF-16 code
 * units instead, which puts characters above U+FFFF (surrogate pairs, e.g. emoji) before U+E000–U+FFFF
 * (e.g. fullwidth forms); the differential test found the memory adapter sorting them so.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+D800–U+DFFF) move above U+E000–U+FFFF; the order within each range is kept.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Compares two defined sort values (numbers before strings when mixed). */
function cmpDefined(a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return compareCodePoints(a, b);
}

/**
 * The value a resource sorts by for `key`: the smallest value of the parameter for an ascending sort,
 * the largest for a descending one (`folded` for strings, `code` for tokens, `low`/`high` for ranges,
 * `Type/id` for references). `text` entries are ignored unless the parameter has nothing else.
 */
export function sortValue(entries: readonly IndexEntry[], key: SortKey): SortValue {
  let best: SortValue;
  let bestText: SortValue;
  for (const e of entries) {
    if (e.param !== key.param) continue;
    const v = entryValue(e, key.descending);
    if (v === undefined) continue;
    if (e.kind === 'text') {
      if (bestText === undefined || (key.descending ? cmpDefined(v, bestText) > 0 : cmpDefined(v, bestText) < 0)) bestText = v;
      continue;
    }
    if (best === undefined || (key.descending ? cmpDefined(v, best) > 0 : cmpDefined(v, best) < 0)) best = v;
  }
  return best ?? bestText;
}

/** Compares two sort values for one key: missing values last in both directions. */
export function compareSortValues(a: SortValue, b: SortValue, descending: boolean): number {
  if (a === undefined) return b === undefined ? 0 : 1;
  if (b === undefined) return -1;
  const c = cmpDefined(a, b);
  return descending ? -c : c;
}

/** A hit's full position: its sort values (one per sort key), then its type and id (the unique tiebreaker). */
export interface SortPosition {
  readonly values: readonly SortValue[];
  readonly type: string;
  readonly id: string;
}

/** Compares two positions under `keys` (type then id ascending as tiebreaker). */
export function comparePositions(a: SortPosition, b: SortPosition, keys: readonly SortKey[]): number {
  for (let i = 0; i < keys.length; i++) {
    const c = compareSortValues(a.values[i], b.values[i], (keys[i] as SortKey).descending);
    if (c !== 0) return c;
  }
  if (a.type !== b.type) return a.type < b.type ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
