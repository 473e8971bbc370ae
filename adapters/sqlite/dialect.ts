/**
 * The SQLite {@link SqlDialect} and the {@link SearchLayout} of `schema.ts`, for the shared search
 * compiler in `adapters/sql/`.
 *
 * SQLite's planner does not turn a selective `EXISTS` into a scan of the value index, so the layout
 * offers a `semiJoin` and the compiler drives each query by its most selective clause (counted by
 * the adapter, see `Store.search`). Every other clause probes the resource's own index rows, found by
 * a rowid range scan (`NOT INDEXED`: the `(param, value…)` index would only slow that scan down).
 *
 * @packageDocumentation
 */
import type { IndexEntryKind } from '../../src/adapter-kit.js';
import type { SearchLayout, SqlDialect, SqlTarget } from '../sql/dialect.js';

/**
 * SQLite's `min()`/`max()` of several arguments are NULL as soon as one argument is: each argument
 * stands in for itself, or, when NULL, for the first other one that is not.
 */
function ignoringNulls(fn: 'min' | 'max', args: readonly string[]): string {
  const rotations = args.map((arg, n) => `coalesce(${[arg, ...args.filter((_, m) => m !== n)].join(', ')})`);
  return `${fn}(${rotations.join(', ')})`;
}

/** SQLite syntax. Placeholders are numbered (`?3`); better-sqlite3 binds them from `{ 3: value }` (see {@link numbered}). */
export const sqliteDialect: SqlDialect = {
  placeholder: (index) => `?${index}`,
  true: '1',
  false: '0',
  contains: (haystack, needle) => `instr(${haystack}, ${needle}) > 0`,
  // One bound JSON array, so that the SQL text (and its cached statement) does not vary with the list's length.
  inList: (column, values, params) => `${column} IN (SELECT value FROM json_each(${params.text(JSON.stringify(values))}))`,
  least: (args) => ignoringNulls('min', args),
  greatest: (args) => ignoringNulls('max', args),
  // A subquery with an OFFSET is never flattened into the query around it.
  fence: (select) => `${select} LIMIT -1 OFFSET 0`,
};

/** The search layout over `schema.ts`; `kindsOf` reads `param_kind`. */
export function sqliteLayout(kindsOf: (param: string) => readonly IndexEntryKind[]): SearchLayout {
  return {
    resources: 'resource r',
    versions: 'resource_version v',
    live: 'r.deleted = 0',
    indexTable: (kind) => `ix_${kind}`,
    ownRows: (kind, x) => `${x}.rowid BETWEEN r.${kind}_lo AND r.${kind}_hi`,
    probeFrom: (kind, x) => `ix_${kind} ${x} NOT INDEXED`,
    kindsOf,
    semiJoin: (kind, where) => `(r.res_type, r.res_id) IN (SELECT x.res_type, x.res_id FROM ix_${kind} x WHERE ${where})`,
  };
}

/** The compiler target of a connection whose `param_kind` is read by `kindsOf`. */
export const sqliteTarget = (kindsOf: (param: string) => readonly IndexEntryKind[]): SqlTarget => ({
  dialect: sqliteDialect,
  layout: sqliteLayout(kindsOf),
});

/**
 * The arguments that bind `values` to numbered placeholders in better-sqlite3: one object
 * `{ 1: v1, 2: v2, … }`, or none for a statement without values (an empty object is refused).
 */
export function numbered(values: readonly unknown[]): [Record<number, unknown>] | [] {
  if (values.length === 0) return [];
  const bound: Record<number, unknown> = {};
  for (let n = 0; n < values.length; n++) bound[n + 1] = values[n];
  return [bound];
}
