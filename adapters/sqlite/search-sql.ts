/**
 * Compiles a {@link StorageQuery} into parameterised SQL over the schema of `schema.ts`. Values are
 * always bound as parameters, never spliced into the SQL text; only table, column and alias names
 * (all fixed by this module) and `?` placeholders are.
 *
 * Plan: the most selective indexable `any` clause (if any) drives the query through
 * `(r.res_type, r.res_id) IN (SELECT … FROM ix_<kind> WHERE param = ? AND …)`, which SQLite answers
 * from the covering `(param, value…, res_type, res_id)` index; every other clause becomes a correlated
 * `EXISTS` / `NOT EXISTS` probe through the `(res_type, res_id, param)` index. Sort values are
 * per-resource `MIN`/`MAX` subqueries, keyset paging compares the tuple (sort values…, type, id).
 *
 * @packageDocumentation
 */
import type { IndexEntryKind } from '../../src/storage/index-entry.js';
import type { Clause, Predicate, RangeOp, SortKey, StorageQuery } from '../../src/storage/query.js';

/** A compiled search: the page query, and the count query when `total` was asked. */
export interface CompiledSearch {
  readonly sql: string;
  readonly params: unknown[];
  /** Number of sort-value columns (`s0`…) the page query returns before `t`/`i`. */
  readonly sortColumns: number;
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

type SortValue = string | number | null;

// ---------------------------------------------------------------------------------------------
// Positions
// ---------------------------------------------------------------------------------------------

function encodeValue(value: SortValue): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return { n: Number.isNaN(value) ? 'NaN' : value > 0 ? '+Infinity' : '-Infinity' };
  }
  return value;
}

function decodeValue(value: unknown): SortValue {
  if (value === null || typeof value === 'string' || typeof value === 'number') return value;
  if (typeof value === 'object' && value !== null && 'n' in value) {
    const n = (value as { n: unknown }).n;
    if (n === '+Infinity') return Infinity;
    if (n === '-Infinity') return -Infinity;
    if (n === 'NaN') return NaN;
  }
  throw new InvalidPositionError('Invalid search position');
}

/** Encodes a hit's keyset position: its sort values, then its type and id. */
export function encodePosition(values: readonly SortValue[], type: string, id: string): string {
  return Buffer.from(JSON.stringify([values.map(encodeValue), type, id]), 'utf8').toString('base64url');
}

/** Decodes a position produced by {@link encodePosition}; throws {@link InvalidPositionError}. */
export function decodePosition(
  position: string,
  sortColumns: number,
): { values: SortValue[]; type: string; id: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(position, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidPositionError('Invalid search position');
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 3 ||
    !Array.isArray(parsed[0]) ||
    parsed[0].length !== sortColumns ||
    typeof parsed[1] !== 'string' ||
    typeof parsed[2] !== 'string'
  ) {
    throw new InvalidPositionError('Invalid search position');
  }
  return { values: (parsed[0] as unknown[]).map(decodeValue), type: parsed[1], id: parsed[2] };
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

/**
 * `[low, high]` of an entry against the value range by prefix `op`, mirroring `matchPredicate` of
 * the core. `ap` widens the value by 10% of its magnitude (at least the value range itself).
 */
function rangeSql(alias: string, op: RangeOp, low: number, high: number, params: unknown[]): string {
  const lo = `${alias}.low`;
  const hi = `${alias}.high`;
  switch (op) {
    case 'eq':
      params.push(low, high);
      return `(${lo} >= ? AND ${hi} <= ?)`;
    case 'ne':
      params.push(low, high);
      return `NOT (${lo} >= ? AND ${hi} <= ?)`;
    case 'gt':
      params.push(high);
      return `${hi} > ?`;
    case 'lt':
      params.push(low);
      return `${lo} < ?`;
    case 'ge':
      params.push(low);
      return `${hi} >= ?`;
    case 'le':
      params.push(high);
      return `${lo} <= ?`;
    case 'sa':
      params.push(high);
      return `${lo} > ?`;
    case 'eb':
      params.push(low);
      return `${hi} < ?`;
    case 'ap': {
      const [wLow, wHigh] = approximateRange(low, high);
      params.push(wHigh, wLow);
      return `(${lo} <= ? AND ${hi} >= ?)`;
    }
  }
}

/** The value range `ap` compares against: widened by 10% of the value on each side. */
export function approximateRange(low: number, high: number): [number, number] {
  const mid = Number.isFinite(low) && Number.isFinite(high) ? (low + high) / 2 : Number.isFinite(low) ? low : high;
  const delta = Math.abs(mid) * 0.1;
  return [low - delta, high + delta];
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
          params.push(p.exact);
          return `${x}.exact = ?`;
      }
      break;
    case 'date':
    case 'number':
      return rangeSql(x, p.op, p.low, p.high, params);
    case 'quantity': {
      const parts = [rangeSql(x, p.op, p.low, p.high, params)];
      if (p.system === null) parts.push(`${x}.system IS NULL`);
      else if (p.system !== undefined) {
        parts.push(`${x}.system = ?`);
        params.push(p.system);
      }
      if (p.code === null) parts.push(`${x}.code IS NULL`);
      else if (p.code !== undefined) {
        parts.push(`${x}.code = ?`);
        params.push(p.code);
      }
      return parts.join(' AND ');
    }
    case 'reference': {
      const local: string[] = [];
      if (p.targetId !== undefined) {
        local.push(`${x}.target_id = ?`);
        params.push(p.targetId);
        if (p.targetType !== undefined) {
          local.push(`${x}.target_type = ?`);
          params.push(p.targetType);
        }
      }
      const alternatives: string[] = [];
      if (local.length > 0) alternatives.push(local.join(' AND '));
      if (p.url !== undefined) {
        alternatives.push(`${x}.url = ?`);
        params.push(p.url);
      }
      if (alternatives.length === 0) {
        if (p.targetType !== undefined) {
          params.push(p.targetType);
          return `${x}.target_type = ?`;
        }
        return '0';
      }
      return alternatives.length === 1 ? (alternatives[0] as string) : `(${alternatives.join(' OR ')})`;
    }
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
      return p.code !== undefined ? 3 : p.system !== undefined ? 1 : 0;
    case 'text':
      return p.folded.length >= 2 ? 2 : p.folded.length === 1 ? 1 : 0;
    case 'string':
      if (p.match === 'exact') return 3;
      if (p.match === 'prefix') return p.folded.length >= 2 ? 2 : p.folded.length === 1 ? 1 : 0;
      return 0;
    case 'reference':
      return p.targetId !== undefined || p.url !== undefined ? 3 : 1;
    case 'uri':
      return p.match === 'exact' ? 3 : p.match === 'below' ? 1 : 0;
    case 'date':
    case 'number':
    case 'quantity':
      return p.op === 'eq' && Number.isFinite(p.low) && Number.isFinite(p.high) ? 1 : 0;
  }
}

