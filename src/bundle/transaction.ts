/**
 * `transaction` bundles (FHIR R4 http.html#transaction): all entries in ONE unit of work, all or
 * nothing.
 * @packageDocumentation
 */
import { badRequest, FhirError } from '../errors.js';
import type { EngineContext } from '../interactions/context.js';
import { fhirErrorOf, type InteractionResult } from '../interactions/result.js';
import type { Resource } from '../resource/resource.js';
import type { StorageTx } from '../storage/storage-adapter.js';
import type { EntryRunner } from './batch.js';
import { assertNoOverlap, entryRequest, type EntryRequest, type InheritedRequest, type RequestBundle } from './preprocess.js';
import { assignIds, rewriteQueryReferences } from './references.js';
import { entryOfResult, type EntryDraft } from './response.js';

/** Options of {@link processTransaction}. */
export interface TransactionOptions<E> {
  /** What every entry takes over from the bundle's request (`Prefer`, processing hints). */
  readonly inherited: InheritedRequest;
  readonly onUnexpected: (error: unknown) => void;
  /** Turns an entry's response into what the caller collects (an object, or JSON text). */
  readonly emit: (draft: EntryDraft) => E;
}

/** Processing order of http.html#transaction: DELETE, POST, PUT/PATCH, GET/HEAD. */
const RANK: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

/**
 * The error a failed transaction answers with: the failing entry's status (400 if it was not an
 * error status), "Transaction failed on …" first, naming the entry in its expression
 * (`Bundle.entry[2]`), then the entry's own issues.
 */
function transactionFailure(index: number, method: string, url: string, error: FhirError): FhirError {
  return new FhirError(error.status >= 400 ? error.status : 400, 'processing', `Transaction failed on '${method}' for the requested url '${url}'.`, {
    expression: [`Bundle.entry[${index}]`],
    issues: [...error.issues],
  });
}

/** Thrown inside the unit of work to roll it back, carrying the failure to answer with. */
class EntryFailure extends Error {
  constructor(readonly failure: FhirError) {
    super(failure.message);
  }
}

/** The `Type/id` a result is about, when it wrote or read a version. */
const targetOf = (result: InteractionResult): string | undefined =>
  'version' in result && result.version !== undefined ? `${result.version.type}/${result.version.id}` : undefined;

/**
 * Processes a transaction: checks every entry, refuses entries that write the same resource (400),
 * then in one `ctx.storage.transact`: the DELETEs; the id assignment of creates and conditional
 * entries and the rewriting of fullUrl references; then POST, PUT/PATCH and GET in that order.
 * Response entries are in request order. Any failing entry throws inside the unit, which rolls
 * everything back, and the transaction throws a FhirError with the entry's status, "Transaction
 * failed on …" and the entry's issues.
 *
 * Conditional DELETE (`DELETE Type?q`) is allowed, as the spec allows it; Microsoft's server refuses
 * it in transactions (400 "not supported using DELETE").
 */
export async function processTransaction<E>(
  ctx: EngineContext,
  bundle: RequestBundle,
  run: EntryRunner,
  options: TransactionOptions<E>,
): Promise<E[]> {
  const entries: EntryRequest[] = [];
  for (const [index, raw] of bundle.entries.entries()) {
    try {
      const entry = entryRequest(raw, index, ctx, options.inherited);
      if ((entry.request.body as Resource | undefined)?.resourceType === 'Bundle' && entry.method !== 'PATCH') {
        throw badRequest('Requested operation does not support resource type: Bundle.');
      }
      entries.push(entry);
    } catch (error) {
      const request = raw?.request;
      const method = typeof request?.method === 'string' ? request.method.toUpperCase() : '';
      const url = typeof request?.url === 'string' ? request.url : '';
      throw transactionFailure(index, method, url, fhirErrorOf(error, options.onUnexpected));
    }
  }
  assertNoOverlap(entries);

  const order = [...entries].sort((a, b) => (RANK[a.method] ?? 3) - (RANK[b.method] ?? 3));
  const responses: E[] = new Array<E>(entries.length);

  const step = async (tx: StorageTx, entry: EntryRequest, presetId?: string, expected?: string): Promise<void> => {
    let result: InteractionResult;
    try {
      entry.request.tx = tx;
      if (presetId !== undefined) entry.request.presetId = presetId;
      result = await run(entry.request);
    } catch (error) {
      throw new EntryFailure(transactionFailure(entry.index, entry.method, entry.rawUrl, fhirErrorOf(error, options.onUnexpected)));
    }
    const actual = targetOf(result);
    if (expected !== undefined && actual !== undefined && actual !== expected) {
      // The entry resolved to another resource than the one its fullUrl was mapped to (an earlier
      // entry of this bundle made a new match): references to it would point the wrong way.
      const conflict = new FhirError(
        409,
        'conflict',
        `The entry resolved to '${actual}' instead of '${expected}': another entry of the bundle changed what its criteria match.`,
      );
      throw new EntryFailure(transactionFailure(entry.index, entry.method, entry.rawUrl, conflict));
    }
    responses[entry.index] = options.emit(entryOfResult(result, entry.request.prefer, ctx.baseUrl));
  };

  try {
    await ctx.storage.transact(async (tx) => {
      for (const entry of order) if (entry.method === 'DELETE') await step(tx, entry);

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
      if (assignment.references.size > 0) {
        for (const { request } of entries) {
          rewriteQueryReferences(request, assignment.references);
          // The content's links are rewritten by the interaction, once it has validated what the client sent.
          request.fullUrls = assignment.references;
        }
      }
      for (const entry of order) {
        if (entry.method === 'DELETE') continue;
        await step(tx, entry, assignment.presetIds.get(entry.index), assignment.expected.get(entry.index));
      }
    });
  } catch (error) {
    if (error instanceof EntryFailure) throw error.failure;
    throw error;
  }
  return responses;
}
