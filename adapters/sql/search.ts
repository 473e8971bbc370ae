/**
 * Compiles a {@link StorageQuery} to one parameterised SQL query, for any {@link SqlDialect} and
 * {@link SearchLayout} (PostgreSQL and SQLite). Every value is bound; the SQL text holds only names
 * fixed by the layout and this module. It translates `matchClause` (`src/search/match.ts`) and
 * `sortValue` (`src/search/sort.ts`); the adapter conformance suite compares the results.
 *
 * Query shape, inside out:
 * - `inner`: current live resources `r` of the searched types, filtered by one `EXISTS` /
 *   `NOT EXISTS` probe over the index tables per clause, plus the raw per-kind sort values of each
 *   sort key. PostgreSQL's planner turns a selective `EXISTS` into a semi-join driven by the
 *   `(param, value…)` index; for a layout with `semiJoin` (SQLite) the compiler does it, for the
 *   clause that selects the fewest index rows (`driver.ts`);
 * - `ordered`: the sort columns derived from the raw values (numbers before text, missing last);
 * - `page`: the keyset condition after `query.after`, `ORDER BY` the sort columns then type and id,
 *   `LIMIT`;
 * - the outer query joins the page to its versions for `lastUpdated`, `method` and the JSON.
 * Without computed sort keys the page reads `r` directly, so that a key-ordered page seeks in the
 * primary key (and, of one type, from the position on: a bulk delete asks for page after page).
 *
 * @packageDocumentation
 */
import {
  decodePosition,
  encodePosition,
  type Clause,
  type IndexEntryKind,
  type Predicate,
  type SearchHit,
  type SearchHits,
  type SortKey,
  type StorageQuery,
  type VersionMethod,
} from '../../src/adapter-kit.js';
import { BoundParams, type ParamType, type SqlDialect, type SqlTarget } from './dialect.js';
import { chooseDriver, DRIVER_CAP, driverKind, scanWhere, type Driver, type EstimateRows } from './driver.js';
import { NUMERIC_KINDS, predicateSql } from './predicates.js';

export type { SqlTarget } from './dialect.js';
export type { EstimateRows } from './driver.js';

/** A sort column value: text, a number, or NULL (no value; sorts last). */
export type SortColumnValue = string | number | null;

/** Thrown for an `after` position the compiler did not produce (for this query shape). */
export class InvalidPositionError extends Error {
  constructor() {
    super('Invalid search position');
    this.name = 'InvalidPositionError';
  }
}

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

/** Options of {@link compileSearch}. */
export interface CompileOptions {
  /** For a layout with `semiJoin`: counts candidate driving scans (see `driver.ts`). */
  readonly estimate?: EstimateRows;
}

// ---------------------------------------------------------------------------------------------
// Clauses
// ---------------------------------------------------------------------------------------------

/** Groups a clause's predicates by kind (a clause normally has one). */
function byKind(of: readonly Predicate[]): Map<IndexEntryKind, Predicate[]> {
  const groups = new Map<IndexEntryKind, Predicate[]>();
  for (const p of of) {
    const list = groups.get(p.kind);
    if (list) list.push(p);
    else groups.set(p.kind, [p]);
  }
  return groups;
}

/** The `FROM` item of a per-resource probe of `kind`'s rows, aliased `x`. */
const probeFrom = (target: SqlTarget, kind: IndexEntryKind): string =>
  target.layout.probeFrom?.(kind, 'x') ?? `${target.layout.indexTable(kind)} x`;

