import { FhirError, badRequest } from '../errors.js';
import type { EngineContext } from '../interactions/context.js';
import { parseJson } from '../resource/validate.js';
import type { StorageTx } from '../storage/storage-adapter.js';
import { mediaTypeOf, normalizeHeaders, type HeaderInput } from './headers.js';
import { errorResult, type HttpResult } from './respond.js';
import { route, type RouteExtensions, type RouteRequest } from './router.js';

/** An HTTP-shaped request, as any Node server (or a test) can build it. */
export interface FhirHttpRequest {
  readonly method: string;
  /** Path and query below the FHIR base: `/Patient/1?x=y`, `Patient?name=a`, or an absolute URL. */
  readonly url: string;
  /** Any case; repeated headers as arrays (node's IncomingHttpHeaders fits as is). */
  readonly headers?: HeaderInput;
  /** Raw text or bytes, or an already-parsed JSON value (e.g. Express's `req.body`). */
  readonly body?: string | Uint8Array | object;
}

/** The response to write back. */
export interface FhirHttpResponse {
  readonly status: number;
  /** Lower-case names: content-type, etag, last-modified, location, content-location… */
  readonly headers: Readonly<Record<string, string>>;
  /** Serialised FHIR JSON, or undefined (204, `Prefer: return=minimal`). */
  readonly body: string | undefined;
}

const decoder = new TextDecoder();

const isJson = (mediaType: string): boolean => mediaType === 'application/json' || mediaType.endsWith('+json');

const encoder = new TextEncoder();

function exceeds(body: string | Uint8Array, max: number): boolean {
  if (typeof body !== 'string') return body.byteLength > max;
  // A UTF-16 code unit is at most 3 UTF-8 bytes: only count when it could matter.
  return body.length * 3 > max && encoder.encode(body).byteLength > max;
}

/** Splits a URL into path segments and query parameters. */
export function parseUrl(url: string): { segments: string[]; params: [string, string][] } {
  // Fast path for the common relative URL with nothing to decode in its path.
  if (!url.includes('://') && !url.includes('#')) {
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (!path.includes('%')) {
      return {
        segments: path.split('/').filter(Boolean),
        params: q < 0 ? [] : [...new URLSearchParams(url.slice(q + 1))],
      };
    }
  }
  const parsed = new URL(url, 'http://fhir.invalid/');
  let segments: string[];
  try {
    segments = parsed.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw badRequest(`The URL '${url}' is malformed.`);
  }
  return { segments, params: [...parsed.searchParams] };
}

/** Builds the router's view of a request: headers, URL and body parsed. */
export function toRouteRequest(request: FhirHttpRequest, limits: { maxBodyBytes: number }, tx?: StorageTx): RouteRequest {
  const headers = normalizeHeaders(request.headers);
  const contentType = mediaTypeOf(headers['content-type']);
  const { segments, params } = parseUrl(request.url);
  let body: unknown;
  let bodyIsParsed = false;
  const raw = request.body;
  if (typeof raw === 'string' || raw instanceof Uint8Array) {
    if (exceeds(raw, limits.maxBodyBytes)) {
      throw new FhirError(413, 'too-long', `The request body exceeds the limit of ${limits.maxBodyBytes} bytes.`);
    }
    const text = typeof raw === 'string' ? raw : decoder.decode(raw);
    // Only JSON is parsed; any other body reaches the router as text, which answers 415 for it.
    if (/\S/.test(text)) body = contentType === undefined || isJson(contentType) ? parseJson(text) : text;
  } else if (raw !== undefined) {
    body = raw;
    bodyIsParsed = true;
  }
  return { method: request.method.toUpperCase(), segments, params, headers, body, contentType, bodyIsParsed, ...(tx && { tx }) };
}

/** Serialises a result, with the FHIR content type. */
export function serialize(result: HttpResult): FhirHttpResponse {
  const headers: Record<string, string> = { ...result.headers };
  if (result.body === undefined) return { status: result.status, headers, body: undefined };
  headers['content-type'] = 'application/fhir+json; charset=utf-8';
  return {
    status: result.status,
    headers,
    body: typeof result.body === 'string' ? result.body : JSON.stringify(result.body),
  };
}

/** Any thrown value as a result: FhirErrors as they are, anything else as a bare 500. */
export function resultOfError(error: unknown, onUnexpected: (error: unknown) => void): HttpResult {
  if (error instanceof FhirError) return errorResult(error);
  onUnexpected(error);
  return errorResult(new FhirError(500, 'exception', 'An unexpected error occurred while processing the request.'));
}

/**
 * Runs one request. Never rejects: every failure comes back as a status with an OperationOutcome.
 */
export async function handle(
  ctx: EngineContext,
  request: FhirHttpRequest,
  extensions: RouteExtensions,
  onUnexpected: (error: unknown) => void,
): Promise<FhirHttpResponse> {
  try {
    return serialize(await route(ctx, toRouteRequest(request, ctx.limits), extensions));
  } catch (error) {
    return serialize(resultOfError(error, onUnexpected));
  }
}
