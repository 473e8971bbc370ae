/**
 * Compiles a {@link StorageQuery} to one parameterised SQL query, for any {@link SqlDialect} and
 * {@link SearchLayout}. Every value is bound; the SQL text holds only names fixed by the layout and
 * this module. It translates `matchClause` (`src/search/match.ts`) and `sortValue`
 * (`src/search/sort.ts`); the adapter conformance suite compares the results.
 *
 * Query shape, inside out:
 * - `inner`: current live resources `r` of the searched types, filtered by one `EXISTS` /
 *   `NOT EXISTS` probe over the index tables per clause (a planner turns `EXISTS` into a semi-join
 *   driven by the `(param, value…)` index when that is selective), plus the raw per-kind sort
 *   values of each sort key;
 * - `ordered`: the sort columns derived from the raw values (numbers before text, missing last);
 * - `page`: the keyset condition after `query.after`, `ORDER BY` the sort columns then type and id,
 *   `LIMIT`;
 * - the outer query joins the page to its versions for `lastUpdated`, `method` and the JSON.
 * Without computed sort keys the page reads `r` directly, so that a key-ordered page seeks in the
 * primary key.
 *
 * @packageDocumentation
 */
import {
  decodePosition,
  type Clause,
  type IndexEntryKind,
  type Predicate,
  type SortKey,
  type StorageQuery,
} from '../../src/adapter-kit.js';
import { BoundParams, type ParamType, type SearchLayout, type SqlDialect } from './dialect.js';

/** A sort column value: text, a number, or NULL (no value; sorts last). */
export type SortColumnValue = string | number | null;

/** Thrown for an `after` position the compiler did not produce (for this query shape). */
export class InvalidPositionError extends Error {
  constructor() {
    super('Invalid search position');
    this.name = 'InvalidPositionError';
  }
}
import { NUMERIC_KINDS, predicateSql } from './predicates.js';

/** A result column a page is ordered by (before type and id). */
export interface SortColumn {
  /** Column name in the result rows. */
  readonly name: string;
  readonly descending: boolean;
  /** Holds numbers (else text). */
  readonly numeric: boolean;
}

/** A compiled search. Rows have `t`, `i`, `q` (seq), `vid`, `lu`, `method`, `json` and the sort columns. */
export interface CompiledSearch {
  readonly sql: string;
  readonly params: readonly unknown[];
  /** The sort columns in order; a hit's position holds their values. */
  readonly sortColumns: readonly SortColumn[];
  /** The count of every match, when the query asked for `total`. */
  readonly count?: { readonly sql: string; readonly params: readonly unknown[] };
}

/** A dialect and a layout: everything the compiler needs to know about a database. */
export interface SqlTarget {
  readonly dialect: SqlDialect;
  readonly layout: SearchLayout;
}

// ---------------------------------------------------------------------------------------------
// Clauses
// ---------------------------------------------------------------------------------------------

/** Groups a clause's predicates by kind (a clause normally has one). */
function byKind(of: readonly Predicate[]): Map<IndexEntryKind, Predicate[]> {
  const groups = new Map<IndexEntryKind, Predicate[]>();
  for (const p of of) groups.set(p.kind, [...(groups.get(p.kind) ?? []), p]);
  return groups;
}

/** `EXISTS`: resource `r` has an entry of `param` in `kind`'s table (matching one of `preds`, if given). */
function existsSql(target: SqlTarget, kind: IndexEntryKind, param: string, preds: readonly Predicate[] | undefined, params: BoundParams): string {
  const { dialect, layout } = target;
  let sql = `EXISTS (SELECT 1 FROM ${layout.indexTable(kind)} x WHERE ${layout.ownRows(kind, 'x')} AND x.param = ${params.text(param)}`;
  if (preds) sql += ` AND (${preds.map((p) => predicateSql(dialect, p, 'x', params)).join(' OR ')})`;
  return `${sql})`;
}

