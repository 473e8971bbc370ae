/**
 * FHIR search: parameter registry, index extraction, query parsing, matching and the search service.
 * @packageDocumentation
 */
export { SearchParameterRegistry, branchesFor, splitUnion, type SearchParameterDefinition, type CompositeComponent } from './registry.js';
export { CompositeEvaluator, type CompiledComposite, type CompositeValue } from './composite.js';
export { IndexExtractor, compileDirect, normalizeValue, type CompiledParameter, type IndexExtractorOptions } from './extract.js';
export { fold, dateRange, numberRange, jsonNumberRange, parseReference, type ParsedReference } from './normalize.js';
export { matchClause, matchPredicate, matchAll } from './match.js';
export { RANGE_PREFIXES, compareRange, rangeSql, rangeWindow, type RangeBound, type RangeComparison, type RangeCondition } from './ranges.js';
export { sortValue, compareSortValues, comparePositions, type SortValue, type SortPosition } from './sort.js';
export { encodePosition, decodePosition } from './position.js';
export {
  SearchParser,
  CONTROL_PARAMS,
  splitEscaped,
  type ParsedSearch,
  type ChainSpec,
  type HasSpec,
  type CompositeSpec,
  type IncludeSpec,
  type ParseOptions,
} from './parse.js';
export { SearchService, type SearchRequest, type SearchLimits } from './service.js';
