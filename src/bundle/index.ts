/**
 * Batch and transaction bundles (`POST [base]` with a Bundle). Entries run through the same route
 * table as single requests (the {@link EntryRunner} the route hands over), and consume their results.
 * @packageDocumentation
 */
import type { EngineContext } from '../interactions/context.js';
import type { InteractionRequest } from '../interactions/request.js';
import { JsonText, type BodyOutcome } from '../interactions/result.js';
import { processBatch, type EntryRunner } from './batch.js';
import { parseBundle, type InheritedRequest } from './preprocess.js';
import { entryObject, entryText, responseBundle, responseBundleText, type EntryDraft } from './response.js';
import { processTransaction } from './transaction.js';

export { processBatch, type EntryRunner } from './batch.js';
export { processTransaction } from './transaction.js';
export { parseBundle, statusText } from './preprocess.js';
export { entryObject, entryOfError, entryOfResult, entryText, type EntryDraft, type EntryResponse, type ResponseBundle, type ResponseEntry } from './response.js';

/**
 * Processes the request Bundle of `request` (`batch` or `transaction`). Throws FhirError for an
 * envelope that is not a batch/transaction Bundle (400) or has too many entries (413), and for a
 * failed transaction (the failing entry's status, "Transaction failed on …" first). The response
 * Bundle is an object, or JSON text when `request.textBodies` asks for it.
 */
export async function processBundle(
  ctx: EngineContext,
  request: InteractionRequest,
  run: EntryRunner,
  onUnexpected: (error: unknown) => void,
): Promise<BodyOutcome> {
  const bundle = parseBundle(request.body, ctx);
  const inherited: InheritedRequest = {
    ...(request.prefer !== undefined && { prefer: request.prefer }),
    ...(request.parallelQueries !== undefined && { parallelQueries: request.parallelQueries }),
    ...(request.textBodies !== undefined && { textBodies: request.textBodies }),
  };
  const type = bundle.kind === 'transaction' ? 'transaction-response' : 'batch-response';
  const process = <E>(emit: (draft: EntryDraft) => E): Promise<E[]> =>
    bundle.kind === 'transaction'
      ? processTransaction(ctx, bundle, run, { inherited, onUnexpected, emit })
      : processBatch(ctx, bundle, run, { parallel: request.parallelEntries ?? false, inherited, onUnexpected, emit });
  const body = request.textBodies
    ? new JsonText(responseBundleText(type, await process(entryText)))
    : responseBundle(type, await process(entryObject));
  return { outcome: type, body };
}
