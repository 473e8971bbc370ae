/**
 * The PostgreSQL {@link SqlDialect} and the {@link SearchLayout} of `schema.ts`, for the shared
 * search compiler in `adapters/sql/`.
 * @packageDocumentation
 */
import type {
  Clause,
  IndexEntryKind,
  Predicate,
  StorageQuery,
} from '../../src/adapter-kit.js';
import type { BoundParams, ParamType, SearchLayout, SqlDialect, SqlTarget } from '../sql/dialect.js';
import { INDEX_KINDS } from '../sql/predicates.js';

const CASTS: Readonly<Record<ParamType, string>> = { text: 'text', float: 'float8', int: 'int8', 'text[]': 'text[]' };

/** PostgreSQL syntax. Placeholders carry a cast, so that every parameter has a known type. */
export const postgresDialect: SqlDialect = {
  placeholder: (index, type) => `$${index}::${CASTS[type]}`,
  true: 'TRUE',
  false: 'FALSE',
  contains: (haystack, needle) => `strpos(${haystack}, ${needle}) > 0`,
  inList: (column, values, params) => `${column} = ANY(${params.add(values, 'text[]')})`,
  least: (args) => `LEAST(${args.join(', ')})`,
  greatest: (args) => `GREATEST(${args.join(', ')})`,
  fence: (select) => `${select} OFFSET 0`,
};

/**
 * The search layout of a schema (`s`: the quoted schema name). Index rows refer to resources by
 * `rid`. Which kinds a parameter has entries in is not tracked: `missing` and sort keys consider
 * every kind, each behind a gate the planner evaluates once per query (an index probe on
 * `(param, …)`), so that kinds without entries for the parameter cost nothing per row.
 */
export function postgresLayout(s: string): SearchLayout {
  const table = (kind: IndexEntryKind): string => `${s}.ix_${kind}`;
  return {
    resources: `${s}.resource r`,
    versions: `${s}.version v`,
    live: 'NOT r.deleted',
    indexTable: table,
    ownRows: (_kind, x) => `${x}.rid = r.rid`,
    kindsOf: () => INDEX_KINDS,
    kindGate: (kind: IndexEntryKind, param: string, params: BoundParams) =>
      `EXISTS (SELECT 1 FROM ${table(kind)} g WHERE g.param = ${params.text(param)})`,
  };
}

/**
 * PostgreSQL text cannot hold U+0000 (FHIR strings may not either, but a request can carry one).
 * Index values and the values of a query map it to U+FFFD, the same way on both sides and before
 * the compiler derives anything from them (prefix ranges), so that such a value is stored and
 * matched instead of failing the statement; the resource JSON keeps it (escaped by JSON).
 */
export function pgText<T>(value: T): T {
  if (typeof value === 'string') return (value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value) as T;
  if (Array.isArray(value)) return (value.some((v) => typeof v === 'string' && v.includes('\u0000')) ? value.map(pgText) : value) as T;
  return value;
}

const hasNul = (v: unknown): boolean =>
  typeof v === 'string' ? v.includes('\u0000') : typeof v === 'object' && v !== null && Object.values(v).some(hasNul);

/** {@link pgText} over every text value of a query (the query itself when none holds U+0000). */
export function pgQuery(query: StorageQuery): StorageQuery {
  if (!hasNul(query.types) && !hasNul(query.where) && !hasNul(query.sort)) return query;
  const text = (p: Predicate): Predicate =>
    Object.fromEntries(Object.entries(p).map(([k, v]) => [k, k === 'kind' || k === 'match' || k === 'op' ? v : pgText(v)])) as unknown as Predicate;
  const where = query.where.map((c): Clause => {
    switch (c.kind) {
      case 'any':
      case 'none':
        return { ...c, param: pgText(c.param), of: c.of.map(text) };
      case 'missing':
        return { ...c, param: pgText(c.param) };
      case 'ids':
        return { ...c, ids: pgText(c.ids) };
    }
  });
  return { ...query, types: pgText(query.types), where, sort: query.sort.map((k) => ({ ...k, param: pgText(k.param) })) };
}

/** The compiler target for a schema. */
export const postgresTarget = (s: string): SqlTarget => ({ dialect: postgresDialect, layout: postgresLayout(s) });
