/**
 * `transaction` bundles (FHIR R4 http.html#transaction): all entries in ONE unit of work, all or
 * nothing.
 * @packageDocumentation
 */
import { badRequest, FhirError, operationOutcome } from '../errors.js';
import type { HttpResult } from '../http/respond.js';
import type { RouteExtensions } from '../http/router.js';
import type { EngineContext } from '../interactions/context.js';
import type { OperationOutcome, OperationOutcomeIssue, Resource } from '../resource/resource.js';
import type { StorageTx } from '../storage/storage-adapter.js';
import { assertNoOverlap, entryRequest, type EntryRequest, type RequestBundle } from './preprocess.js';
import { assignIds, rewriteReferences, rewriteUrlReferences } from './references.js';
import { resultOfError } from '../http/handle.js';
import { responseEntry, runEntry, type ResponseEntry } from './run.js';

/** Options of {@link processTransaction}. */
export interface TransactionOptions {
  /** Headers passed on to every entry (`prefer`, `x-conditionalquery-processing-logic`). */
  readonly forward: Record<string, string>;
  readonly onUnexpected: (error: unknown) => void;
}

/** Processing order of http.html#transaction: DELETE, POST, PUT/PATCH, GET/HEAD. */
const RANK: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

/** Thrown inside the unit of work to roll it back: the entry that failed and its result. */
class EntryFailure extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly result: HttpResult,
  ) {
    super(`Transaction failed on '${method}' for the requested url '${url}'.`);
  }
}

/** The response of a failed transaction: the failing entry's status, and its issues after ours. */
function failureResult(failure: EntryFailure): HttpResult {
  const body = failure.result.body;
  const parsed: Resource | undefined = typeof body === 'string' ? (JSON.parse(body) as Resource) : body;
  const issues: OperationOutcomeIssue[] =
    parsed?.resourceType === 'OperationOutcome' ? [...(parsed as OperationOutcome).issue] : [];
  const outcome = operationOutcome([{ severity: 'error', code: 'processing', diagnostics: failure.message }, ...issues]);
  const status = failure.result.status >= 400 ? failure.result.status : 400;
  return { status, headers: {}, body: outcome };
}

/** The `Type/id` a write result is about (from its Location, or its body). */
function resultTarget(result: HttpResult): string | undefined {
  const location = result.headers.location;
  if (location !== undefined) {
    const match = /([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})\/_history\/[^/]+$/.exec(location);
    if (match) return `${match[1]}/${match[2]}`;
  }
  const body = typeof result.body === 'string' ? undefined : result.body;
  if (body && body.resourceType !== 'OperationOutcome' && typeof body.id === 'string') return `${body.resourceType}/${body.id}`;
  return undefined;
}

/**
 * Processes a transaction: checks every entry, refuses entries that write the same resource (400),
 * then in one `ctx.storage.transact`: the DELETEs; the id assignment of creates and conditional
 * entries and the rewriting of fullUrl references; then POST, PUT/PATCH and GET in that order.
 * Responses are in request order. Any failing entry throws inside the unit, which rolls everything
 * back, and becomes the response (its status, "Transaction failed on …" and its issues).
 *
 * Conditional DELETE (`DELETE Type?q`) is allowed, as the spec allows it; Microsoft's server refuses
 * it in transactions (400 "not supported using DELETE").
 */
export async function processTransaction(
  ctx: EngineContext,
  bundle: RequestBundle,
  extensions: RouteExtensions,
  options: TransactionOptions,
): Promise<HttpResult> {
  const entries: EntryRequest[] = [];
  for (const [index, raw] of bundle.entries.entries()) {
    try {
      const entry = entryRequest(raw, index, ctx, options.forward);
      if ((entry.body as Resource | undefined)?.resourceType === 'Bundle' && entry.method !== 'PATCH') {
        throw badRequest('Requested operation does not support resource type: Bundle.');
      }
      entries.push(entry);
    } catch (error) {
      const request = raw?.request;
      const method = typeof request?.method === 'string' ? request.method.toUpperCase() : '';
      const url = typeof request?.url === 'string' ? request.url : '';
      return failureResult(new EntryFailure(method, url, resultOfError(error, options.onUnexpected)));
    }
  }
  assertNoOverlap(entries);

  const order = [...entries].sort((a, b) => (RANK[a.method] ?? 3) - (RANK[b.method] ?? 3));
  const results: HttpResult[] = new Array<HttpResult>(entries.length);

  const step = async (tx: StorageTx, entry: EntryRequest, presetId?: string, expected?: string): Promise<void> => {
    let result: HttpResult;
    try {
      result = await runEntry(ctx, entry, extensions, tx, presetId);
    } catch (error) {
      result = resultOfError(error, options.onUnexpected);
    }
    if (result.status >= 400) throw new EntryFailure(entry.method, entry.rawUrl, result);
    if (expected !== undefined) {
      const actual = resultTarget(result);
      if (actual !== undefined && actual !== expected) {
        // The entry resolved to another resource than the one its fullUrl was mapped to (an earlier
        // entry of this bundle made a new match): references to it would point the wrong way.
        throw new EntryFailure(
          entry.method,
          entry.rawUrl,
          errorResultOf(
            new FhirError(
              409,
              'conflict',
              `The entry resolved to '${actual}' instead of '${expected}': another entry of the bundle changed what its criteria match.`,
            ),
          ),
        );
      }
    }
    results[entry.index] = result;
  };

  try {
    await ctx.storage.transact(async (tx) => {
      const deletes = order.filter((e) => e.method === 'DELETE');
      for (const entry of deletes) await step(tx, entry);

      const assignment = await assignIds(ctx, tx, entries);
      // Conditional entries that resolved to the same existing resource as another entry.
      const byTarget = new Map<string, EntryRequest[]>();
      for (const entry of entries) {
        if (!entry.writes || entry.method === 'DELETE') continue;
        const target = assignment.matched.get(entry.index) ?? (entry.id !== undefined ? `${entry.type}/${entry.id}` : undefined);
        if (target === undefined) continue;
        byTarget.set(target, [...(byTarget.get(target) ?? []), entry]);
      }
      for (const [target, list] of byTarget) {
        if (list.length > 1) {
          throw badRequest(
            `Bundle contains multiple entries that refer to the same resource '${target}': ${list
              .map((e) => `entry[${e.index}] ${e.method} '${e.rawUrl}'`)
              .join(', ')}.`,
          );
        }
      }
      for (const entry of entries) {
        if (entry.body !== undefined && assignment.references.size > 0) {
          entry.body = structuredClone(entry.body);
          rewriteReferences(entry.body, assignment.references);
        }
        rewriteUrlReferences(entry, assignment.references);
      }
      for (const entry of order) {
        if (entry.method === 'DELETE') continue;
        await step(tx, entry, assignment.presetIds.get(entry.index), assignment.expected.get(entry.index));
      }
    });
  } catch (error) {
    if (error instanceof EntryFailure) return failureResult(error);
    if (error instanceof FhirError) return errorResultOf(error);
    throw error;
  }

  const body: Resource = {
    resourceType: 'Bundle',
    type: 'transaction-response',
    entry: results.map((result): ResponseEntry => responseEntry(result, ctx.baseUrl)),
  };
  return { status: 200, headers: {}, body };
}

const errorResultOf = (error: FhirError): HttpResult => ({
  status: error.status,
  headers: { ...error.headers },
  body: error.toOperationOutcome(),
});