function clauseScore(c: Clause): number {
  if (c.kind !== 'any' || c.of.length === 0) return 0;
  if (new Set(c.of.map((p) => p.kind)).size !== 1) return 0;
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

/** `EXISTS` probe: resource `r` has an entry of `param` in `kind`'s table matching `preds`. */
function existsSql(kind: IndexEntryKind, param: string, preds: readonly Predicate[] | undefined, params: unknown[]): string {
  const table = tableOf(kind);
  params.push(param);
  let sql = `EXISTS (SELECT 1 FROM ${table} x INDEXED BY ${table}_res WHERE x.res_type = r.res_type AND x.res_id = r.res_id AND x.param = ?`;
  if (preds) sql += ` AND (${preds.map((p) => predicateSql(p, 'x', params)).join(' OR ')})`;
  return `${sql})`;
}

/** Driving `IN`: resource `r` is among the resources with a matching entry (value-index scan). */
function drivingSql(kind: IndexEntryKind, param: string, preds: readonly Predicate[], params: unknown[]): string {
  const table = tableOf(kind);
  params.push(param);
  const where = preds.map((p) => predicateSql(p, 'x', params)).join(' OR ');
  return `(r.res_type, r.res_id) IN (SELECT x.res_type, x.res_id FROM ${table} x WHERE x.param = ? AND (${where}))`;
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
      const parts = [...byKind(c.of)].map(([kind, preds]) => `NOT ${existsSql(kind, c.param, preds, params)}`);
      return parts.join(' AND ');
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

/** The per-resource value expression of one kind for a sort direction. */
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
      return `${agg}(CASE WHEN x.target_id IS NOT NULL THEN coalesce(x.target_type, '') || '/' || x.target_id ELSE x.url END)`;
    case 'uri':
      return `${agg}(x.value)`;
  }
}

function sortSql(key: SortKey, kindsOf: KindsOf, params: unknown[]): string {
  if (key.param === '_id') return 'r.res_id';
  const kinds = kindsOf(key.param);
  if (kinds.length === 0) return 'NULL';
  const parts = kinds.map((kind) => {
    const table = tableOf(kind);
    params.push(key.param);
    return `(SELECT ${sortValueExpr(kind, key.descending)} FROM ${table} x INDEXED BY ${table}_res WHERE x.res_type = r.res_type AND x.res_id = r.res_id AND x.param = ?)`;
  });
  return parts.length === 1 ? (parts[0] as string) : `coalesce(${parts.join(', ')})`;
}

