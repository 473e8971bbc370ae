/**
 * `fhir-engine/adapters/memory`: everything in process memory, for tests and small data sets.
 *
 * @example
 * ```ts
 * import { MemoryAdapter } from 'fhir-engine/adapters/memory';
 * const engine = new FhirEngine({ storage: new MemoryAdapter() });
 * ```
 *
 * @packageDocumentation
 * @module fhir-engine/adapters/memory
 */
export { MemoryAdapter, type MemoryAdapterOptions } from './memory-adapter.js';