/** `EXISTS`: resource `r` has an entry of `param` in `kind`'s table (matching one of `preds`, if given). */
function existsSql(target: SqlTarget, kind: IndexEntryKind, param: string, preds: readonly Predicate[] | undefined, params: BoundParams): string {
  const { dialect, layout } = target;
  let sql = `EXISTS (SELECT 1 FROM ${probeFrom(target, kind)} WHERE ${layout.ownRows(kind, 'x')} AND x.param = ${params.text(param)}`;
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
 * else (`sortValue`). Each kind's value is a raw column of its own; a parameter with both numeric and
 * text kinds gets two sort columns, one per type, so that every column has one SQL type.
 */
function compileKey(target: SqlTarget, key: SortKey, n: number, params: BoundParams): CompiledKey {
  const { dialect, layout } = target;
  const desc = key.descending;
  const agg = desc ? 'MAX' : 'MIN';
  const raw: { name: string; expr: string }[] = [];
  const numeric: string[] = [];
  const text: string[] = [];
  const textKind: string[] = [];
  for (const { kind, gate } of gatedKinds(target, key.param, params)) {
    const isNumeric = NUMERIC_KINDS.has(kind);
    const column = isNumeric ? (desc ? 'x.high' : 'x.low') : textValueOf(kind);
    const sub = `(SELECT ${agg}(${column}) FROM ${probeFrom(target, kind)} WHERE ${layout.ownRows(kind, 'x')} AND x.param = ${params.text(key.param)})`;
    const name = `s${n}_${raw.length}`;
    raw.push({ name, expr: gate === undefined ? sub : `CASE WHEN ${gate} THEN ${sub} END` });
    (isNumeric ? numeric : kind === 'text' ? textKind : text).push(name);
  }
  const pick = (list: string[]): string | undefined =>
    list.length === 0 ? undefined : list.length === 1 ? list[0] : desc ? dialect.greatest(list) : dialect.least(list);
  const num = pick(numeric);
  const str = pick(text);
  const txt = pick(textKind);
  const coalesce = (...exprs: (string | undefined)[]): string => {
    const present = exprs.filter((x): x is string => x !== undefined);
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
    // Plain ascending keys: a (row) comparison, which a primary-key index can seek to.
    const values = columns.map((c) => params.add(c.value, c.type));
    if (columns.length === 1) return `${(columns[0] as KeysetColumn).expr} > ${values[0] as string}`;
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
function whereSql(target: SqlTarget, query: StorageQuery, driver: Driver | undefined, params: BoundParams): string {
  const { dialect, layout } = target;
  const where = [layout.live];
  if (query.types.length === 1) where.push(`r.res_type = ${params.text(query.types[0] as string)}`);
  else where.push(query.types.length === 0 ? dialect.false : dialect.inList('r.res_type', query.types, params));
  if (query.maxSeq !== undefined) where.push(`r.seq <= ${params.int(query.maxSeq)}`);
  query.where.forEach((c, n) => {
    if (n === driver?.index && c.kind === 'any') where.push(layout.semiJoin!(driverKind(c), scanWhere(target, c.param, c.of, params)));
    else where.push(clauseSql(target, c, params));
  });
  return where.join(' AND ');
}

/**
 * Compiles `query` for `target`. Throws {@link InvalidPositionError} for an `after` it cannot
 * decode. With a layout that has `semiJoin`, `options.estimate` lets it pick the driving clause.
 */
export function compileSearch(target: SqlTarget, query: StorageQuery, options: CompileOptions = {}): CompiledSearch {
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

  // A page in primary-key order walks `r` in that order and stops after `limit` hits: better than
  // collecting and sorting every match of a driving clause that selects many.
  const keyOrdered = query.sort.every((k) => k.param === '_id' && !k.descending) && (query.types.length === 1 || query.sort.length === 0);
  const driver = chooseDriver(target, query, keyOrdered, options.estimate);
  const pageDriver = driver !== undefined && !(keyOrdered && driver.rows >= DRIVER_CAP) ? driver : undefined;

  const base = `r.res_type AS t, r.res_id AS i, r.seq AS q, r.version_id AS vid`;
  const where = whereSql(target, query, pageDriver, params);
  // Without computed keys the page reads `r` itself: `t`/`i` are its key columns.
  const columnExpr = (name: string, expr: string): string =>
    computed ? name : name === 't' ? 'r.res_type' : name === 'i' ? 'r.res_id' : expr;
  let keyset: string | undefined;
  if (position) {
    const columns: KeysetColumn[] = sortColumns.map((c, n) => ({
      expr: columnExpr(c.name, c.expr),
      descending: c.descending,
      nullable: c.name !== 'i',
      type: (c.numeric ? 'float' : 'text') as ParamType,
      value: (position.values[n] ?? null) as SortColumnValue,
    }));
    const single = query.types.length === 1 ? (query.types[0] as string) : undefined;
    // Of one type, every row has that type: the position's type decides alone, or drops out (so that
    // the condition is on the id alone, which a primary-key index seeks to).
    if (single !== undefined && position.type !== single) keyset = position.type < single ? dialect.true : dialect.false;
    else {
      if (single === undefined) columns.push({ expr: columnExpr('t', 't'), descending: false, nullable: false, type: 'text', value: position.type });
      columns.push({ expr: columnExpr('i', 'i'), descending: false, nullable: false, type: 'text', value: position.id });
      keyset = keysetSql(dialect, columns, params);
    }
  }
  const order = (prefix: string, expr: (name: string) => string = (name) => name): string =>
    [
      ...sortColumns.map((c) => `${prefix}${expr(c.name)} ${c.descending ? 'DESC' : 'ASC'}${c.name === 'i' ? '' : ' NULLS LAST'}`),
      `${prefix}${expr('t')} ASC`,
      `${prefix}${expr('i')} ASC`,
    ].join(', ');
  const limit = params.int(Math.max(0, Math.floor(query.limit)));

  let page: string;
  if (!computed) {
    page =
      `SELECT ${base} FROM ${layout.resources} WHERE ${where}${keyset ? ` AND ${keyset}` : ''}` +
      ` ORDER BY ${order('', (name) => columnExpr(name, name))} LIMIT ${limit}`;
  } else {
    const inner = `SELECT ${base}${raw.map((c) => `, ${c.expr} AS ${c.name}`).join('')} FROM ${layout.resources} WHERE ${where}`;
    const derived = sortColumns.filter((c) => c.name !== 'i').map((c) => `, ${c.expr} AS ${c.name}`).join('');
    // Fenced, so that the derived columns do not compute the raw sort values once per mention.
    const ordered = `SELECT t, i, q, vid${derived} FROM (${dialect.fence(inner)}) m0`;
    page = `SELECT * FROM (${ordered}) m${keyset ? ` WHERE ${keyset}` : ''} ORDER BY ${order('')} LIMIT ${limit}`;
  }
  const json = query.keysOnly ? 'NULL' : 'v.json';
  const sql =
    `SELECT k.*, v.last_updated AS lu, v.method AS method, ${json} AS json` +
    ` FROM (${page}) k JOIN ${layout.versions} ON v.seq = k.q ORDER BY ${order('k.')}`;

  const compiled: CompiledSearch = { sql, params: params.values, sortColumns: sortColumns.map(({ name, descending, numeric }) => ({ name, descending, numeric })) };
  if (!query.total) return compiled;
  const countParams = new BoundParams(dialect);
  const countSql = `SELECT count(*) AS n FROM ${layout.resources} WHERE ${whereSql(target, query, driver, countParams)}`;
  return { ...compiled, count: { sql: countSql, params: countParams.values } };
}

/** A result row of a {@link CompiledSearch}. */
export type SearchRow = Record<string, unknown> & {
  t: string;
  i: string;
  q: number | string;
  vid: string;
  lu: string;
  method: VersionMethod;
  json: string | null;
};

/** The hits of a compiled search's rows (and its total, when counted). */
export function hitsOf(compiled: CompiledSearch, rows: readonly SearchRow[], total?: number): SearchHits {
  const { sortColumns } = compiled;
  const hits = rows.map((row): SearchHit => {
    const values: (string | number | undefined)[] = [];
    for (const c of sortColumns) values.push((row[c.name] as string | number | null) ?? undefined);
    return {
      type: row.t,
      id: row.i,
      versionId: row.vid,
      seq: Number(row.q),
      lastUpdated: row.lu,
      method: row.method,
      deleted: false,
      json: row.json ?? undefined,
      position: encodePosition({ values, type: row.t, id: row.i }),
    };
  });
  return total === undefined ? { hits } : { hits, total };
}
