/**
 * Bulk export files in a directory, for fhir-engine's `$export` (Node.js only).
 *
 * @example
 * ```ts
 * import { DirectoryExportSink } from 'fhir-engine/adapters/directory-export';
 * const engine = new FhirEngine({ storage, exportSink: new DirectoryExportSink('./data/export') });
 * ```
 *
 * @packageDocumentation
 */
export { DirectoryExportSink, type DirectoryExportSinkOptions } from './directory-export-sink.js';
