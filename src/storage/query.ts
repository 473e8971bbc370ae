/**
 * The search query an adapter evaluates: a typed AST built by the core from a FHIR query string.
 * Values are already normalised with the same functions that produced the {@link IndexEntry}s, so an
 * adapter only compares. Chains and `_has` never reach an adapter: the core resolves them into
 * reference predicates first. `_include`, `_revinclude`, `_elements` and `_summary` are the core's.
 *
 * @packageDocumentation
 */
import type { StoredVersion } from './stored-version.js';

/** Prefix of a date, number or quantity comparison (FHIR search.html §3.1.1.4). */
export type RangeOp = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

/**
 * One value a clause may match. Semantics, for an index entry `e` of the clause's parameter:
 * - `token`: `code` equal (when given) and `system` equal (when not `undefined`; `null` = "no system").
 * - `text`: `e.folded` (a text entry) starts with `folded`.
 * - `string`: `match: 'prefix'` → `e.folded` starts with `folded`; `'contains'` → contains `folded`;
 *   `'exact'` → `e.exact === exact`.
 * - `date`/`number`/`quantity`: the entry range `[e.low, e.high]` against the value range
 *   `[low, high]` by `op`, as the table `RANGE_PREFIXES` defines (`eq`: the value contains the entry;
 *   `gt`: `e.high > high`; …), from which `compareRange`, `rangeSql` and `rangeWindow` derive.
 *   Quantities also require `system`/`code` equality when given.
 * - `reference`: `targetId` equal and `targetType` equal when given; or `url` equal when given.
 * - `uri`: `exact` equality, `above`/`below` by URL path prefix.
 */
export type Predicate =
  | { readonly kind: 'token'; readonly system?: string | null; readonly code?: string }
  | { readonly kind: 'text'; readonly folded: string }
  | {
      readonly kind: 'string';
      readonly match: 'prefix' | 'contains' | 'exact';
      readonly folded: string;
      readonly exact: string;
    }
  | { readonly kind: 'date' | 'number'; readonly op: RangeOp; readonly low: number; readonly high: number }
  | {
      readonly kind: 'quantity';
      readonly op: RangeOp;
      readonly low: number;
      readonly high: number;
      readonly system?: string | null;
      readonly code?: string | null;
    }
  | {
      readonly kind: 'reference';
      readonly targetType?: string;
      readonly targetId?: string;
      readonly url?: string;
    }
  | { readonly kind: 'uri'; readonly match: 'exact' | 'above' | 'below'; readonly value: string };

/**
 * One AND-ed condition on a resource.
 * - `any`: at least one index entry of `param` matches at least one predicate (comma = OR).
 * - `none`: no index entry of `param` matches any predicate (`:not`); resources without the
 *   parameter match.
 * - `missing`: `missing: true` matches resources with no entry for `param`; `false` those with one.
 * - `ids`: the resource id is one of `ids` (how the core hands over resolved chains and `_has`).
 */
export type Clause =
  | { readonly kind: 'any'; readonly param: string; readonly of: readonly Predicate[] }
  | { readonly kind: 'none'; readonly param: string; readonly of: readonly Predicate[] }
  | { readonly kind: 'missing'; readonly param: string; readonly missing: boolean }
  | { readonly kind: 'ids'; readonly ids: readonly string[] };

/**
 * A sort key. The value compared is, per resource, the smallest index value of `param` for an
 * ascending sort and the largest for a descending one (search.html §3.1.1.5.7): `folded` for
 * strings, `code` for tokens, `low`/`high` for ranges, `targetType/targetId` for references.
 * Resources without a value sort last in both directions. The core always appends `_id` ascending
 * as a unique tiebreaker.
 */
export interface SortKey {
  readonly param: string;
  readonly descending: boolean;
}

/** A search, as an adapter sees it. */
export interface StorageQuery {
  /** Resource types searched: one for a type-level search, several for `_type` or system level. */
  readonly types: readonly string[];
  /** AND of clauses; empty matches every current, non-deleted resource of `types`. */
  readonly where: readonly Clause[];
  /** Sort keys, most significant first; `[]` means any stable order (the adapter's choice). */
  readonly sort: readonly SortKey[];
  /** Return at most this many hits. */
  readonly limit: number;
  /** Continue after the hit whose `position` this is (keyset paging); absent starts at the top. */
  readonly after?: string;
  /** Also count every match, ignoring `limit` and `after`. */
  readonly total?: boolean;
  /** Hits need no `json` (conditional interactions, bulk jobs); adapters may leave it undefined. */
  readonly keysOnly?: boolean;
  /** Only resources whose current version has `seq <= maxSeq` (bulk-delete snapshot). */
  readonly maxSeq?: number;
}

/** One search match: the current version plus its keyset position. */
export interface SearchHit extends StoredVersion {
  /**
   * Opaque position of this hit in the query's order; passing it back as `after` continues with
   * the next hit. It must stay valid when other resources are written between pages.
   */
  readonly position: string;
}

/** A page of search matches. */
export interface SearchHits {
  readonly hits: readonly SearchHit[];
  /** Number of matches in all, when the query asked for `total`. */
  readonly total?: number;
}
