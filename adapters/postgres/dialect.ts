/**
 * The PostgreSQL {@link SqlDialect} and the {@link SearchLayout} of `schema.ts`, for the shared
 * search compiler in `adapters/sql/`.
 * @packageDocumentation
 */
import type { IndexEntryKind } from '../../src/storage/index-entry.js';
import type { BoundParams, ParamType, SearchLayout, SqlDialect } from '../sql/dialect.js';
import { INDEX_KINDS } from '../sql/predicates.js';
import type { SqlTarget } from '../sql/search.js';

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

/** The compiler target for a schema. */
export const postgresTarget = (s: string): SqlTarget => ({ dialect: postgresDialect, layout: postgresLayout(s) });