// ---------------------------------------------------------------------------------------------
// The query
// ---------------------------------------------------------------------------------------------

/** Compiles `query` to SQL. */
export function compileSearch(query: StorageQuery, kindsOf: KindsOf): CompiledSearch {
  // WHERE over `resource r`.
  const whereParams: unknown[] = [];
  const where: string[] = ['r.deleted = 0'];
  if (query.types.length > 0) {
    where.push(`r.res_type IN (${query.types.map(() => '?').join(', ')})`);
    whereParams.push(...query.types);
  }
  if (query.maxSeq !== undefined) {
    where.push('r.seq <= ?');
    whereParams.push(query.maxSeq);
  }

  // The driver: the best indexable `any` clause, unless an `ids` clause already pins the rows.
  let driver = -1;
  if (!query.where.some((c) => c.kind === 'ids')) {
    let best = 1;
    query.where.forEach((c, i) => {
      const score = clauseScore(c);
      if (score > best) {
        best = score;
        driver = i;
      }
    });
  }
  query.where.forEach((c, i) => {
    if (i === driver && c.kind === 'any') {
      where.push(drivingSql((c.of[0] as Predicate).kind, c.param, c.of, whereParams));
    } else {
      where.push(clauseSql(c, kindsOf, whereParams));
    }
  });
  const whereSql = where.join(' AND ');

  // Sort columns.
  const sortParams: unknown[] = [];
  const sortExprs = query.sort.map((key) => sortSql(key, kindsOf, sortParams));
  const directions = query.sort.map((key) => (key.descending ? 'DESC' : 'ASC'));
  const sortColumns = sortExprs.length;

  const inner =
    `SELECT r.res_type AS t, r.res_id AS i, r.seq AS q, r.version_id AS vid` +
    sortExprs.map((e, n) => `, ${e} AS s${n}`).join('') +
    ` FROM resource r WHERE ${whereSql}`;

  // Keyset condition over (s0…, t, i): s-columns by their direction with NULLs last; t, i ascending.
  const keysetParams: unknown[] = [];
  let keyset = '';
  if (query.after !== undefined) {
    const pos = decodePosition(query.after, sortColumns);
    const cols: { col: string; desc: boolean; value: SortValue; nullable: boolean }[] = [
      ...pos.values.map((value, n) => ({ col: `s${n}`, desc: query.sort[n]?.descending ?? false, value, nullable: true })),
      { col: 't', desc: false, value: pos.type, nullable: false },
      { col: 'i', desc: false, value: pos.id, nullable: false },
    ];
    const alternatives: string[] = [];
    const equalSoFar: string[] = [];
    const equalParams: unknown[] = [];
    for (const c of cols) {
      // "c comes after value" (strictly), given equality on all previous columns.
      let after: string | undefined;
      const afterParams: unknown[] = [];
      if (c.value === null) {
        after = undefined; // nothing sorts after a missing value
      } else {
        after = `(${c.col} ${c.desc ? '<' : '>'} ?${c.nullable ? ` OR ${c.col} IS NULL` : ''})`;
        afterParams.push(c.value);
      }
      if (after !== undefined) {
        alternatives.push([...equalSoFar, after].join(' AND '));
        keysetParams.push(...equalParams, ...afterParams);
      }
      if (c.value === null) {
        equalSoFar.push(`${c.col} IS NULL`);
      } else {
        equalSoFar.push(`${c.col} = ?`);
        equalParams.push(c.value);
      }
    }
    keyset = alternatives.length === 0 ? ' WHERE 0' : ` WHERE (${alternatives.map((a) => `(${a})`).join(' OR ')})`;
  }

  const orderBy = (prefix: string): string =>
    [
      ...sortExprs.map((_, n) => `${prefix}s${n} ${directions[n]} NULLS LAST`),
      `${prefix}t ASC`,
      `${prefix}i ASC`,
    ].join(', ');
  const order = orderBy('');
  const orderK = orderBy('k.');

  const sql =
    `SELECT k.*, v.last_updated AS lu, v.method AS method, v.deleted AS deleted, ${query.keysOnly ? 'NULL' : 'v.json'} AS json FROM (` +
    `SELECT * FROM (${inner})${keyset} ORDER BY ${order} LIMIT ?` +
    `) k JOIN resource_version v ON v.seq = k.q ORDER BY ${orderK}`;
  const params = [...sortParams, ...whereParams, ...keysetParams, Math.max(0, Math.floor(query.limit))];

  const compiled: CompiledSearch = { sql, params, sortColumns };
  if (query.total) {
    return {
      ...compiled,
      countSql: `SELECT count(*) AS n FROM resource r WHERE ${whereSql}`,
      countParams: [...whereParams],
    };
  }
  return compiled;
}
