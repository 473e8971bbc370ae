/**
 * Runs one bundle entry through the router, and turns its result into a response entry.
 * @packageDocumentation
 */
import type { IdGenerator } from '../clock.js';
import { toRouteRequest } from '../http/handle.js';
import type { HttpResult } from '../http/respond.js';
import { route, type RouteExtensions } from '../http/router.js';
import type { EngineContext } from '../interactions/context.js';
import type { OperationOutcome, Resource } from '../resource/resource.js';
import type { StorageTx } from '../storage/storage-adapter.js';
import { statusText, type EntryRequest } from './preprocess.js';

/** A `Bundle.entry` of a response bundle. */
export interface ResponseEntry {
  fullUrl?: string;
  resource?: Resource;
  response: {
    status: string;
    location?: string;
    etag?: string;
    lastModified?: string;
    outcome?: OperationOutcome;
  };
}

/** An id generator that hands out `id` once, then falls back to `next`. */
function presetIds(id: string, next: IdGenerator): IdGenerator {
  let used = false;
  return {
    resourceId: () => {
      if (used) return next.resourceId();
      used = true;
      return id;
    },
    jobId: () => next.jobId(),
  };
}

/**
 * Routes one entry (inside `tx` for a transaction). With `presetId`, a create (POST, or a
 * conditional update that creates) gets that id: the one a transaction assigned to the entry's
 * fullUrl up front. Throws what the router throws.
 */
export async function runEntry(
  ctx: EngineContext,
  entry: EntryRequest,
  extensions: RouteExtensions,
  tx?: StorageTx,
  presetId?: string,
): Promise<HttpResult> {
  const entryCtx = presetId === undefined ? ctx : { ...ctx, ids: presetIds(presetId, ctx.ids) };
  const request = toRouteRequest(
    { method: entry.method, url: entry.url, headers: entry.headers, ...(entry.body !== undefined && { body: entry.body as object }) },
    ctx.limits,
    tx,
  );
  // Bundles do not nest: a POST to the base inside a bundle is not routed to the bundle layer again.
  const { bundle: _nested, ...inner } = extensions;
  return route(entryCtx, request, inner);
}

/** The `Type/id` of a `Location` (`[base]/Type/id/_history/n`). */
function resourcePath(location: string, baseUrl: string): string | undefined {
  const path = baseUrl !== '' && location.startsWith(baseUrl) ? location.slice(baseUrl.length) : location;
  const match = /^\/?([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(path);
  return match ? `${match[1]}/${match[2]}` : undefined;
}

/** Builds the response entry of a result: status, location, etag, lastModified, resource or outcome. */
export function responseEntry(result: HttpResult, baseUrl: string): ResponseEntry {
  const body: Resource | undefined =
    typeof result.body === 'string' ? (JSON.parse(result.body) as Resource) : result.body;
  const response: ResponseEntry['response'] = { status: statusText(result.status) };
  const { location, etag } = result.headers;
  if (location !== undefined) response.location = location;
  if (etag !== undefined) response.etag = etag;
  const lastUpdated = body?.meta?.lastUpdated;
  const lastModified = result.headers['last-modified'];
  if (typeof lastUpdated === 'string' && body?.resourceType !== 'Bundle') response.lastModified = lastUpdated;
  else if (lastModified !== undefined) response.lastModified = new Date(lastModified).toISOString();
  const out: ResponseEntry = { response };
  if (location !== undefined) {
    const path = resourcePath(location, baseUrl);
    if (path !== undefined) out.fullUrl = `${baseUrl === '' ? '' : `${baseUrl}/`}${path}`;
  }
  if (body !== undefined) {
    if (body.resourceType === 'OperationOutcome' && result.status >= 400) response.outcome = body as OperationOutcome;
    else out.resource = body;
  }
  // Put `response` last, as the spec's examples read.
  const { response: r, ...rest } = out;
  return { ...rest, response: r };
}
