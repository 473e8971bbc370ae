/**
 * `batch` bundles: every entry is its own interaction, through the same router as a single request.
 * One entry's failure never affects another.
 * @packageDocumentation
 */
import pLimit from 'p-limit';
import type { HttpResult } from '../http/respond.js';
import type { RouteExtensions } from '../http/router.js';
import type { EngineContext } from '../interactions/context.js';
import type { Resource } from '../resource/resource.js';
import { assertNoOverlap, entryRequest, type EntryRequest, type RequestBundle } from './preprocess.js';
import { resultOfError } from '../http/handle.js';
import { responseEntry, runEntry, type ResponseEntry } from './run.js';

/** Options of {@link processBatch}. */
export interface BatchOptions {
  /** `x-bundle-processing-logic: parallel`: entries run concurrently (`limits.bundleConcurrency` at once). */
  readonly parallel: boolean;
  /** Headers passed on to every entry (`prefer`, `x-conditionalquery-processing-logic`). */
  readonly forward: Record<string, string>;
  readonly onUnexpected: (error: unknown) => void;
}

/**
 * Processes a batch. Serial: entries run one after the other in bundle order (the spec leaves the
 * order of a batch open, and its entries must not depend on each other). Parallel: entries that
 * write the same resource make the whole bundle a 400 before anything runs; otherwise they run
 * concurrently. Responses are in entry order either way.
 */
export async function processBatch(
  ctx: EngineContext,
  bundle: RequestBundle,
  extensions: RouteExtensions,
  options: BatchOptions,
): Promise<HttpResult> {
  const prepared: (EntryRequest | HttpResult)[] = bundle.entries.map((entry, index) => {
    try {
      return entryRequest(entry, index, ctx, options.forward);
    } catch (error) {
      return resultOfError(error, options.onUnexpected);
    }
  });
  const isRequest = (p: EntryRequest | HttpResult): p is EntryRequest => 'method' in p;
  if (options.parallel) assertNoOverlap(prepared.filter(isRequest));

  const one = async (p: EntryRequest | HttpResult): Promise<ResponseEntry> => {
    if (!isRequest(p)) return responseEntry(p, ctx.baseUrl);
    try {
      return responseEntry(await runEntry(ctx, p, extensions), ctx.baseUrl);
    } catch (error) {
      return responseEntry(resultOfError(error, options.onUnexpected), ctx.baseUrl);
    }
  };

  let entries: ResponseEntry[];
  if (options.parallel) {
    const limit = pLimit(Math.max(1, ctx.limits.bundleConcurrency));
    entries = await Promise.all(prepared.map((p) => limit(() => one(p))));
  } else {
    entries = [];
    for (const p of prepared) entries.push(await one(p));
  }
  const body: Resource = { resourceType: 'Bundle', type: 'batch-response', entry: entries };
  return { status: 200, headers: {}, body };
}
