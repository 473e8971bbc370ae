/**
 * The storage adapter conformance kit: `runAdapterConformance(name, makeAdapter, runner)` registers
 * the whole suite (the storage contract, the engine's FHIR behaviour on the adapter, bundles,
 * `$bulk-delete` jobs and search, with a differential test against `matchClause`) with your test
 * runner. Its fixtures are inside the package; a larger differential corpus can be passed in.
 *
 * @example
 * ```ts
 * import * as vitest from 'vitest';
 * import { runAdapterConformance } from 'fhir-engine/testing';
 * runAdapterConformance('my-adapter', async () => new MyAdapter(), vitest);
 * ```
 *
 * @packageDocumentation
 * @module fhir-engine/testing
 */
export { runAdapterConformance, patientWrite, type ConformanceOptions } from './adapter-conformance.js';
export type { ExpectLike, TestApi } from './api.js';
export { smallCorpus, type DifferentialCorpus } from './search-cases.js';
