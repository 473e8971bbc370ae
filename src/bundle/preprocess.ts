/**
 * Bundle envelope checks and the turning of `Bundle.entry` items into interaction requests.
 * No interaction runs here: only shapes, URLs and the keys that say which resource an entry touches.
 * @packageDocumentation
 */
import { badRequest, FhirError } from '../errors.js';
import type { EngineContext } from '../interactions/context.js';
import { blankRequest, criteriaOf, parseUrl, type Criteria, type InteractionRequest, type Mutable } from '../interactions/request.js';
import { jsonPatchFromBinary } from '../patch/index.js';
import { assertJsonDepth } from '../resource/json-depth.js';
import type { Resource } from '../resource/resource.js';
import { parseIfMatch } from '../resource/version.js';

/** `Bundle.type` values this layer processes. */
export type BundleKind = 'batch' | 'transaction';

/** One `Bundle.entry` of a request bundle, as far as it is read. */
export interface RequestEntry {
  fullUrl?: unknown;
  resource?: unknown;
  request?: {
    method?: unknown;
    url?: unknown;
    ifMatch?: unknown;
    ifNoneExist?: unknown;
  };
}

/** A request bundle whose envelope passed the checks. */
export interface RequestBundle {
  readonly kind: BundleKind;
  readonly entries: readonly RequestEntry[];
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** Checks the envelope: a Bundle of type batch or transaction with at most `maxBundleEntries` entries. */
export function parseBundle(body: unknown, ctx: EngineContext): RequestBundle {
  const bundle = body as Resource | undefined;
  if (typeof bundle !== 'object' || bundle === null || Array.isArray(bundle) || bundle.resourceType !== 'Bundle') {
    throw badRequest('Only a bundle can be submitted for batch or transaction processing.');
  }
  const type = bundle['type'];
  if (type === undefined) {
    throw badRequest('Bundle type is not present. Possible values are: transaction or batch.', ['Bundle.type']);
  }
  if (type !== 'batch' && type !== 'transaction') {
    throw badRequest(
      `The provided Bundle type '${String(type)}' is not supported. Supported values are: batch and transaction.`,
      ['Bundle.type'],
    );
  }
  const entries = bundle['entry'] ?? [];
  if (!Array.isArray(entries)) throw badRequest('Bundle.entry must be an array.', ['Bundle.entry']);
  const max = ctx.limits.maxBundleEntries;
  if (entries.length > max) {
    throw new FhirError(
      413,
      'too-long',
      `The number of entries in the bundle (${entries.length}) exceeded the configured limit of ${max}.`,
    );
  }
  return { kind: type, entries: entries as RequestEntry[] };
}

/** An entry turned into an interaction request, plus what bundle processing needs to know about it. */
export interface EntryRequest {
  /** Position in `Bundle.entry`. */
  readonly index: number;
  readonly method: string;
  /** `request.url` as the client wrote it (for messages). */
  readonly rawUrl: string;
  readonly fullUrl: string | undefined;
  /** The resource type the URL addresses, if any. */
  readonly type: string | undefined;
  /** The id the URL addresses (instance level), if any. */
  readonly id: string | undefined;
  /** Criteria of a conditional URL (`PUT/PATCH/DELETE Type?q`) or of `ifNoneExist`, sorted `k=v&…`. */
  readonly criteria: string | undefined;
  /** The same criteria as name/value pairs, as the search takes them. */
  readonly criteriaPairs: Criteria | undefined;
  /** True for entries that write (not GET/HEAD, not an operation). */
  readonly writes: boolean;
  /**
   * What the entry asks for: the bundle layer's own object, which a transaction completes (its unit
   * of work, preset ids, fullUrl references rewritten) before running it.
   */
  readonly request: Mutable<InteractionRequest>;
}


/** Reason phrases for `Bundle.entry.response.status` ("201 Created"). */
const REASONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

/** The spec's form of an entry status: `"201 Created"` (a bare code when the phrase is unknown). */
export const statusText = (status: number): string =>
  REASONS[status] === undefined ? String(status) : `${status} ${REASONS[status]}`;

/** Criteria pairs as a canonical, sorted key. */
export const canonicalCriteria = (pairs: readonly (readonly [string, string])[]): string =>
  pairs
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .sort()
    .join('&');

/**
 * Makes `request.url` relative to the FHIR base: strips the engine's base URL, a leading slash, or,
 * for another absolute URL, everything before the first segment that is a resource type
 * (`http://hl7.org/fhir/us/sdc/Questionnaire/1` → `Questionnaire/1`).
 */
export function relativeUrl(url: string, ctx: EngineContext): string {
  let u = url.trim();
  if (ctx.baseUrl !== '' && u.startsWith(`${ctx.baseUrl}/`)) return u.slice(ctx.baseUrl.length + 1);
  // Nearly every entry: `Type`, `Type/id`, `Type?query` — relative, nothing to strip.
  if (/^[A-Za-z]/.test(u) && !u.includes(':')) return u;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(u)) {
    const parsed = new URL(u);
    const segments = parsed.pathname.split('/').filter(Boolean);
    const at = segments.findIndex((s) => ctx.registry.resourceTypes.has(s));
    u = (at < 0 ? segments : segments.slice(at)).join('/') + parsed.search;
  }
  return u.replace(/^\/+/, '');
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** What every entry of a bundle takes over from the bundle's own request. */
export type InheritedRequest = Pick<InteractionRequest, 'prefer' | 'parallelQueries' | 'textBodies'>;

/**
 * Validates one entry and builds its request. Throws FhirError (400) for an entry that cannot be
 * run at all (no request, no method, no url, a PATCH without a usable body…), and 405 for a POST to
 * the base: bundles do not nest.
 */
export function entryRequest(entry: RequestEntry, index: number, ctx: EngineContext, inherited: InheritedRequest): EntryRequest {
  if (!isObject(entry) || !isObject(entry.request)) throw badRequest('Request is empty.', [`Bundle.entry[${index}].request`]);
  const request = entry.request;
  const method = typeof request.method === 'string' ? request.method.toUpperCase() : undefined;
  const rawUrl = typeof request.url === 'string' ? request.url : undefined;
  if (rawUrl === undefined || rawUrl.trim() === '') {
    throw badRequest('Bundle.entry.request.url is required.', [`Bundle.entry[${index}].request.url`]);
  }
  if (method === undefined || !METHODS.has(method)) {
    throw badRequest(`Requested operation '${rawUrl}' is invalid using the request method ${String(request.method)}.`, [
      `Bundle.entry[${index}].request.method`,
    ]);
  }
  const { segments, params } = parseUrl(relativeUrl(rawUrl, ctx));
  if (method === 'POST' && segments.length === 0) {
    throw new FhirError(405, 'not-supported', "The method POST is not allowed on '/' inside a bundle: bundles do not nest.");
  }
  const [first, second] = segments;
  const type = first !== undefined && ctx.registry.resourceTypes.has(first) ? first : undefined;
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined);
  const ifMatch = method === 'PUT' || method === 'PATCH' ? str(request.ifMatch) : undefined;
  const ifNoneExistText = method === 'POST' ? str(request.ifNoneExist) : undefined;
  const ifNoneExist = ifNoneExistText === undefined ? undefined : criteriaOf(ifNoneExistText, first);

