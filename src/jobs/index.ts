/**
 * Background jobs: the runner contract, the in-process runner, the job state machine and the
 * bulk-delete handler with its operations.
 * @packageDocumentation
 */
export type { AnyJobHandler, JobContext, JobHandler, JobHost, JobListener, JobRunner, PlannedJob, StepOutcome } from './job-runner.js';
export { TRANSITIONS, canTransition, isTerminal, transition, nextRevision, InvalidTransitionError } from './job-state.js';
export {
  DEFAULT_LEASE_MS,
  DEFAULT_POLL_INTERVAL_MS,
  InProcessJobRunner,
  JobRunnerStoppedError,
  type InProcessJobRunnerOptions,
} from './in-process-runner.js';
export {
  BULK_DELETE,
  bulkDeleteHandler,
  criteriaPairs,
  type BulkDeleteMode,
  type BulkDeleteParams,
  type BulkDeleteRequest,
  type BulkDeleteState,
  type CriteriaInput,
} from './bulk-delete.js';
export {
  bulkDeleteParameters,
  bulkDeleteReport,
  bulkDeleteRequestOf,
  bulkDeleteStatus,
  bulkDeleteStatusUrl,
  cancelBulkDelete,
  kickOffBulkDelete,
} from './operations.js';
export { resolveCriteria, type ResolvedCriteria } from './criteria.js';
