/**
 * Compiles a {@link StorageQuery} into parameterised SQL over the schema of `schema.ts`. Values are
 * always bound as parameters, never spliced into the SQL text; only table, column and alias names
 * (all fixed by this module) and `?` placeholders are.
 *
 * The SQL is a translation of `matchClause` / `matchPredicate` (`src/search/match.ts`) and of
 * `sortValue` (`src/search/sort.ts`); the conformance suite compares both.
 *
 * Plan: the most selective indexable `any` clause (if any) drives the query through
 * `(r.res_type, r.res_id) IN (SELECT … FROM ix_<kind> WHERE param = ? AND …)`, answered from the
 * `(param, value…)` index; every other clause becomes a correlated `EXISTS` / `NOT EXISTS` probe over
 * the resource's own rows (a rowid range scan: `rowid BETWEEN r.<kind>_lo AND r.<kind>_hi`). When
 * the page order is the primary-key order (no sort keys, or only `_id`) and the best clause turns out
 * to match many rows, the query instead walks `resource` in key order and probes, which stops after
 * `limit` hits. Sort values are per-resource `MIN`/`MAX` subqueries; keyset paging compares the tuple
 * (sort values…, type, id).
 *
 * @packageDocumentation
 */
import {
  decodePosition,
  fold,
  rangeSql,
  type Clause,
  type IndexEntryKind,
  type Predicate,
  type RangeOp,
  type SortKey,
  type StorageQuery,
} from '../../src/adapter-kit.js';

/** A compiled search: the page query, and the count query when `total` was asked. */
export interface CompiledSearch {
  readonly sql: string;
  readonly params: unknown[];
  /** Number of sort keys. */
  readonly sortColumns: number;
  /** The result column holding each sort key's value (`sN`, or `i` for `_id`). */
  readonly sortColumnNames: readonly string[];
  readonly countSql?: string;
  readonly countParams?: unknown[];
}

/** Looks up which index kinds a parameter has entries in (for `missing` and sort keys). */
export type KindsOf = (param: string) => readonly IndexEntryKind[];

/** Thrown for an `after` position this adapter did not produce. */
export class InvalidPositionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidPositionError';
  }
}

// ---------------------------------------------------------------------------------------------
// Predicates
// ---------------------------------------------------------------------------------------------

/** The table of an index kind. */
export function tableOf(kind: IndexEntryKind): string {
  return `ix_${kind}`;
}

/**
 * The smallest string greater than every string that starts with `prefix` (code point order, which
 * is also SQLite's BINARY order of UTF-8), or undefined when there is none.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const points = Array.from(prefix);
  while (points.length > 0) {
    const last = (points.pop() as string).codePointAt(0) as number;
    let next = last + 1;
    if (next >= 0xd800 && next <= 0xdfff) next = 0xe000;
    if (next <= 0x10ffff) return points.join('') + String.fromCodePoint(next);
  }
  return undefined;
}

/** `column` starts with `prefix`, as an index-friendly range. */
function startsWith(column: string, prefix: string, params: unknown[]): string {
  if (prefix === '') return '1';
  const upper = prefixUpperBound(prefix);
  params.push(prefix);
  if (upper === undefined) return `${column} >= ?`;
  params.push(upper);
  return `(${column} >= ? AND ${column} < ?)`;
}

/** `[low, high]` of the entry row `alias` against the value range by prefix `op` (the core's range table). */
function rangeCondition(alias: string, op: RangeOp, low: number, high: number, params: unknown[]): string {
  return rangeSql(op, { low: `${alias}.low`, high: `${alias}.high` }, low, high, (value) => {
    params.push(value);
    return '?';
  });
}

