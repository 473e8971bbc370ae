/**
 * `batch` bundles: every entry is its own interaction, run as a single request would be. One
 * entry's failure never affects another.
 * @packageDocumentation
 */
import pLimit from 'p-limit';
import type { EngineContext } from '../interactions/context.js';
import type { InteractionRequest } from '../interactions/request.js';
import { fhirErrorOf, type InteractionResult } from '../interactions/result.js';
import { assertNoOverlap, entryRequest, type EntryRequest, type InheritedRequest, type RequestBundle, type RequestEntry } from './preprocess.js';
import { entryOfError, entryOfResult, type EntryDraft } from './response.js';

/** Runs one entry's request through the engine's route table. */
export type EntryRunner = (request: InteractionRequest) => Promise<InteractionResult>;

/** Options of {@link processBatch}. */
export interface BatchOptions<E> {
  /** `x-bundle-processing-logic: parallel`: entries run concurrently (`limits.bundleConcurrency` at once). */
  readonly parallel: boolean;
  /** What every entry takes over from the bundle's request (`Prefer`, processing hints). */
  readonly inherited: InheritedRequest;
  readonly onUnexpected: (error: unknown) => void;
  /** Turns an entry's response into what the caller collects (an object, or JSON text). */
  readonly emit: (draft: EntryDraft) => E;
}

/**
 * Processes a batch. Serial: entries run one after the other in bundle order (the spec leaves the
 * order of a batch open, and its entries must not depend on each other). Parallel: entries that
 * write the same resource make the whole bundle a 400 before anything runs; otherwise they run
 * concurrently. Response entries are in entry order either way.
 */
export async function processBatch<E>(
  ctx: EngineContext,
  bundle: RequestBundle,
  run: EntryRunner,
  options: BatchOptions<E>,
): Promise<E[]> {
  const prepare = (entry: RequestEntry, index: number): EntryRequest | EntryDraft => {
    try {
      return entryRequest(entry, index, ctx, options.inherited);
    } catch (error) {
      return entryOfError(fhirErrorOf(error, options.onUnexpected));
    }
  };
  const isRequest = (p: EntryRequest | EntryDraft): p is EntryRequest => 'request' in p;

  const one = async (p: EntryRequest | EntryDraft): Promise<E> => {
    if (!isRequest(p)) return options.emit(p);
    let draft: EntryDraft;
    try {
      draft = entryOfResult(await run(p.request), p.request.prefer, ctx.baseUrl);
    } catch (error) {
      draft = entryOfError(fhirErrorOf(error, options.onUnexpected));
    }
    return options.emit(draft);
  };

  if (options.parallel) {
    const prepared = bundle.entries.map(prepare);
    assertNoOverlap(prepared.filter(isRequest));
    const limit = pLimit(Math.max(1, ctx.limits.bundleConcurrency));
    return Promise.all(prepared.map((p) => limit(() => one(p))));
  }
  // Serially, each entry's request is made just before it runs, and is garbage right after.
  const entries: E[] = [];
  for (const [index, entry] of bundle.entries.entries()) entries.push(await one(prepare(entry, index)));
  return entries;
}
