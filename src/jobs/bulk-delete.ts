/**
 * The `bulk-delete` job: deletes every current resource matching search criteria that existed when
 * the job was submitted, chunk by chunk. Soft delete (a tombstone version, history kept) by default;
 * `hardDelete` removes every version; `purgeHistory` keeps the current version and removes the rest.
 * `_include` / `_revinclude` in the criteria delete what they add too, and `removeReferences` (with
 * a hard delete) rewrites the references to deleted resources: see `bulk-delete-cascade.ts`.
 * @packageDocumentation
 */
export * from './bulk-delete-params.js';
import { badRequest, FhirError } from '../errors.js';
import type { EngineContext } from '../interactions/context.js';
import { assertResourceType } from '../interactions/crud.js';
import { criteriaOf } from '../interactions/request.js';
import { deleteCurrent } from '../interactions/cascade.js';
import type { JobProgress } from '../storage/job-record.js';
import type { StorageTx } from '../storage/storage-adapter.js';
import { cascadeStep } from './bulk-delete-cascade.js';
import { BULK_DELETE, type BulkDeleteMode, type BulkDeleteParams, type BulkDeleteRequest, type BulkDeleteState, type CriteriaInput } from './bulk-delete-params.js';
import { resolveCriteria } from './criteria.js';
import type { JobHandler } from './job-runner.js';

/** Result-control parameters that a bulk delete ignores (Azure). */
const IGNORED = new Set(['_count', '_summary', '_total', 'ct', '_sort', '_elements', '_format', '_pretty', '_cursor']);
/** Parameters Azure supports that this engine does not (yet): a 400 rather than deleting less or more. */
const UNSUPPORTED = new Set(['_include:iterate', '_revinclude:iterate']);

/** Criteria input as name/value pairs. */
export function criteriaPairs(criteria: CriteriaInput | undefined): [string, string][] {
  if (criteria === undefined) return [];
  if (typeof criteria === 'string') return criteriaOf(criteria);
  if (Array.isArray(criteria)) return (criteria as readonly (readonly [string, string])[]).map(([k, v]) => [k, v]);
  return Object.entries(criteria as Record<string, string>);
}

function checkRequest(input: unknown): BulkDeleteRequest {
  if (typeof input !== 'object' || input === null) throw badRequest('A bulk-delete request must be an object.');
  const r = input as Record<string, unknown>;
  if (r.type !== undefined && typeof r.type !== 'string') throw badRequest('type must be a string.');
  for (const flag of ['hardDelete', 'purgeHistory', 'removeReferences'] as const) {
    if (r[flag] !== undefined && typeof r[flag] !== 'boolean') throw badRequest(`${flag} must be a boolean.`);
  }
  if (r.excludedResourceTypes !== undefined && !(Array.isArray(r.excludedResourceTypes) && r.excludedResourceTypes.every((t) => typeof t === 'string'))) {
    throw badRequest('excludedResourceTypes must be a list of resource types.');
  }
  return input as BulkDeleteRequest;
}

/** The highest committed seq: the snapshot a job deletes up to. */
async function maxSeqOf(tx: StorageTx): Promise<number> {
  const { items } = await tx.readHistory({ level: 'system' }, { count: 1 });
  return items[0]?.seq ?? 0;
}

/** The `bulk-delete` handler, bound to an engine's context. */
export function bulkDeleteHandler(ctx: EngineContext): JobHandler<BulkDeleteParams, BulkDeleteState> {
  return {
    kind: BULK_DELETE,

    async plan(tx, input) {
      const request = checkRequest(input);
      if (request.type !== undefined) assertResourceType(ctx, request.type);
      const excluded = [...new Set((request.excludedResourceTypes ?? []).map((t) => t.trim()).filter(Boolean))];
      for (const t of excluded) {
        if (!ctx.registry.resourceTypes.has(t)) throw badRequest(`Unknown resource type '${t}' in excludedResourceTypes.`, ['excludedResourceTypes']);
      }
      const criteria = criteriaPairs(request.criteria);
      const unsupported = criteria.filter(([k]) => UNSUPPORTED.has(k.trim()));
      if (unsupported.length > 0) {
        throw new FhirError(400, 'not-supported', `The "${unsupported.map(([k]) => k).join(', ')}" parameter is not supported by $bulk-delete.`);
      }
      const searched = criteria.filter(([k]) => !IGNORED.has(k.trim()));
      const resolved = await resolveCriteria(ctx.search, tx, request.type === undefined ? [] : [request.type], searched, ctx.baseUrl);
      if (resolved.parsed.warnings.length > 0) {
        const issues = resolved.parsed.warnings;
        throw new FhirError(400, 'not-supported', issues[0]?.diagnostics ?? 'Invalid search criteria.', { issues: issues.slice(1) });
      }
      const mode: BulkDeleteMode = request.hardDelete ? 'hard' : request.purgeHistory ? 'purge-history' : 'soft';
      const { include, revinclude } = resolved.parsed;
      const params: BulkDeleteParams = {
        level: request.type === undefined ? 'system' : 'type',
        ...(request.type !== undefined && { type: request.type }),
        criteria,
        mode,
        excludedResourceTypes: excluded,
        types: resolved.types.filter((t) => !excluded.includes(t)),
        where: resolved.where,
        maxSeq: await maxSeqOf(tx),
        ...(include.length > 0 && { include }),
        ...(revinclude.length > 0 && { revinclude }),
        ...(mode === 'hard' && request.removeReferences === true && { removeReferences: true }),
      };
      const progress: JobProgress = { processed: 0, byType: {}, chunks: 0 };
      return { params, state: {}, progress };
    },

    async step(tx, job, jobCtx) {
      const { types, where, maxSeq, mode, include, revinclude, removeReferences } = job.params;
      const size = jobCtx.chunkSize;
      if (include !== undefined || revinclude !== undefined || removeReferences) {
        return cascadeStep(ctx, tx, job.params, job.state, job.progress, size);
      }
      const { hits } =
        types.length === 0
          ? { hits: [] }
          : await tx.search({
              types,
              where,
              sort: [],
              limit: size + 1,
              keysOnly: true,
              maxSeq,
              ...(job.state.after !== undefined && { after: job.state.after }),
            });
      const chunk = hits.slice(0, size);
      const byType: Record<string, number> = { ...job.progress.byType };
      for (const hit of chunk) {
        await deleteCurrent(ctx, tx, hit, mode);
        byType[hit.type] = (byType[hit.type] ?? 0) + 1;
      }
      const last = chunk[chunk.length - 1];
      // The next chunk continues after this one (purged resources stay searchable): every earlier
      // key was processed or did not match, and a resource written after submit is past `maxSeq`.
      // Starting at the top again would walk over every resource deleted so far, once per chunk.
      const state: BulkDeleteState = last ? { after: last.position } : job.state;
      return {
        state,
        progress: { processed: job.progress.processed + chunk.length, byType, chunks: job.progress.chunks + 1 },
        done: hits.length <= size,
      };
    },
  };
}