  let body: unknown;
  let mediaType: string | undefined;
  if (method === 'PATCH') {
    const resource = entry.resource as Resource | undefined;
    if (!isObject(resource)) throw badRequest('A PATCH entry needs a Binary or Parameters resource.', [`Bundle.entry[${index}].resource`]);
    if (resource.resourceType === 'Binary') {
      body = jsonPatchFromBinary(resource);
      // Base64 inside the Bundle: its depth was not seen when the Bundle's was.
      assertJsonDepth(body, ctx.limits.maxJsonDepth, 'The Binary JSON Patch');
      mediaType = 'application/json-patch+json';
    } else {
      body = resource;
    }
  } else if (method === 'POST' || method === 'PUT') {
    body = entry.resource;
  }

  const isOperation = segments.some((s) => s.startsWith('$') || s === '_search' || s === '_history');
  const id = type !== undefined && segments.length === 2 && !isOperation ? second : undefined;
  let criteriaPairs: Criteria | undefined;
  if (type !== undefined && segments.length === 1 && params.length > 0 && (method === 'PUT' || method === 'PATCH' || method === 'DELETE')) {
    criteriaPairs = params.filter(([k]) => k !== '');
  } else if (type !== undefined && segments.length === 1 && method === 'POST') {
    criteriaPairs = ifNoneExist;
  }
  const criteria = criteriaPairs === undefined ? undefined : canonicalCriteria(criteriaPairs);
  const writes = method !== 'GET' && method !== 'HEAD' && !isOperation && type !== undefined;
  const fullUrl = typeof entry.fullUrl === 'string' && entry.fullUrl !== '' ? entry.fullUrl : undefined;
  const built = blankRequest(method, segments, params);
  built.prefer = inherited.prefer;
  built.parallelQueries = inherited.parallelQueries;
  built.textBodies = inherited.textBodies;
  built.body = body;
  built.mediaType = mediaType;
  if (ifMatch !== undefined) built.ifMatch = parseIfMatch(ifMatch);
  built.ifNoneExist = ifNoneExist;
  return { index, method, rawUrl, fullUrl, type, id, criteria, criteriaPairs, writes, request: built };
}

/**
 * What resource an entry writes, as a key: `Type/id`, `Type?criteria` for conditional forms, or
 * `fullUrl` for a plain POST. Undefined for reads and operations.
 */
export function targetKey(entry: EntryRequest): string | undefined {
  if (!entry.writes || entry.type === undefined) return undefined;
  if (entry.criteria !== undefined) return `${entry.type}?${entry.criteria}`;
  if (entry.method === 'POST') return entry.fullUrl === undefined ? undefined : `fullUrl:${entry.fullUrl}`;
  return entry.id === undefined ? undefined : `${entry.type}/${entry.id}`;
}

/** Entries (two or more) that write the same resource, grouped by key. */
export function overlaps(entries: readonly EntryRequest[]): { key: string; entries: EntryRequest[] }[] {
  const byKey = new Map<string, EntryRequest[]>();
  for (const entry of entries) {
    const key = targetKey(entry);
    if (key === undefined) continue;
    const list = byKey.get(key);
    if (list) list.push(entry);
    else byKey.set(key, [entry]);
  }
  return [...byKey].filter(([, list]) => list.length > 1).map(([key, list]) => ({ key, entries: list }));
}

/** 400 naming the entries that touch the same resource, or nothing when none do. */
export function assertNoOverlap(entries: readonly EntryRequest[]): void {
  const found = overlaps(entries);
  if (found.length === 0) return;
  const describe = (group: { entries: EntryRequest[] }) =>
    group.entries.map((e) => `entry[${e.index}] ${e.method} '${e.rawUrl}'`).join(', ');
  const [first, ...rest] = found;
  throw new FhirError(
    400,
    'invalid',
    `Bundle contains multiple entries that refer to the same resource: ${describe(first!)}.`,
    {
      issues: rest.map((group) => ({
        severity: 'error' as const,
        code: 'invalid' as const,
        diagnostics: `Bundle contains multiple entries that refer to the same resource: ${describe(group)}.`,
      })),
    },
  );
}
