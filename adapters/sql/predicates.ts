/**
 * One {@link Predicate} as SQL over an index row: the translation of `matchPredicate`
 * (`src/search/match.ts`), written so that the `(param, value…)` index can answer it (prefixes as
 * ranges, `above` as a list of candidate values). Strings compare in code point order: the
 * databases must store index text in a binary collation (PostgreSQL `COLLATE "C"`, SQLite `BINARY`).
 *
 * @packageDocumentation
 */
import {
  fold,
  rangeSql as coreRangeSql,
  type IndexEntryKind,
  type Predicate,
  type RangeOp,
} from '../../src/adapter-kit.js';
import type { BoundParams, SqlDialect } from './dialect.js';

/** The value columns of each index table. */
export const KIND_COLUMNS: Readonly<Record<IndexEntryKind, readonly string[]>> = {
  token: ['system', 'code'],
  text: ['folded'],
  string: ['folded', 'exact'],
  date: ['low', 'high'],
  number: ['low', 'high'],
  quantity: ['low', 'high', 'system', 'code'],
  reference: ['target_type', 'target_id', 'url'],
  uri: ['value'],
};

/** Every index-entry kind. */
export const INDEX_KINDS = Object.keys(KIND_COLUMNS) as readonly IndexEntryKind[];

/** Kinds whose sort value is a number (`low`/`high`); the others sort by text. */
export const NUMERIC_KINDS: ReadonlySet<IndexEntryKind> = new Set(['date', 'number', 'quantity']);

/**
 * The least string that is greater than every string starting with `prefix` in code point order,
 * or undefined when none exists (the prefix is all U+10FFFF).
 */
export function prefixSuccessor(prefix: string): string | undefined {
  const points = [...prefix].map((c) => c.codePointAt(0) as number);
  while (points.length > 0) {
    let last = (points.pop() as number) + 1;
    if (last === 0xd800) last = 0xe000; // surrogates are not characters
    if (last <= 0x10ffff) return String.fromCodePoint(...points, last);
  }
  return undefined;
}

/** `column` starts with `prefix`, as a range the column's index can scan. */
export function startsWithSql(dialect: SqlDialect, column: string, prefix: string, params: BoundParams): string {
  if (prefix === '') return dialect.true;
  const upper = prefixSuccessor(prefix);
  const from = `${column} >= ${params.text(prefix)}`;
  return upper === undefined ? from : `(${from} AND ${column} < ${params.text(upper)})`;
}

/**
 * The stored values an `above` search for `value` matches: `value` itself and each prefix of it
 * that ends with `/` or is followed by `/` (a path ancestor), as `uriBelow(value, prefix)` decides.
 */
export function uriAncestors(value: string): string[] {
  const found = new Set<string>([value]);
  for (let end = 0; end < value.length; end++) {
    const code = value.charCodeAt(end - 1);
    if (end > 0 && code >= 0xd800 && code <= 0xdbff) continue; // never split a surrogate pair
    const prefix = value.slice(0, end);
    if (prefix.endsWith('/') || value.charAt(end) === '/') found.add(prefix);
  }
  return [...found];
}

/**
 * `op` on the index row alias `x` (columns `low`, `high`) against the value range `[low, high]`: the
 * core's range table rendered, each distinct value bound once (PostgreSQL cannot type a parameter
 * the text never mentions, so only the ends the prefix uses are bound).
 */
function rangeSql(x: string, op: RangeOp, low: number, high: number, params: BoundParams): string {
  const bound = new Map<number, string>();
  return coreRangeSql(op, { low: `${x}.low`, high: `${x}.high` }, low, high, (value) => {
    let placeholder = bound.get(value);
    if (placeholder === undefined) bound.set(value, (placeholder = params.float(value)));
    return placeholder;
  });
}

/** SQL for one predicate over the index row alias `x` (a row of the predicate kind's table). */
export function predicateSql(dialect: SqlDialect, p: Predicate, x: string, params: BoundParams): string {
  switch (p.kind) {
    case 'token': {
      const parts: string[] = [];
      if (p.code !== undefined) parts.push(`${x}.code = ${params.text(p.code)}`);
      if (p.system === null) parts.push(`${x}.system IS NULL`);
      else if (p.system !== undefined) parts.push(`${x}.system = ${params.text(p.system)}`);
      return parts.length === 0 ? dialect.true : parts.join(' AND ');
    }
    case 'text':
      return startsWithSql(dialect, `${x}.folded`, p.folded, params);
    case 'string':
      switch (p.match) {
        case 'prefix':
          return startsWithSql(dialect, `${x}.folded`, p.folded, params);
        case 'contains':
          return dialect.contains(`${x}.folded`, params.text(p.folded));
        case 'exact':
          // An entry's `folded` is `fold(exact)`: comparing it too lets the (param, folded) index narrow.
          return `(${x}.folded = ${params.text(fold(p.exact))} AND ${x}.exact = ${params.text(p.exact)})`;
      }
      break;
    case 'date':
    case 'number':
      return rangeSql(x, p.op, p.low, p.high, params);
    case 'quantity': {
      // Here `null` means "not given", as in matchPredicate.
      const parts: string[] = [];
      if (p.code !== undefined && p.code !== null) parts.push(`${x}.code = ${params.text(p.code)}`);
      if (p.system !== undefined && p.system !== null) parts.push(`${x}.system = ${params.text(p.system)}`);
      parts.push(rangeSql(x, p.op, p.low, p.high, params));
      return parts.join(' AND ');
    }
    case 'reference':
      if (p.targetId !== undefined) {
        const id = `${x}.target_id = ${params.text(p.targetId)}`;
        return p.targetType === undefined ? id : `(${id} AND ${x}.target_type = ${params.text(p.targetType)})`;
      }
      if (p.url !== undefined) return `${x}.url = ${params.text(p.url)}`;
      if (p.targetType !== undefined) return `${x}.target_type = ${params.text(p.targetType)}`;
      return dialect.false;
    case 'uri':
      switch (p.match) {
        case 'exact':
          return `${x}.value = ${params.text(p.value)}`;
        case 'below': {
          const prefix = startsWithSql(dialect, `${x}.value`, p.value, params);
          if (p.value.endsWith('/')) return prefix;
          // The character after the prefix is a path separator (or there is none).
          const next = params.int([...p.value].length + 1);
          return `(${prefix} AND (${x}.value = ${params.text(p.value)} OR substr(${x}.value, CAST(${next} AS integer), 1) = '/'))`;
        }
        case 'above':
          return dialect.inList(`${x}.value`, uriAncestors(p.value), params);
      }
  }
  return dialect.false;
}
