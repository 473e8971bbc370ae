/**
 * The bulk export operations (Bulk Data Access IG v2) as interactions: kick-off (`GET $export`,
 * `GET Patient/$export`, `GET Group/[id]/$export`), status (`GET _operations/export/[id]`: 202 with
 * `X-Progress` and `Retry-After` while it runs, then 200 with the manifest), delete (`DELETE
 * _operations/export/[id]`: cancels a running export, removes its files; the status is a 404 after)
 * and the output files (`GET _operations/export/[id]/[Type].ndjson`).
 * @packageDocumentation
 */
import { badRequest, FhirError, notFound, operationOutcome } from '../errors.js';
import type { EngineContext } from '../interactions/context.js';
import type { Criteria, InteractionRequest } from '../interactions/request.js';
import type { ExportManifestOutcome, JobAccepted, JobCancelRequested, JobStatus, NdjsonOutcome } from '../interactions/result.js';
import type { JobRunner } from '../jobs/job-runner.js';
import { isTerminal } from '../jobs/job-state.js';
import type { JobRecord } from '../storage/job-record.js';
import { isStorageConflict } from '../storage/storage-adapter.js';
import { BULK_EXPORT, fileOf, type BulkExportParams, type BulkExportRequest, type BulkExportState } from './export-job.js';
import type { ExportManifest } from './manifest.js';
import type { ExportSink } from './sink.js';

type ExportJob = JobRecord<BulkExportParams, BulkExportState>;

/** What the export operations run with. */
export interface ExportContext {
  readonly ctx: EngineContext;
  readonly jobs: JobRunner;
  readonly sink: ExportSink;
}

/** Seconds a client is asked to wait between status polls. */
const RETRY_AFTER = 2;
/** Longest a delete waits for a running export to stop before it removes the files anyway. */
const STOP_WAIT_MS = 30_000;

/** Parameters that change nothing. */
const IGNORED = new Set(['_format', '_pretty']);

/** Where an export's status is polled. */
export const exportStatusUrl = (baseUrl: string, id: string): string => `${baseUrl}/_operations/export/${id}`;

/** The kick-off request a URL describes. Unknown parameters are a 400 unless `Prefer: handling=lenient` (IG). */
export function exportRequestOf(level: BulkExportRequest['level'], groupId: string | undefined, params: Criteria, lenient: boolean, requestUrl: string): BulkExportRequest {
  let types: string[] | undefined;
  let since: string | undefined;
  let outputFormat: string | undefined;
  for (const [name, value] of params) {
    switch (name) {
      case '_type':
        types = [...(types ?? []), ...value.split(',').map((s) => s.trim()).filter(Boolean)];
        break;
      case '_since':
        if (since !== undefined) throw badRequest('_since may be given once.', ['_since']);
        since = value;
        break;
      case '_outputFormat':
        outputFormat = value;
        break;
      default:
        if (IGNORED.has(name) || lenient) break;
        throw new FhirError(400, 'not-supported', `The parameter '${name}' is not supported by $export.`, { expression: [name] });
    }
  }
  return {
    level,
    ...(groupId !== undefined && { groupId }),
    ...(types !== undefined && { types }),
    ...(since !== undefined && { since }),
    ...(outputFormat !== undefined && { outputFormat }),
    requestUrl,
  };
}

/** `GET [base]/$export`, `Patient/$export`, `Group/[id]/$export`: needs `Prefer: respond-async`; 202 with the status URL. */
export async function kickOffExport(
  e: ExportContext,
  request: InteractionRequest,
  level: BulkExportRequest['level'],
  groupId?: string,
): Promise<JobAccepted> {
  if (!request.prefer?.respondAsync) throw badRequest('The "Prefer: respond-async" header is required for $export.');
  const params = request.params ?? [];
  const query = params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const requestUrl = `${e.ctx.baseUrl}/${request.segments.join('/')}${query ? `?${query}` : ''}`;
  const input = exportRequestOf(level, groupId, params, request.prefer.handling === 'lenient', requestUrl);
  const job = await e.jobs.submit(BULK_EXPORT, input);
  return { outcome: 'job-accepted', job, statusUrl: exportStatusUrl(e.ctx.baseUrl, job.id) };
}