/** The kinds `param` may have entries in, each with its once-per-query gate (if the layout has one). */
function gatedKinds(target: SqlTarget, param: string, params: BoundParams): { kind: IndexEntryKind; gate: string | undefined }[] {
  const { layout } = target;
  return layout.kindsOf(param).map((kind) => ({ kind, gate: layout.kindGate?.(kind, param, params) }));
}

function clauseSql(target: SqlTarget, c: Clause, params: BoundParams): string {
  const { dialect } = target;
  switch (c.kind) {
    case 'any': {
      if (c.of.length === 0) return dialect.false;
      const parts = [...byKind(c.of)].map(([kind, preds]) => existsSql(target, kind, c.param, preds, params));
      return parts.length === 1 ? (parts[0] as string) : `(${parts.join(' OR ')})`;
    }
    case 'none':
      if (c.of.length === 0) return dialect.true;
      return [...byKind(c.of)].map(([kind, preds]) => `NOT ${existsSql(target, kind, c.param, preds, params)}`).join(' AND ');
    case 'missing': {
      const parts = gatedKinds(target, c.param, params).map(({ kind, gate }) => {
        const exists = existsSql(target, kind, c.param, undefined, params);
        return gate === undefined ? exists : `(${gate} AND ${exists})`;
      });
      if (parts.length === 0) return c.missing ? dialect.true : dialect.false;
      const has = `(${parts.join(' OR ')})`;
      return c.missing ? `NOT ${has}` : has;
    }
    case 'ids':
      return c.ids.length === 0 ? dialect.false : dialect.inList('r.res_id', [...new Set(c.ids)], params);
  }
}

// ---------------------------------------------------------------------------------------------
// Sort keys
// ---------------------------------------------------------------------------------------------

/** The text a resource sorts by for an entry of a non-numeric kind (`sortValue`'s `entryValue`). */
function textValueOf(kind: IndexEntryKind): string {
  switch (kind) {
    case 'token':
      return 'x.code';
    case 'reference':
      return "CASE WHEN x.target_type IS NOT NULL AND x.target_id IS NOT NULL THEN x.target_type || '/' || x.target_id ELSE x.url END";
    case 'uri':
      return 'x.value';
    default:
      return 'x.folded';
  }
}

/** A sort key compiled: raw per-resource values (computed in `inner`) and the derived columns. */
interface CompiledKey {
  readonly raw: readonly { readonly name: string; readonly expr: string }[];
  readonly columns: readonly (SortColumn & { readonly expr: string })[];
}

/**
 * One sort key. A resource's value is the least (ascending) or greatest (descending) of its entries
 * of the parameter, numbers sorting before text, `text` entries counting only when there is nothing
 * else (`sortValue`). A parameter with both numeric and text kinds gets two columns, one per type,
 * so that every column has one SQL type.
 */