/** SQL for one predicate over the index row alias `x` (of the predicate kind's table). */
export function predicateSql(p: Predicate, x: string, params: unknown[]): string {
  switch (p.kind) {
    case 'token': {
      const parts: string[] = [];
      if (p.code !== undefined) {
        parts.push(`${x}.code = ?`);
        params.push(p.code);
      }
      if (p.system === null) parts.push(`${x}.system IS NULL`);
      else if (p.system !== undefined) {
        parts.push(`${x}.system = ?`);
        params.push(p.system);
      }
      return parts.length === 0 ? '1' : parts.join(' AND ');
    }
    case 'text':
      return startsWith(`${x}.folded`, p.folded, params);
    case 'string':
      switch (p.match) {
        case 'prefix':
          return startsWith(`${x}.folded`, p.folded, params);
        case 'contains':
          params.push(p.folded);
          return `instr(${x}.folded, ?) > 0`;
        case 'exact':
          // `folded = fold(exact)` holds for every entry, so the folded index narrows the scan.
          params.push(fold(p.exact), p.exact);
          return `(${x}.folded = ? AND ${x}.exact = ?)`;
      }
      break;
    case 'date':
    case 'number':
      return rangeCondition(x, p.op, p.low, p.high, params);
    case 'quantity': {
      // `null` system/code means "not given" here (see matchPredicate).
      const parts: string[] = [];
      if (p.code !== undefined && p.code !== null) {
        parts.push(`${x}.code = ?`);
        params.push(p.code);
      }
      if (p.system !== undefined && p.system !== null) {
        parts.push(`${x}.system = ?`);
        params.push(p.system);
      }
      parts.push(rangeCondition(x, p.op, p.low, p.high, params));
      return parts.join(' AND ');
    }
    case 'reference':
      if (p.targetId !== undefined) {
        params.push(p.targetId);
        if (p.targetType === undefined) return `${x}.target_id = ?`;
        params.push(p.targetType);
        return `(${x}.target_id = ? AND ${x}.target_type = ?)`;
      }
      if (p.url !== undefined) {
        params.push(p.url);
        return `${x}.url = ?`;
      }
      if (p.targetType !== undefined) {
        params.push(p.targetType);
        return `${x}.target_type = ?`;
      }
      return '0';
    case 'uri':
      switch (p.match) {
        case 'exact':
          params.push(p.value);
          return `${x}.value = ?`;
        case 'below':
          // Entry value is the query value or lies below it (a path extension).
          params.push(p.value, p.value, p.value);
          return `(${x}.value = ? OR (substr(${x}.value, 1, length(?)) = ? AND ${uriBoundary(x, p.value, params)}))`;
        case 'above':
          // The query value is the entry value or lies below it.
          params.push(p.value, p.value);
          return `(${x}.value = ? OR (substr(?, 1, length(${x}.value)) = ${x}.value AND ${uriAboveBoundary(x, p.value, params)}))`;
      }
  }
  return '0';
}

/** For `below`: the character after the prefix in the entry is a path separator (or the prefix ends in one). */
function uriBoundary(x: string, value: string, params: unknown[]): string {
  if (value.endsWith('/')) return '1';
  params.push(value);
  return `substr(${x}.value, length(?) + 1, 1) = '/'`;
}

/** For `above`: the character after the entry value in the query value is a path separator. */
function uriAboveBoundary(x: string, value: string, params: unknown[]): string {
  params.push(value);
  return `(substr(${x}.value, -1, 1) = '/' OR substr(?, length(${x}.value) + 1, 1) = '/')`;
}

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

function clauseScore(c: Clause): number {
  if (c.kind !== 'any' || c.of.length === 0) return 0;
  const kind = (c.of[0] as Predicate).kind;
  if (c.of.some((p) => p.kind !== kind)) return 0;
  return Math.min(...c.of.map(predicateScore));
}

/** Groups a clause's predicates by kind (a clause normally has one kind). */
function byKind(of: readonly Predicate[]): Map<IndexEntryKind, Predicate[]> {
  const groups = new Map<IndexEntryKind, Predicate[]>();
  for (const p of of) {
    const list = groups.get(p.kind);
    if (list) list.push(p);
    else groups.set(p.kind, [p]);
  }
  return groups;
}

