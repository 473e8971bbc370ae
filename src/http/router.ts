/**
 * Maps an HTTP-shaped request onto the interactions. No FHIR rule lives here: only which interaction
 * a method and path mean, and which headers and parameters it takes.
 * @packageDocumentation
 */
import { badRequest, FhirError, notFound } from '../errors.js';
import type { EngineContext } from '../interactions/context.js';
import * as crud from '../interactions/crud.js';
import { history, historyOptionsOf } from '../interactions/history.js';
import { criteriaOf } from '../interactions/references.js';
import type { WriteOutcome } from '../interactions/write.js';
import type { Resource } from '../resource/resource.js';
import type { StorageTx } from '../storage/storage-adapter.js';
import { capabilityStatement } from './capabilities.js';
import { assertFhirJson, ifMatchOf, isParallel, parsePrefer, type Preferences } from './headers.js';
import { locationOf, readResult, writeResult, type HttpResult } from './respond.js';

/** A parsed request, as the router sees it. */
export interface RouteRequest {
  readonly method: string;
  /** Path segments below the base, e.g. `['Patient', '1', '_history']`. */
  readonly segments: readonly string[];
  readonly params: readonly (readonly [string, string])[];
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed body (JSON value), or undefined. */
  readonly body: unknown;
  /** Media type of the body, lower-case, without parameters. */
  readonly contentType: string | undefined;
  /** True when the caller handed over an already-parsed object (no Content-Type needed). */
  readonly bodyIsParsed: boolean;
  /** The unit of work of a transaction bundle entry. */
  readonly tx?: StorageTx;
}

/** Extra routes the engine plugs in (bundles, bulk delete), so the router stays one table. */
export interface RouteExtensions {
  bundle?(request: RouteRequest, prefer: Preferences): Promise<HttpResult>;
  bulkDelete?(request: RouteRequest, type: string | undefined, prefer: Preferences): Promise<HttpResult>;
  jobStatus?(id: string): Promise<HttpResult>;
  jobCancel?(id: string): Promise<HttpResult>;
}

const HARD_DELETE = new Set(['hardDelete', '_hardDelete']);

/** The request path below the base, for messages: `Patient/1`, or `/` for the base itself. */
const pathOf = (segments: readonly string[]): string => segments.join('/') || '/';

const methodNotAllowed = (method: string, segments: readonly string[]): FhirError =>
  new FhirError(405, 'not-supported', `The method ${method} is not allowed on '${pathOf(segments)}'.`);

/** Parameters minus the ones an interaction consumes itself. */
const without = (params: RouteRequest['params'], names: ReadonlySet<string>) => params.filter(([k]) => !names.has(k));

const isTrue = (params: RouteRequest['params'], names: ReadonlySet<string>): boolean =>
  params.some(([k, v]) => names.has(k) && v.toLowerCase() === 'true');

function requireBody(request: RouteRequest): unknown {
  if (request.body === undefined || request.body === null || request.body === '') {
    throw badRequest('The request body is empty.');
  }
  return request.body;
}

function fhirBody(request: RouteRequest): unknown {
  assertFhirJson(request.contentType, request.bodyIsParsed);
  return requireBody(request);
}

function patchDocument(request: RouteRequest): crud.PatchDocument {
  const body = requireBody(request);
  if (request.contentType === 'application/json-patch+json') return { format: 'json-patch', operations: body };
  if (request.contentType === 'application/fhir+json' || (request.contentType === undefined && request.bodyIsParsed)) {
    const resource = body as Resource;
    if (resource?.resourceType !== 'Parameters') {
      throw badRequest('A FHIRPath Patch body must be a Parameters resource.');
    }
    return { format: 'fhirpath-patch', parameters: body };
  }
  throw new FhirError(
    415,
    'not-supported',
    `Content-Type '${request.contentType ?? ''}' is not supported for PATCH; use application/json-patch+json or application/fhir+json.`,
  );
}

