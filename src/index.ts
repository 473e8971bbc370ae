/**
 * `fhir-engine`: the engine (`FhirEngine`), its errors, clocks and limits, the HTTP-shaped
 * `handle()` types and hooks, and the FHIR shapes of the typed API: for application authors.
 * Beside them, in the category for adapter authors, the storage contract and the core's search
 * semantics and encodings an adapter computes or translates (`src/adapter-kit.ts`).
 *
 * @packageDocumentation
 * @module fhir-engine
 */
export { FhirEngine, type FhirEngineOptions, type WriteResult, type DeleteResult, type PatchInput } from './engine.js';
export type {
  AcceptedResource,
  AnyResource,
  BundleInput,
  BundleLink,
  CapabilityResource,
  CapabilitySearchParam,
  CapabilityStatement,
  Given,
  IsTyped,
  HistoryBundle,
  HistoryEntry,
  ResourceOfType,
  ResourceType,
  SearchBundle,
  SearchEntry,
} from './resource/shapes.js';
export { FhirError, isFhirError, operationOutcome } from './errors.js';
export { fixedClock, randomIds, sequentialIds, systemClock, type Clock, type IdGenerator } from './clock.js';
export { DEFAULT_LIMITS, type Limits, type ValidationMode } from './interactions/context.js';
export type { HistoryOptions } from './interactions/history.js';
export type { WriteKind } from './interactions/result.js';
export type { FhirHttpRequest, FhirHttpResponse } from './http/handle.js';
export type { Logger, RequestHooks, ResponseInfo } from './http/hooks.js';
export type { Coding, IssueCode, Meta, OperationOutcome, OperationOutcomeIssue, Resource } from './resource/resource.js';
export { SearchParameterRegistry, type SearchParameterDefinition, type CompositeComponent } from './search/registry.js';
export { IndexExtractor, type CompiledBranch, type CompiledParameter, type IndexExtractorOptions } from './search/extract.js';
export * from './adapter-kit.js';
export { BULK_DELETE, InProcessJobRunner, JobRunnerStoppedError, TRANSITIONS, canTransition, isTerminal, type AnyJobHandler, type BulkDeleteMode, type BulkDeleteParams, type BulkDeleteRequest, type BulkDeleteState, type CriteriaInput, type InProcessJobRunnerOptions, type JobContext, type JobHandler, type JobHost, type JobListener, type JobRunner, type PlannedJob, type StepOutcome } from './jobs/index.js';
export type { EntryResponse, ResponseBundle, ResponseEntry } from './bundle/index.js';
export { BULK_EXPORT, type BulkExportRequest, type BulkExportParams, type BulkExportState, type ExportPart, type ExportFileState } from './export/export-job.js';
export type { ExportManifest, ExportManifestOutput } from './export/manifest.js';
export { COMPARTMENT_PARAM, CompartmentTable, type CompartmentSources } from './search/compartments.js';
export type { IncludeSpec } from './search/parse.js';