function compileKey(target: SqlTarget, key: SortKey, n: number, params: BoundParams): CompiledKey {
  const { dialect, layout } = target;
  const desc = key.descending;
  const agg = desc ? 'MAX' : 'MIN';
  const value = (kind: IndexEntryKind, gate: string | undefined, column: string): string => {
    const sub = `(SELECT ${agg}(${column}) FROM ${layout.indexTable(kind)} x WHERE ${layout.ownRows(kind, 'x')} AND x.param = ${params.text(key.param)})`;
    return gate === undefined ? sub : `CASE WHEN ${gate} THEN ${sub} END`;
  };
  const numeric: string[] = [];
  const text: string[] = [];
  let textKind: string | undefined;
  for (const { kind, gate } of gatedKinds(target, key.param, params)) {
    if (NUMERIC_KINDS.has(kind)) numeric.push(value(kind, gate, desc ? 'x.high' : 'x.low'));
    else if (kind === 'text') textKind = value(kind, gate, 'x.folded');
    else text.push(value(kind, gate, textValueOf(kind)));
  }
  const pick = (list: string[]): string | undefined =>
    list.length === 0 ? undefined : list.length === 1 ? list[0] : desc ? dialect.greatest(list) : dialect.least(list);
  const raw: { name: string; expr: string }[] = [];
  const rawColumn = (suffix: string, expr: string | undefined): string | undefined => {
    if (expr === undefined) return undefined;
    const name = `s${n}${suffix}`;
    raw.push({ name, expr });
    return name;
  };
  const num = rawColumn('n', pick(numeric));
  const str = rawColumn('s', pick(text));
  const txt = rawColumn('t', textKind);
  const coalesce = (...names: (string | undefined)[]): string => {
    const present = names.filter((x): x is string => x !== undefined);
    return present.length === 0 ? 'NULL' : present.length === 1 ? (present[0] as string) : `coalesce(${present.join(', ')})`;
  };
  const column = (suffix: string, isNumeric: boolean, expr: string) => ({ name: `c${n}${suffix}`, descending: desc, numeric: isNumeric, expr });
  if (num === undefined) return { raw, columns: [column('', false, coalesce(str, txt))] };
  if (str === undefined && txt === undefined) return { raw, columns: [column('', true, num)] };
  // Mixed: numbers sort before text, so ascending takes a number when there is one, descending text.
  const columns = desc
    ? [column('a', false, coalesce(str, txt && `CASE WHEN ${num} IS NULL THEN ${txt} END`)), column('b', true, str ? `CASE WHEN ${str} IS NULL THEN ${num} END` : num)]
    : [column('a', true, num), column('b', false, `CASE WHEN ${num} IS NULL THEN ${coalesce(str, txt)} END`)];
  return { raw, columns };
}

// ---------------------------------------------------------------------------------------------
// Keyset
// ---------------------------------------------------------------------------------------------

interface KeysetColumn {
  readonly expr: string;
  readonly descending: boolean;
  readonly nullable: boolean;
  readonly type: ParamType;
  readonly value: SortColumnValue;
}

/** Rows strictly after the position, in `ORDER BY` order (NULLs last in both directions). */
function keysetSql(dialect: SqlDialect, columns: readonly KeysetColumn[], params: BoundParams): string {
  if (columns.every((c) => !c.descending && !c.nullable)) {
    // Plain ascending keys: a row comparison, which a primary-key index can seek to.
    const values = columns.map((c) => params.add(c.value, c.type));
    return `(${columns.map((c) => c.expr).join(', ')}) > (${values.join(', ')})`;
  }
  const alternatives: string[] = [];
  const equal: string[] = [];
  for (const c of columns) {
    if (c.value === null) {
      // Nothing but another NULL follows a NULL in this column.
      equal.push(`${c.expr} IS NULL`);
      continue;
    }
    const value = params.add(c.value, c.type);
    const after = `${c.expr} ${c.descending ? '<' : '>'} ${value}`;
    alternatives.push([...equal, c.nullable ? `(${after} OR ${c.expr} IS NULL)` : after].join(' AND '));
    equal.push(`${c.expr} = ${value}`);
  }
  return alternatives.length === 0 ? dialect.false : `(${alternatives.map((a) => `(${a})`).join(' OR ')})`;
}

// ---------------------------------------------------------------------------------------------
// The query
// ---------------------------------------------------------------------------------------------

/** The conditions every match satisfies: live, of the types, within `maxSeq`, and every clause. */
function whereSql(target: SqlTarget, query: StorageQuery, params: BoundParams): string {
  const { dialect, layout } = target;
  const where = [layout.live];
  if (query.types.length === 1) where.push(`r.res_type = ${params.text(query.types[0] as string)}`);
  else where.push(query.types.length === 0 ? dialect.false : dialect.inList('r.res_type', query.types, params));
  if (query.maxSeq !== undefined) where.push(`r.seq <= ${params.int(query.maxSeq)}`);
  for (const c of query.where) where.push(clauseSql(target, c, params));
  return where.join(' AND ');
}