/** Runs one request through the interactions. Throws FhirError for every client error. */
export async function route(ctx: EngineContext, request: RouteRequest, extensions: RouteExtensions = {}): Promise<HttpResult> {
  const { method, segments, params, headers, tx } = request;
  const prefer = parsePrefer(headers.prefer);
  const parallel = isParallel(headers['x-conditionalquery-processing-logic']);
  const strict = prefer.handling === 'strict';
  const options = tx ? { tx, parallel, strict } : { parallel, strict };
  const [first, second, third, fourth] = segments;

  // System level.
  if (first === undefined) {
    if (method === 'GET') return searchResult(ctx, tx, options, [], params);
    if (method === 'POST' && extensions.bundle) return extensions.bundle(request, prefer);
    throw methodNotAllowed(method, segments);
  }
  if (first === 'metadata' && segments.length === 1) {
    if (method !== 'GET') throw methodNotAllowed(method, segments);
    return { status: 200, headers: {}, body: capabilityStatement(ctx) };
  }
  if (first === '_history' && segments.length === 1) {
    if (method !== 'GET') throw methodNotAllowed(method, segments);
    return { status: 200, headers: {}, body: await history(ctx, { level: 'system' }, historyOptionsOf(params)) };
  }
  if (first === '_search' && segments.length === 1 && method === 'POST') {
    return searchResult(ctx, tx, options, [], [...params, ...formParams(request)]);
  }
  if (first === '$bulk-delete' && segments.length === 1 && extensions.bulkDelete) {
    if (method !== 'DELETE') throw methodNotAllowed(method, segments);
    return extensions.bulkDelete(request, undefined, prefer);
  }
  if (first === '_operations' && second === 'bulk-delete' && third !== undefined && segments.length === 3) {
    if (method === 'GET' && extensions.jobStatus) return extensions.jobStatus(third);
    if (method === 'DELETE' && extensions.jobCancel) return extensions.jobCancel(third);
    throw methodNotAllowed(method, segments);
  }

  const type = first;
  crud.assertResourceType(ctx, type);

  // Type level.
  if (second === undefined) {
    switch (method) {
      case 'GET':
        return searchResult(ctx, tx, options, [type], params);
      case 'POST': {
        const ifNoneExist = headers['if-none-exist'];
        const result = await crud.create(ctx, type, fhirBody(request), {
          ...options,
          ...(ifNoneExist !== undefined && { ifNoneExist: criteriaOfHeader(ifNoneExist, type) }),
        });
        return writtenResult(ctx, prefer, result, result.outcome === 'matched');
      }
      case 'PUT':
        requireCriteria(params, type);
        return writtenResult(ctx, prefer, await crud.conditionalUpdate(ctx, type, params, fhirBody(request), options), false);
      case 'DELETE': {
        requireCriteria(params, type);
        const countParam = params.find(([k]) => k === '_count');
        const count = countParam === undefined ? undefined : Number(countParam[1]);
        if (countParam && !/^-?\d+$/.test(countParam[1])) throw badRequest('The _count parameter must be an integer.');
        const result = await crud.conditionalDelete(ctx, type, without(params, new Set([...HARD_DELETE, '_count'])), {
          ...options,
          hard: isTrue(params, HARD_DELETE),
          ...(count !== undefined && { count }),
        });
        return deletedResult(result, count !== undefined);
      }
      case 'PATCH': {
        requireCriteria(params, type);
        const ifMatch = ifMatchOf(headers);
        const document = patchDocument(request);
        const patched = await crud.conditionalPatch(ctx, type, params, document, {
          ...options,
          ...(ifMatch !== undefined && { ifMatch }),
        });
        return writtenResult(ctx, prefer, patched, false);
      }
      default:
        throw methodNotAllowed(method, segments);
    }
  }
  if (second === '_search' && segments.length === 2) {
    if (method !== 'POST') throw methodNotAllowed(method, segments);
    return searchResult(ctx, tx, options, [type], [...params, ...formParams(request)]);
  }
  if (second === '_history' && segments.length === 2) {
    if (method !== 'GET') throw methodNotAllowed(method, segments);
    return { status: 200, headers: {}, body: await history(ctx, { level: 'type', type }, historyOptionsOf(params)) };
  }
  if (second === '$bulk-delete' && segments.length === 2 && extensions.bulkDelete) {
    if (method !== 'DELETE') throw methodNotAllowed(method, segments);
    return extensions.bulkDelete(request, type, prefer);
  }

  // An operation the engine does not have is no route (R4 http.html: 404 "not a FHIR end-point"; Microsoft: 404).
  if (second.startsWith('$')) throw notFound(`The requested route '/${pathOf(segments)}' was not found.`);

  // Instance level.
  const id = second;
  if (third === undefined) {
    switch (method) {
      case 'GET':
        return readResult(await crud.read(ctx, type, id, tx));
      case 'PUT': {
        const ifMatch = ifMatchOf(headers);
        const result = await crud.update(ctx, type, id, fhirBody(request), {
          ...options,
          ...(ifMatch !== undefined && { ifMatch }),
        });
        return writtenResult(ctx, prefer, result, false);
      }
      case 'DELETE':
        return deletedResult(await crud.remove(ctx, type, id, { ...options, hard: isTrue(params, HARD_DELETE) }), false);
      case 'PATCH': {
        const ifMatch = ifMatchOf(headers);
        const document = patchDocument(request);
        const patched = await crud.patch(ctx, type, id, document, { ...options, ...(ifMatch !== undefined && { ifMatch }) });
        return writtenResult(ctx, prefer, patched, false);
      }
      default:
        throw methodNotAllowed(method, segments);
    }
  }
  if (third === '$purge-history' && segments.length === 3) {
    if (method !== 'DELETE') throw methodNotAllowed(method, segments);
    await crud.purgeHistory(ctx, type, id, options);
    return { status: 204, headers: {} };
  }
  if (third === '_history') {
    if (method !== 'GET') throw methodNotAllowed(method, segments);
    if (fourth === undefined) {
      return { status: 200, headers: {}, body: await history(ctx, { level: 'instance', type, id }, historyOptionsOf(params)) };
    }
    if (segments.length === 4) return readResult(await crud.vread(ctx, type, id, fourth, tx));
  }
  throw notFound(`The requested route '/${segments.join('/')}' was not found.`);
}

