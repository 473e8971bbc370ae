/**
 * Search index entries: what the core extracts from a resource on every write, and what adapters
 * store and query. The core decides *what* is indexed and normalises every value once, here, so that
 * query-time comparison is plain equality or a range check on every adapter.
 *
 * Normalisation rules (shared by extraction and query parsing):
 * - `string`: `folded` is NFD with diacritics stripped and lower-cased (for the default starts-with
 *   match and `:contains`); `exact` keeps the original text (for `:exact`).
 * - `token`: `system` is `null` when the coding has none; `code` is kept as written.
 * - `date`, `number`, `quantity`: `[low, high]` inclusive ranges. Dates are epoch milliseconds derived
 *   from the value's precision (`1980` covers the whole year), open period ends are ±Infinity.
 * - `reference`: relative `Type/id` split into `targetType`/`targetId` (version stripped); absolute
 *   URLs that are not local are kept in `url`.
 *
 * @packageDocumentation
 */

/** A token: `Coding`, `Identifier`, `code`, `boolean`, `ContactPoint`… */
export interface TokenEntry {
  readonly param: string;
  readonly kind: 'token';
  readonly system: string | null;
  readonly code: string;
}

/** Display text of a token (`:text` modifier), folded like a string. */
export interface TextEntry {
  readonly param: string;
  readonly kind: 'text';
  readonly folded: string;
}

/** A string value: folded for starts-with/contains, exact for `:exact`. */
export interface StringEntry {
  readonly param: string;
  readonly kind: 'string';
  readonly folded: string;
  readonly exact: string;
}

/** A date, dateTime, instant or Period as an inclusive range of epoch milliseconds. */
export interface DateEntry {
  readonly param: string;
  readonly kind: 'date';
  readonly low: number;
  readonly high: number;
}

/** A number as the inclusive range given by its implicit precision. */
export interface NumberEntry {
  readonly param: string;
  readonly kind: 'number';
  readonly low: number;
  readonly high: number;
}

/** A Quantity (or Money, Age, Duration…) as a range plus its unit system and code. */
export interface QuantityEntry {
  readonly param: string;
  readonly kind: 'quantity';
  readonly low: number;
  readonly high: number;
  readonly system: string | null;
  readonly code: string | null;
}

/** A reference: local (`targetType`/`targetId`) or external (`url`). */
export interface ReferenceEntry {
  readonly param: string;
  readonly kind: 'reference';
  readonly targetType: string | null;
  readonly targetId: string | null;
  readonly url: string | null;
}

/** A uri/url/canonical value, kept exactly. */
export interface UriEntry {
  readonly param: string;
  readonly kind: 'uri';
  readonly value: string;
}

/** One index entry of one resource version. */
export type IndexEntry =
  | TokenEntry
  | TextEntry
  | StringEntry
  | DateEntry
  | NumberEntry
  | QuantityEntry
  | ReferenceEntry
  | UriEntry;

/** The kinds of index entry, one per storage table or posting map. */
export type IndexEntryKind = IndexEntry['kind'];
