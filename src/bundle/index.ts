/**
 * Batch and transaction bundles (`POST [base]` with a Bundle): the router extension and the typed
 * entry points the engine uses.
 * @packageDocumentation
 */
import { isParallel, type Preferences } from '../http/headers.js';
import type { HttpResult } from '../http/respond.js';
import type { RouteExtensions, RouteRequest } from '../http/router.js';
import type { EngineContext } from '../interactions/context.js';
import { FhirError } from '../errors.js';
import type { OperationOutcome, Resource } from '../resource/resource.js';
import { processBatch } from './batch.js';
import { parseBundle } from './preprocess.js';
import { processTransaction } from './transaction.js';

export { processBatch } from './batch.js';
export { processTransaction } from './transaction.js';
export { parseBundle, statusText } from './preprocess.js';
import type { ResponseEntry } from './run.js';
export type { ResponseEntry } from './run.js';

/** Options of {@link processBundle}. */
export interface BundleOptions {
  /** Batch only: run entries concurrently (`x-bundle-processing-logic: parallel`). */
  readonly parallel?: boolean;
  /** Headers of the bundle request to pass on to each entry (lower-case names). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly onUnexpected?: (error: unknown) => void;
}

/** Headers of the bundle request that every entry inherits. */
const FORWARDED = ['prefer', 'x-conditionalquery-processing-logic'];

/**
 * Processes a request Bundle (`batch` or `transaction`). Throws FhirError for an envelope that is
 * not a batch/transaction Bundle (400) or has too many entries (413); returns 200 with the response
 * Bundle, or for a failed transaction the failing entry's status and OperationOutcome.
 */
export async function processBundle(
  ctx: EngineContext,
  body: unknown,
  extensions: RouteExtensions,
  options: BundleOptions = {},
): Promise<HttpResult> {
  const bundle = parseBundle(body, ctx);
  const forward: Record<string, string> = {};
  for (const name of FORWARDED) {
    const value = options.headers?.[name];
    if (value !== undefined) forward[name] = value;
  }
  const onUnexpected = options.onUnexpected ?? (() => undefined);
  return bundle.kind === 'transaction'
    ? processTransaction(ctx, bundle, extensions, { forward, onUnexpected })
    : processBatch(ctx, bundle, extensions, { parallel: options.parallel ?? false, forward, onUnexpected });
}

/** The `bundle` route extension: `POST [base]` with a batch or transaction Bundle. */
export function bundleRoute(
  ctx: EngineContext,
  extensions: RouteExtensions,
  onUnexpected: (error: unknown) => void,
): NonNullable<RouteExtensions['bundle']> {
  return (request: RouteRequest, _prefer: Preferences) =>
    processBundle(ctx, request.body, extensions, {
      parallel: isParallel(request.headers['x-bundle-processing-logic']),
      headers: request.headers,
      onUnexpected,
    });
}

/** A response Bundle (`batch-response` / `transaction-response`). */
export interface ResponseBundle extends Resource {
  resourceType: 'Bundle';
  type: 'batch-response' | 'transaction-response';
  entry: ResponseEntry[];
}

/**
 * The response Bundle of a processed bundle, for the typed API: a failed transaction (any status but
 * 200) is thrown as a FhirError carrying its status and issues.
 */
export function responseBundleOf(result: HttpResult): ResponseBundle {
  const body = typeof result.body === 'string' ? (JSON.parse(result.body) as Resource) : result.body;
  if (result.status === 200 && body?.resourceType === 'Bundle') return body as ResponseBundle;
  const issues = body?.resourceType === 'OperationOutcome' ? (body as OperationOutcome).issue : [];
  const [first, ...rest] = issues;
  throw new FhirError(result.status, first?.code ?? 'exception', first?.diagnostics ?? 'The bundle failed.', {
    issues: rest,
  });
}