/** Compiles `query` for `target`. Throws `InvalidPositionError` for an `after` it cannot decode. */
export function compileSearch(target: SqlTarget, query: StorageQuery): CompiledSearch {
  const { dialect, layout } = target;
  const params = new BoundParams(dialect);

  const keys = query.sort.map((key, n): CompiledKey => {
    if (key.param === '_id') return { raw: [], columns: [{ name: 'i', descending: key.descending, numeric: false, expr: 'i' }] };
    return compileKey(target, key, n, params);
  });
  const sortColumns = keys.flatMap((k) => k.columns);
  const raw = keys.flatMap((k) => k.raw);
  const computed = sortColumns.some((c) => c.name !== 'i');
  const position = query.after === undefined ? undefined : decodePosition(query.after, sortColumns.length);
  if (query.after !== undefined && position === undefined) throw new InvalidPositionError();

  const base = `r.res_type AS t, r.res_id AS i, r.seq AS q, r.version_id AS vid`;
  const where = whereSql(target, query, params);
  // Without computed keys the page reads `r` itself: `t`/`i` are its key columns.
  const columnExpr = (name: string, expr: string): string =>
    computed ? name : name === 't' ? 'r.res_type' : name === 'i' ? 'r.res_id' : expr;
  const keyset: KeysetColumn[] | undefined = position && [
    ...sortColumns.map((c, n) => ({
      expr: columnExpr(c.name, c.expr),
      descending: c.descending,
      nullable: c.name !== 'i',
      type: (c.numeric ? 'float' : 'text') as ParamType,
      value: (position.values[n] ?? null) as SortColumnValue,
    })),
    { expr: columnExpr('t', 't'), descending: false, nullable: false, type: 'text', value: position.type },
    { expr: columnExpr('i', 'i'), descending: false, nullable: false, type: 'text', value: position.id },
  ];
  const order = (prefix: string, expr: (name: string) => string = (name) => name): string =>
    [
      ...sortColumns.map((c) => `${prefix}${expr(c.name)} ${c.descending ? 'DESC' : 'ASC'}${c.name === 'i' ? '' : ' NULLS LAST'}`),
      `${prefix}${expr('t')} ASC`,
      `${prefix}${expr('i')} ASC`,
    ].join(', ');

  let page: string;
  if (!computed) {
    const after = keyset ? ` AND ${keysetSql(dialect, keyset, params)}` : '';
    page =
      `SELECT ${base} FROM ${layout.resources} WHERE ${where}${after}` +
      ` ORDER BY ${order('', (name) => columnExpr(name, name))} LIMIT ${params.int(Math.max(0, Math.floor(query.limit)))}`;
  } else {
    const inner = `SELECT ${base}${raw.map((c) => `, ${c.expr} AS ${c.name}`).join('')} FROM ${layout.resources} WHERE ${where}`;
    const derived = sortColumns.filter((c) => c.name !== 'i').map((c) => `, ${c.expr} AS ${c.name}`).join('');
    // OFFSET 0 keeps the planner from inlining `inner` into `ordered`, which would compute every raw
    // sort value once per derived column that mentions it.
    const ordered = `SELECT t, i, q, vid${derived} FROM (${inner} OFFSET 0) m0`;
    const after = keyset ? ` WHERE ${keysetSql(dialect, keyset, params)}` : '';
    page = `SELECT * FROM (${ordered}) m${after} ORDER BY ${order('')} LIMIT ${params.int(Math.max(0, Math.floor(query.limit)))}`;
  }
  const json = query.keysOnly ? 'NULL' : 'v.json';
  const sql =
    `SELECT k.*, v.last_updated AS lu, v.method AS method, ${json} AS json` +
    ` FROM (${page}) k JOIN ${layout.versions} ON v.seq = k.q ORDER BY ${order('k.')}`;

  const compiled: CompiledSearch = { sql, params: params.values, sortColumns: sortColumns.map(({ name, descending, numeric }) => ({ name, descending, numeric })) };
  if (!query.total) return compiled;
  const countParams = new BoundParams(dialect);
  const countSql = `SELECT count(*) AS n FROM ${layout.resources} WHERE ${whereSql(target, query, countParams)}`;
  return { ...compiled, count: { sql: countSql, params: countParams.values } };
}