/** 201 with Location for a created resource, 200 otherwise (Location too when `withLocation`). */
function writtenResult(ctx: EngineContext, prefer: Preferences, result: WriteOutcome, withLocation: boolean): HttpResult {
  return writeResult(
    result.outcome === 'created' ? 201 : 200,
    result.version,
    result.resource,
    prefer,
    withLocation || result.outcome === 'created' ? locationOf(ctx.baseUrl, result.version) : undefined,
  );
}

/** 204 with the tombstone's ETag, and `Items-Deleted` for a counted conditional delete. */
function deletedResult(result: crud.DeleteOutcome, counted: boolean): HttpResult {
  const out: Record<string, string> = {};
  if (result.version) out.etag = `W/"${result.version.versionId}"`;
  if (counted) out['items-deleted'] = String(result.deleted);
  return { status: 204, headers: out };
}

async function searchResult(
  ctx: EngineContext,
  tx: StorageTx | undefined,
  { strict, parallel }: { strict: boolean; parallel: boolean },
  types: readonly string[],
  params: RouteRequest['params'],
): Promise<HttpResult> {
  return {
    status: 200,
    headers: {},
    // The JSON form splices the stored resources in as they are, without parsing them.
    body: await ctx.search.searchJson(tx ?? ctx.storage, {
      types,
      params,
      strict,
      parallel,
      baseUrl: ctx.baseUrl,
      path: types.length === 1 ? types[0]! : '',
    }),
  };
}

function requireCriteria(params: RouteRequest['params'], type: string): void {
  if (params.length === 0) {
    throw badRequest(`Conditional operation on ${type} was not attempted because search criteria was not selective enough.`);
  }
}

/** `If-None-Exist: identifier=x` (also `Patient?identifier=x`) as criteria. */
function criteriaOfHeader(value: string, type: string): [string, string][] {
  const criteria = criteriaOf(value, type);
  if (criteria.length === 0) {
    throw badRequest(`Conditional operation on ${type} was not attempted because search criteria was not selective enough.`);
  }
  return criteria;
}

/** Parameters of a `POST _search` form body. */
function formParams(request: RouteRequest): [string, string][] {
  if (request.body === undefined || request.body === '') return [];
  if (request.contentType !== 'application/x-www-form-urlencoded') {
    throw new FhirError(415, 'not-supported', 'POST _search takes an application/x-www-form-urlencoded body.');
  }
  return [...new URLSearchParams(String(request.body))];
}
