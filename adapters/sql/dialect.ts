/**
 * What differs between the SQL databases the search compiler targets, in the manner of Kysely's
 * dialects: the compiler (`search.ts`) writes one query shape and asks a {@link SqlDialect} for the
 * few pieces of syntax that differ, and a {@link SearchLayout} for the tables it reads. Values never
 * enter the SQL text: they go through {@link BoundParams}, which hands back the dialect's placeholder.
 *
 * @packageDocumentation
 */
import type { IndexEntryKind } from '../../src/adapter-kit.js';

/** The SQL type of a bound value, for dialects whose placeholders carry one (PostgreSQL's `$1::text`). */
export type ParamType = 'text' | 'float' | 'int' | 'text[]';

/** Syntax that differs between databases. */
export interface SqlDialect {
  /** The placeholder of the `index`-th bound value (1-based), e.g. `?3` or `$3::text`. */
  placeholder(index: number, type: ParamType): string;
  /** Boolean literals as the database writes them in a `WHERE` clause. */
  readonly true: string;
  readonly false: string;
  /** True when the text `haystack` contains the text `needle` (both SQL expressions). */
  contains(haystack: string, needle: string): string;
  /** True when `column` equals one of `values` (a bound list, e.g. `= ANY($1::text[])` or `json_each`). */
  inList(column: string, values: readonly string[], params: BoundParams): string;
  /** The smallest / largest non-NULL argument, NULL when all are NULL (PostgreSQL's `LEAST`/`GREATEST`). */
  least(args: readonly string[]): string;
  greatest(args: readonly string[]): string;
  /**
   * `select` as a subquery the planner computes once and does not merge into the query around it
   * (PostgreSQL `… OFFSET 0`), so that columns derived from its columns do not compute them again.
   */
  fence(select: string): string;
}

/**
 * The tables a search reads. Current resources are aliased `r` and have the columns `res_type`,
 * `res_id`, `seq` and `version_id`; versions (joined on `seq`) have `last_updated`, `method` and
 * `json`; index tables have `param` and the value columns of their kind (see `KIND_COLUMNS`).
 */
export interface SearchLayout {
  /** The `FROM` item of current resources, aliased `r`. */
  readonly resources: string;
  /** The `FROM` item of stored versions, aliased `v`. */
  readonly versions: string;
  /** True for a row of `r` that is neither a tombstone nor hard-deleted. */
  readonly live: string;
  /** The table (qualified name) holding index entries of `kind`. */
  indexTable(kind: IndexEntryKind): string;
  /** A condition restricting index rows aliased `x` (of `kind`) to those of resource `r`. */
  ownRows(kind: IndexEntryKind, x: string): string;
  /**
   * Optional: the `FROM` item of a per-resource probe of `kind`'s rows, aliased `x` (a correlated
   * `EXISTS` or sort value restricted by {@link ownRows}), when the table name alone is not it, e.g.
   * with an index hint. Default: `indexTable(kind) x`.
   */
  probeFrom?(kind: IndexEntryKind, x: string): string;
  /**
   * Optional: resource `r` owns one of the rows of `kind`'s table that `where` selects (over alias
   * `x`), as an uncorrelated semi-join the `(param, value…)` index answers, e.g.
   * `(r.res_type, r.res_id) IN (SELECT x.res_type, x.res_id FROM ix_token x WHERE …)`. A layout that
   * has it gets its queries driven by their most selective clause (see `compileSearch`): for a
   * database whose planner does not choose that order itself (SQLite). PostgreSQL's does.
   */
  semiJoin?(kind: IndexEntryKind, where: string): string;
  /**
   * The kinds a parameter may have entries in, for clauses and sort keys that do not name one
   * (`missing`, `_sort`). A superset is fine; see {@link kindGate}.
   */
  kindsOf(param: string): readonly IndexEntryKind[];
  /**
   * Optional: a condition, evaluated once per query (no reference to `r`), that is false when no
   * resource has an entry of `kind` for `param`. A layout whose {@link kindsOf} returns every kind
   * uses it so that absent kinds cost nothing per row.
   */
  kindGate?(kind: IndexEntryKind, param: string, params: BoundParams): string;
}

/** A dialect and a layout: everything the search compiler needs to know about a database. */
export interface SqlTarget {
  readonly dialect: SqlDialect;
  readonly layout: SearchLayout;
}

/**
 * Collects bound values. Placeholders are numbered (PostgreSQL `$n`, SQLite `?n`), so fragments may
 * be assembled in any order.
 */
export class BoundParams {
  readonly values: unknown[] = [];

  constructor(private readonly dialect: SqlDialect) {}

  /** Binds `value` and returns its placeholder. */
  add(value: unknown, type: ParamType): string {
    this.values.push(value);
    return this.dialect.placeholder(this.values.length, type);
  }

  text(value: string): string {
    return this.add(value, 'text');
  }

  float(value: number): string {
    return this.add(value, 'float');
  }

  int(value: number): string {
    return this.add(value, 'int');
  }
}