/** The rows of resource `r` in `kind`'s table, as a condition on alias `x`. */
function ownRows(kind: IndexEntryKind): string {
  return `x.rowid BETWEEN r.${kind}_lo AND r.${kind}_hi`;
}

/** `EXISTS` probe: resource `r` has an entry of `param` in `kind`'s table matching `preds`. */
function existsSql(kind: IndexEntryKind, param: string, preds: readonly Predicate[] | undefined, params: unknown[]): string {
  params.push(param);
  let sql = `EXISTS (SELECT 1 FROM ${tableOf(kind)} x NOT INDEXED WHERE ${ownRows(kind)} AND x.param = ?`;
  if (preds) sql += ` AND (${preds.map((p) => predicateSql(p, 'x', params)).join(' OR ')})`;
  return `${sql})`;
}

/** The value-index scan of a driving clause: `FROM ix_<kind> x WHERE param = ? AND (…)`. */
function scanSql(kind: IndexEntryKind, param: string, preds: readonly Predicate[], params: unknown[]): string {
  params.push(param);
  const where = preds.map((p) => predicateSql(p, 'x', params)).join(' OR ');
  return `FROM ${tableOf(kind)} x WHERE x.param = ? AND (${where})`;
}

function clauseSql(c: Clause, kindsOf: KindsOf, params: unknown[]): string {
  switch (c.kind) {
    case 'any': {
      if (c.of.length === 0) return '0';
      const parts = [...byKind(c.of)].map(([kind, preds]) => existsSql(kind, c.param, preds, params));
      return parts.length === 1 ? (parts[0] as string) : `(${parts.join(' OR ')})`;
    }
    case 'none': {
      if (c.of.length === 0) return '1';
      return [...byKind(c.of)].map(([kind, preds]) => `NOT ${existsSql(kind, c.param, preds, params)}`).join(' AND ');
    }
    case 'missing': {
      const kinds = kindsOf(c.param);
      if (kinds.length === 0) return c.missing ? '1' : '0';
      const parts = kinds.map((kind) => existsSql(kind, c.param, undefined, params));
      return c.missing ? `NOT (${parts.join(' OR ')})` : `(${parts.join(' OR ')})`;
    }
    case 'ids':
      if (c.ids.length === 0) return '0';
      params.push(JSON.stringify(c.ids));
      return `r.res_id IN (SELECT value FROM json_each(?))`;
  }
}

// ---------------------------------------------------------------------------------------------
// Sort
// ---------------------------------------------------------------------------------------------

/** The per-resource value expression of one kind for a sort direction (`sortValue` of the core). */
function sortValueExpr(kind: IndexEntryKind, descending: boolean): string {
  const agg = descending ? 'MAX' : 'MIN';
  switch (kind) {
    case 'token':
      return `${agg}(x.code)`;
    case 'text':
    case 'string':
      return `${agg}(x.folded)`;
    case 'date':
    case 'number':
    case 'quantity':
      return descending ? 'MAX(x.high)' : 'MIN(x.low)';
    case 'reference':
      return `${agg}(CASE WHEN x.target_type IS NOT NULL AND x.target_id IS NOT NULL THEN x.target_type || '/' || x.target_id ELSE x.url END)`;
    case 'uri':
      return `${agg}(x.value)`;
  }
}

const NUMERIC_KINDS: ReadonlySet<IndexEntryKind> = new Set(['date', 'number', 'quantity']);

function sortSql(key: SortKey, kindsOf: KindsOf, params: unknown[]): string {
  // Numbers sort before strings: an ascending sort takes a numeric value first, a descending one a
  // string value first; `text` entries count only when the parameter has nothing else.
  const kinds: IndexEntryKind[] = [...kindsOf(key.param)]
    .filter((k) => k !== 'text')
    .sort((a, b) => (NUMERIC_KINDS.has(a) === NUMERIC_KINDS.has(b) ? 0 : NUMERIC_KINDS.has(a) !== key.descending ? -1 : 1));
  if (kindsOf(key.param).includes('text')) kinds.push('text');
  if (kinds.length === 0) return 'NULL';
  const parts = kinds.map((kind) => {
    params.push(key.param);
    return `(SELECT ${sortValueExpr(kind, key.descending)} FROM ${tableOf(kind)} x NOT INDEXED WHERE ${ownRows(kind)} AND x.param = ?)`;
  });
  return parts.length === 1 ? (parts[0] as string) : `coalesce(${parts.join(', ')})`;
}