const notFoundExport = (id: string): FhirError => notFound(`The requested export "${id}" was not found.`);

/** The export job `id`, while it is there for a client: not deleted, not cancelled. */
async function exportJob(e: ExportContext, id: string): Promise<ExportJob> {
  const job = (await e.jobs.get(id)) as ExportJob | undefined;
  if (!job || job.kind !== BULK_EXPORT || job.state.removed || job.status === 'cancelled') throw notFoundExport(id);
  return job;
}

/** The manifest of a completed export. */
export function manifestOf(baseUrl: string, job: ExportJob): ExportManifest {
  const output = [...new Set(job.params.parts.map((p) => p.type))]
    .filter((type) => (job.state.files[type]?.count ?? 0) > 0)
    .map((type) => ({ type, url: `${exportStatusUrl(baseUrl, job.id)}/${fileOf(type)}`, count: job.state.files[type]!.count }));
  return { transactionTime: job.params.transactionTime, request: job.params.request, requiresAccessToken: false, output, error: [] };
}

/** `GET _operations/export/[id]`: 202 while it runs, 200 with the manifest, 500 when it failed, 404 otherwise. */
export async function exportStatus(e: ExportContext, id: string): Promise<JobStatus | ExportManifestOutcome> {
  const job = await exportJob(e, id);
  switch (job.status) {
    case 'completed':
      return { outcome: 'export-manifest', manifest: manifestOf(e.ctx.baseUrl, job) };
    case 'failed': {
      const reason = job.error?.message ?? 'The export failed.';
      return { outcome: 'job-status', job, body: operationOutcome([{ severity: 'error', code: 'exception', diagnostics: reason }]) };
    }
    default: {
      const { processed } = job.progress;
      const progress = `${processed} resource${processed === 1 ? '' : 's'} exported; part ${Math.min(job.state.part + 1, job.params.parts.length)} of ${job.params.parts.length}`;
      const body = operationOutcome([{ severity: 'information', code: 'informational', diagnostics: `Export in progress: ${progress}.` }]);
      return { outcome: 'job-status', job, body, progress, retryAfter: RETRY_AFTER };
    }
  }
}

/** Records that the export's files are gone (the job is terminal; the state is the handler's own). */
async function markRemoved(e: ExportContext, id: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await e.ctx.storage.transact(async (tx) => {
        const job = (await tx.readJob(id)) as ExportJob | undefined;
        if (!job || job.state.removed) return;
        await tx.writeJob({ ...job, state: { ...job.state, removed: true }, revision: job.revision + 1 }, job.revision);
      });
      return;
    } catch (error) {
      if (!isStorageConflict(error) || attempt >= 20) throw error;
    }
  }
}

/**
 * `DELETE _operations/export/[id]`: a running export is cancelled (and waited for, so that no chunk
 * writes after its files are removed); a finished one's files are removed (IG: the client is done
 * with them). 202; the status URL and the files are 404 afterwards.
 */
export async function deleteExport(e: ExportContext, id: string): Promise<JobCancelRequested> {
  let job: JobRecord = await exportJob(e, id);
  if (!isTerminal(job.status)) {
    try {
      job = await e.jobs.cancel(id);
    } catch (error) {
      if (!(error instanceof FhirError && error.status === 409)) throw error; // it finished meanwhile
    }
    if (!isTerminal(job.status)) {
      job = await e.jobs.settled(id, { signal: AbortSignal.timeout(STOP_WAIT_MS) }).catch(() => job);
    }
  }
  await e.sink.delete(id);
  await markRemoved(e, id);
  return { outcome: 'job-cancel-requested', job };
}

/** `GET _operations/export/[id]/[file]`: an output file of a completed export, as `application/fhir+ndjson`. */
export async function exportFile(e: ExportContext, id: string, file: string): Promise<NdjsonOutcome> {
  const job = await exportJob(e, id);
  const listed = job.status === 'completed' && manifestOf('', job).output.some((o) => fileOf(o.type) === file);
  const content = listed ? await e.sink.read(id, file) : undefined;
  if (!content) throw notFound(`The export "${id}" has no file "${file}".`);
  return { outcome: 'ndjson', content };
}
