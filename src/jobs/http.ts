/**
 * The HTTP side of bulk delete (Azure-compatible): kick-off (`DELETE [type]/$bulk-delete`), status
 * (`GET _operations/bulk-delete/{id}`) and cancel (`DELETE _operations/bulk-delete/{id}`).
 * @packageDocumentation
 */
import { badRequest, FhirError, operationOutcome } from '../errors.js';
import type { RouteExtensions, RouteRequest } from '../http/router.js';
import type { HttpResult } from '../http/respond.js';
import type { Preferences } from '../http/headers.js';
import type { EngineContext } from '../interactions/context.js';
import type { OperationOutcomeIssue, Resource } from '../resource/resource.js';
import type { JobRecord } from '../storage/job-record.js';
import { BULK_DELETE, type BulkDeleteRequest } from './bulk-delete.js';
import type { JobRunner } from './job-runner.js';

const HARD = new Set(['_hardDelete', 'hardDelete']);
const PURGE = new Set(['_purgeHistory']);
const EXCLUDED = 'excludedResourceTypes';

function flag(params: RouteRequest['params'], names: ReadonlySet<string>): boolean {
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
export function bulkDeleteRequestOf(type: string | undefined, params: RouteRequest['params']): BulkDeleteRequest {
  const excluded = params
    .filter(([k]) => k === EXCLUDED)
    .flatMap(([, v]) => v.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    ...(type !== undefined && { type }),
    criteria: params.filter(([k]) => !HARD.has(k) && !PURGE.has(k) && k !== EXCLUDED),
    hardDelete: flag(params, HARD),
    purgeHistory: flag(params, PURGE),
    excludedResourceTypes: excluded,
  };
}

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

/** The HTTP result of a status poll. */
export function jobStatusResult(job: JobRecord): HttpResult {
  switch (job.status) {
    case 'queued':
    case 'running':
      return {
        status: 202,
        headers: { 'x-progress': 'in progress' },
        body: bulkDeleteParameters(job, [issue('information', 'informational', 'Job In Progress')]),
      };
    case 'completed':
      return { status: 200, headers: {}, body: bulkDeleteParameters(job) };
    case 'cancelled':
      return { status: 200, headers: {}, body: bulkDeleteParameters(job, [issue('warning', 'informational', 'Job Canceled')]) };
    case 'failed': {
      const reason = job.error?.message ?? 'Encountered an unhandled exception. The job will be marked as failed.';
      return { status: 500, headers: {}, body: operationOutcome([issue('error', 'exception', reason)]) };
    }
  }
}

/** The routes of bulk delete, over a job runner. */
export function bulkDeleteRoutes(ctx: EngineContext, runner: JobRunner): Required<Pick<RouteExtensions, 'bulkDelete' | 'jobStatus' | 'jobCancel'>> {
  const getJob = async (id: string): Promise<JobRecord> => {
    const job = await runner.get(id);
    if (!job || job.kind !== BULK_DELETE) throw notFoundJob(id);
    return job;
  };
  return {
    async bulkDelete(request: RouteRequest, type: string | undefined, prefer: Preferences): Promise<HttpResult> {
      if (!prefer.respondAsync) {
        const value = request.headers.prefer;
        throw badRequest(
          value === undefined
            ? 'The "Prefer: respond-async" header is required for $bulk-delete.'
            : `Value supplied, ${value},  for the "Prefer" header is not supported.`,
        );
      }
      const job = await runner.submit(BULK_DELETE, bulkDeleteRequestOf(type, request.params));
      return { status: 202, headers: { 'content-location': `${ctx.baseUrl}/_operations/bulk-delete/${job.id}` } };
    },
    async jobStatus(id: string): Promise<HttpResult> {
      return jobStatusResult(await getJob(id));
    },
    async jobCancel(id: string): Promise<HttpResult> {
      await getJob(id);
      try {
        await runner.cancel(id);
      } catch (error) {
        if (error instanceof FhirError && error.status === 409) {
          throw new FhirError(409, 'conflict', 'Bulk delete operation has already completed');
        }
        throw error;
      }
      return { status: 202, headers: {} };
    },
  };
}