// ---------------------------------------------------------------------------------------------
// The query
// ---------------------------------------------------------------------------------------------

/** Counts rows of a driving scan, up to a cap (to decide whether it is worth driving with). */
export type EstimateRows = (sql: string, params: unknown[], cap: number) => number;

/** A driving clause matching at least this many index rows is not used for key-ordered pages. */
const DRIVER_CAP = 1000;

/** Compiles `query` to SQL. */
export function compileSearch(query: StorageQuery, kindsOf: KindsOf, estimate?: EstimateRows): CompiledSearch {
  // Sort: `_id` keys are the key column itself; others are computed columns s0, s1, …
  const sortParams: unknown[] = [];
  const sortCols: { expr: string; col: string; key: SortKey }[] = [];
  for (const key of query.sort) {
    if (key.param === '_id') {
      sortCols.push({ expr: 'r.res_id', col: 'i', key });
    } else {
      const col = `s${sortCols.length}`;
      sortCols.push({ expr: sortSql(key, kindsOf, sortParams), col, key });
    }
  }
  /** Page order follows the primary key (type, id): a key-order walk can stop early. */
  const keyOrdered =
    sortCols.every((c) => c.col === 'i' && !c.key.descending) && (query.types.length === 1 || sortCols.length === 0);

  // The driver: the best indexable `any` clause, unless an `ids` clause already pins the rows.
  // The driver: the indexable `any` clause matching the fewest index rows (counted up to a cap),
  // unless an `ids` clause already pins the rows.
  let driver = -1;
  let driverScan: { sql: string; params: unknown[] } | undefined;
  let driverRows = Infinity;
  if (!query.where.some((c) => c.kind === 'ids')) {
    const candidates: { index: number; score: number; scan: { sql: string; params: unknown[] } }[] = [];
    query.where.forEach((c, index) => {
      const score = clauseScore(c);
      if (score < 2 || c.kind !== 'any') return;
      const scanParams: unknown[] = [];
      const scan = { sql: scanSql((c.of[0] as Predicate).kind, c.param, c.of, scanParams), params: scanParams };
      candidates.push({ index, score, scan });
    });
    candidates.sort((x, y) => y.score - x.score);
    for (const c of candidates) {
      const rows =
        estimate !== undefined && (candidates.length > 1 || keyOrdered)
          ? estimate(`SELECT count(*) FROM (SELECT 1 ${c.scan.sql} LIMIT ?)`, c.scan.params, DRIVER_CAP)
          : 0;
      if (driver === -1 || rows < driverRows) {
        driver = c.index;
        driverScan = c.scan;
        driverRows = rows;
      }
      if (rows <= 1) break;
    }
  }

  const buildWhere = (useDriver: boolean, params: unknown[]): string => {
    const where: string[] = ['r.deleted = 0'];
    if (query.types.length > 0) {
      where.push(`r.res_type IN (${query.types.map(() => '?').join(', ')})`);
      params.push(...query.types);
    }
    if (query.maxSeq !== undefined) {
      where.push('r.seq <= ?');
      params.push(query.maxSeq);
    }
    query.where.forEach((c, i) => {
      if (i === driver && useDriver && driverScan !== undefined) {
        where.push(`(r.res_type, r.res_id) IN (SELECT x.res_type, x.res_id ${driverScan.sql})`);
        params.push(...driverScan.params);
      } else {
        where.push(clauseSql(c, kindsOf, params));
      }
    });
    return where.join(' AND ');
  };

  // A key-ordered page stops after `limit` hits when it walks `resource` in key order, which beats
  // collecting and sorting every match of an unselective driver.
  const pageDriver = driverScan !== undefined && !(keyOrdered && driverRows >= DRIVER_CAP);
  const whereParams: unknown[] = [];
  let whereSql = buildWhere(pageDriver, whereParams);

  const computed = sortCols.filter((c) => c.col !== 'i');
  // A later page of one type in key order seeks to its position in `resource`'s primary key: the
  // keyset condition below, on the outer query, does not reach the scan, which would otherwise walk
  // every earlier key again (and a bulk delete asks for page after page).
  const after = query.after === undefined ? undefined : decodePosition(query.after, sortCols.length);
  if (query.after !== undefined && after === undefined) throw new InvalidPositionError('Invalid search position');
  if (after !== undefined && keyOrdered && computed.length === 0 && query.types.length === 1) {
    if (after.type === query.types[0]) {
      whereSql += ' AND r.res_id > ?';
      whereParams.push(after.id);
    }
  }
  const inner =
    `SELECT r.res_type AS t, r.res_id AS i, r.seq AS q, r.version_id AS vid` +
    computed.map((c) => `, ${c.expr} AS ${c.col}`).join('') +
    ` FROM resource r WHERE ${whereSql}`;

  // Keyset condition over (sort columns…, t, i); computed columns sort NULLs last.
  const keysetParams: unknown[] = [];
  let keyset = '';
  if (after !== undefined) {
    const cols: { col: string; desc: boolean; value: string | number | null; nullable: boolean }[] = [
      ...sortCols.map((c, n) => ({ col: c.col, desc: c.key.descending, value: after.values[n] ?? null, nullable: c.col !== 'i' })),
      { col: 't', desc: false, value: after.type, nullable: false },
      { col: 'i', desc: false, value: after.id, nullable: false },
    ];
    const alternatives: string[] = [];
    const equalSoFar: string[] = [];
    const equalParams: unknown[] = [];
    for (const c of cols) {
      if (c.value !== null) {
        // c comes strictly after the value, all previous columns being equal; NULLs sort last.
        alternatives.push([...equalSoFar, `(${c.col} ${c.desc ? '<' : '>'} ?${c.nullable ? ` OR ${c.col} IS NULL` : ''})`].join(' AND '));
        keysetParams.push(...equalParams, c.value);
        equalSoFar.push(`${c.col} = ?`);
        equalParams.push(c.value);
      } else {
        equalSoFar.push(`${c.col} IS NULL`);
      }
    }
    keyset = alternatives.length === 0 ? ' WHERE 0' : ` WHERE (${alternatives.map((a) => `(${a})`).join(' OR ')})`;
  }

  const orderBy = (prefix: string): string =>
    [
      ...sortCols.map((c) => `${prefix}${c.col} ${c.key.descending ? 'DESC' : 'ASC'}${c.col === 'i' ? '' : ' NULLS LAST'}`),
      `${prefix}t ASC`,
      `${prefix}i ASC`,
    ].join(', ');

  const sql =
    `SELECT k.*, v.last_updated AS lu, v.method AS method, ${query.keysOnly ? 'NULL' : 'v.json'} AS json FROM (` +
    `SELECT * FROM (${inner})${keyset} ORDER BY ${orderBy('')} LIMIT ?` +
    `) k JOIN resource_version v ON v.seq = k.q ORDER BY ${orderBy('k.')}`;
  const params = [...sortParams, ...whereParams, ...keysetParams, Math.max(0, Math.floor(query.limit))];

  const compiled: CompiledSearch = { sql, params, sortColumns: sortCols.length, sortColumnNames: sortCols.map((c) => c.col) };
  if (!query.total) return compiled;
  const countParams: unknown[] = [];
  const countWhere = buildWhere(true, countParams);
  return { ...compiled, countSql: `SELECT count(*) AS n FROM resource r WHERE ${countWhere}`, countParams };
}
