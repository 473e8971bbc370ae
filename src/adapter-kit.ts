/**
 * Everything a storage adapter (or a bulk export sink) needs from the core, in one module
 * (re-exported from the package root): the storage contract, the export sink contract, the
 * reference semantics of search that adapters either call (an in-memory adapter) or translate (a
 * SQL adapter), and the shared encodings. The adapters of this repository import the core through
 * this module only.
 *
 * For a SQL adapter: string predicates carry values already {@link fold}ed (fold `:exact` values the
 * same way to use a folded index); {@link rangeSql} renders date, number and quantity prefixes from
 * {@link RANGE_PREFIXES}; sort values follow {@link sortValue} and {@link compareSortValues}; hit
 * positions are written and read with {@link encodePosition} and {@link decodePosition}.
 * @packageDocumentation
 */
export * from './storage/index.js';
export { fold } from './search/normalize.js';
export { matchAll, matchClause, matchPredicate } from './search/match.js';
export {
  RANGE_PREFIXES,
  compareRange,
  rangeSql,
  rangeWindow,
  type RangeBound,
  type RangeComparison,
  type RangeCondition,
} from './search/ranges.js';
export { compareSortValues, comparePositions, sortValue, type SortPosition, type SortValue } from './search/sort.js';
export { decodePosition, encodePosition } from './search/position.js';
export { MemoryExportSink, type ExportFileWriter, type ExportSink } from './export/sink.js';
