/**
 * The bulk-delete operations (Azure-compatible) as interactions: kick-off (`DELETE
 * [type]/$bulk-delete`), status (`GET _operations/bulk-delete/{id}`) and cancel (`DELETE
 * _operations/bulk-delete/{id}`). The HTTP edge adds `Content-Location` and `X-Progress`.
 * @packageDocumentation
 */
import { badRequest, FhirError, operationOutcome } from '../errors.js';
import type { Criteria, InteractionRequest } from '../interactions/request.js';
import type { JobAccepted, JobCancelRequested, JobStatus } from '../interactions/result.js';
import type { OperationOutcomeIssue, Resource } from '../resource/resource.js';
import type { JobRecord } from '../storage/job-record.js';
import { BULK_DELETE, type BulkDeleteRequest } from './bulk-delete.js';
import type { JobRunner } from './job-runner.js';

const HARD = new Set(['_hardDelete', 'hardDelete']);
const PURGE = new Set(['_purgeHistory']);
const REMOVE_REFERENCES = new Set(['_remove-references']);
const EXCLUDED = 'excludedResourceTypes';

function flag(params: Criteria, names: ReadonlySet<string>): boolean {
  let value = false;
  for (const [k, v] of params) {
    if (!names.has(k)) continue;
    const lower = v.trim().toLowerCase();
    if (lower !== 'true' && lower !== 'false') throw badRequest(`The "${k}" parameter must be true or false.`, [k]);
    value = value || lower === 'true';
  }
  return value;
}

/** The bulk-delete request a kick-off URL describes. */
export function bulkDeleteRequestOf(type: string | undefined, params: Criteria): BulkDeleteRequest {
  const excluded = params
    .filter(([k]) => k === EXCLUDED)
    .flatMap(([, v]) => v.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    ...(type !== undefined && { type }),
    criteria: params.filter(([k]) => !HARD.has(k) && !PURGE.has(k) && !REMOVE_REFERENCES.has(k) && k !== EXCLUDED),
    hardDelete: flag(params, HARD),
    purgeHistory: flag(params, PURGE),
    removeReferences: flag(params, REMOVE_REFERENCES),
    excludedResourceTypes: excluded,
  };
}

/** Where the status of a bulk-delete job is polled (the route of {@link bulkDeleteStatus}). */
export const bulkDeleteStatusUrl = (baseUrl: string, job: JobRecord): string => `${baseUrl}/_operations/bulk-delete/${job.id}`;

const notFoundJob = (id: string): FhirError => new FhirError(404, 'not-found', `The requested job "${id}" was not found.`);

const issue = (severity: OperationOutcomeIssue['severity'], code: OperationOutcomeIssue['code'], text: string): OperationOutcomeIssue => ({
  severity,
  code,
  diagnostics: text,
});

/** `Parameters` with `ResourceDeletedCount` (one part per type) and optional `Issues`. */
export function bulkDeleteParameters(job: JobRecord, issues: readonly OperationOutcomeIssue[] = []): Resource {
  const parameter: Record<string, unknown>[] = [];
  const parts = Object.entries(job.progress.byType)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, n]) => ({ name, valueDecimal: n }));
  if (parts.length > 0) parameter.push({ name: 'ResourceDeletedCount', part: parts });
  if (issues.length > 0) {
    parameter.push({ name: 'Issues', resource: operationOutcome(issues) });
  }
  return parameter.length > 0 ? { resourceType: 'Parameters', parameter } : { resourceType: 'Parameters' };
}

/** The report of a job's status: counts so far, and why it is not done (in progress, cancelled, failed). */
export function bulkDeleteReport(job: JobRecord): Resource {
  switch (job.status) {
    case 'queued':
    case 'running':
      return bulkDeleteParameters(job, [issue('information', 'informational', 'Job In Progress')]);
    case 'completed':
      return bulkDeleteParameters(job);
    case 'cancelled':
      return bulkDeleteParameters(job, [issue('warning', 'informational', 'Job Canceled')]);
    case 'failed': {
      const reason = job.error?.message ?? 'Encountered an unhandled exception. The job will be marked as failed.';
      return operationOutcome([issue('error', 'exception', reason)]);
    }
  }
}

async function bulkDeleteJob(runner: JobRunner, id: string): Promise<JobRecord> {
  const job = await runner.get(id);
  if (!job || job.kind !== BULK_DELETE) throw notFoundJob(id);
  return job;
}

/** `DELETE [type]/$bulk-delete`: needs `Prefer: respond-async`; the job is accepted `queued`. */
export async function kickOffBulkDelete(
  runner: JobRunner,
  baseUrl: string,
  request: InteractionRequest,
  type: string | undefined,
): Promise<JobAccepted> {
  if (!request.prefer?.respondAsync) {
    throw badRequest('The "Prefer: respond-async" header is required for $bulk-delete.');
  }
  const job = await runner.submit(BULK_DELETE, bulkDeleteRequestOf(type, request.params ?? []));
  return { outcome: 'job-accepted', job, statusUrl: bulkDeleteStatusUrl(baseUrl, job) };
}

/** `GET _operations/bulk-delete/{id}`: 202 while in progress, 200 when done, 500 when failed; 404 for an unknown id. */
export async function bulkDeleteStatus(runner: JobRunner, id: string): Promise<JobStatus> {
  const job = await bulkDeleteJob(runner, id);
  return { outcome: 'job-status', job, body: bulkDeleteReport(job) };
}

/** `DELETE _operations/bulk-delete/{id}`: 202; 404 for an unknown job, 409 for a finished one. */
export async function cancelBulkDelete(runner: JobRunner, id: string): Promise<JobCancelRequested> {
  await bulkDeleteJob(runner, id);
  try {
    return { outcome: 'job-cancel-requested', job: await runner.cancel(id) };
  } catch (error) {
    if (error instanceof FhirError && error.status === 409) {
      throw new FhirError(409, 'conflict', 'Bulk delete operation has already completed');
    }
    throw error;
  }
}
