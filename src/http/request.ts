/**
 * The wire side of a request: headers, URL and body of an HTTP-shaped request parsed into the
 * engine's {@link InteractionRequest}.
 * @packageDocumentation
 */
import { FhirError } from '../errors.js';
import { blankRequest, criteriaOf, parseUrl, type InteractionRequest } from '../interactions/request.js';
import { parseJson } from '../resource/validate.js';
import { parseIfMatch } from '../resource/version.js';
import { isParallel, mediaTypeOf, normalizeHeaders, parsePrefer, type HeaderInput } from './headers.js';

/** An HTTP-shaped request, as any Node server (or a test) can build it. */
export interface FhirHttpRequest {
  readonly method: string;
  /** Path and query below the FHIR base: `/Patient/1?x=y`, `Patient?name=a`, or an absolute URL. */
  readonly url: string;
  /** Any case; repeated headers as arrays (node's IncomingHttpHeaders fits as is). */
  readonly headers?: HeaderInput;
  /** Raw text or bytes, or an already-parsed JSON value (e.g. Express's `req.body`). */
  readonly body?: string | Uint8Array | object;
  /**
   * The public base URL this request came in on, when it is not the engine's `baseUrl` (a server
   * behind a proxy, or mounted under several paths): `Location`, `Content-Location`, `fullUrl` and
   * bundle links are built on it. The mount helpers of `fhir-engine/node` set it.
   */
  readonly baseUrl?: string;
}

/** FHIR JSON is UTF-8 (RFC 8259 §8.1): bytes that are not are refused, never turned into U+FFFD. */
const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

const isJson = (mediaType: string): boolean => mediaType === 'application/json' || mediaType.endsWith('+json');

function exceeds(body: string | Uint8Array, max: number): boolean {
  if (typeof body !== 'string') return body.byteLength > max;
  // A UTF-16 code unit is at most 3 UTF-8 bytes: only count when it could matter.
  return body.length * 3 > max && encoder.encode(body).byteLength > max;
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new FhirError(400, 'invalid', 'The request body is not valid UTF-8.');
  }
}

/**
 * The part of `url` below the FHIR base: an absolute URL on `baseUrl` (or on its path under another
 * host, as a proxy may forward it) loses the base path (`http://x/fhir/Patient` → `/Patient`); any
 * other URL is taken as below the base already.
 */
export function pathBelowBase(url: string, baseUrl: string): string {
  const scheme = url.indexOf('://');
  if (scheme < 0 || scheme > url.search(/[/?#]/)) return url;
  if (baseUrl !== '' && (url === baseUrl || url.startsWith(`${baseUrl}/`) || url.startsWith(`${baseUrl}?`))) {
    return url.slice(baseUrl.length);
  }
  const basePath = pathOfUrl(baseUrl);
  const pathStart = url.indexOf('/', scheme + 3);
  if (basePath === '' || pathStart < 0) return url;
  const rest = url.slice(pathStart);
  return rest === basePath || rest.startsWith(`${basePath}/`) || rest.startsWith(`${basePath}?`) ? rest.slice(basePath.length) : url;
}

/** The path of a base URL without its trailing slash: `https://x/fhir/` → `/fhir`; `''` for none or a relative base. */
function pathOfUrl(baseUrl: string): string {
  const scheme = baseUrl.indexOf('://');
  const start = scheme < 0 ? 0 : baseUrl.indexOf('/', scheme + 3);
  return start < 0 ? '' : baseUrl.slice(start).replace(/\/+$/, '');
}

/**
 * Parses an HTTP-shaped request (`url` already below the base): 413 for a body over `maxBodyBytes`,
 * 400 for bytes that are not UTF-8 and for malformed JSON, an If-Match or a Prefer header. Only JSON bodies (and bodies without a Content-Type) are parsed; any
 * other body stays text, for the route to take (a search form) or refuse (415).
 */
export function requestOf(request: FhirHttpRequest, url: string, limits: { readonly maxBodyBytes: number }): InteractionRequest {
  const headers = normalizeHeaders(request.headers);
  const contentType = mediaTypeOf(headers['content-type']);
  const upper = request.method.toUpperCase();
  // HEAD runs as GET; the edge drops the body.
  const method = upper === 'HEAD' ? 'GET' : upper;
  const { segments, params } = parseUrl(url);
  let body: unknown;
  let mediaType = contentType;
  const raw = request.body;
  if (typeof raw === 'string' || raw instanceof Uint8Array) {
    if (exceeds(raw, limits.maxBodyBytes)) {
      throw new FhirError(413, 'too-long', `The request body exceeds the limit of ${limits.maxBodyBytes} bytes.`);
    }
    const text = typeof raw === 'string' ? raw : decodeUtf8(raw);
    if (/\S/.test(text)) body = contentType === undefined || isJson(contentType) ? parseJson(text) : text;
    mediaType ??= '';
  } else if (raw !== undefined) {
    body = raw;
  }
  const parsed = blankRequest(method, segments, params);
  parsed.prefer = parsePrefer(headers.prefer);
  parsed.parallelEntries = isParallel(headers['x-bundle-processing-logic']);
  parsed.parallelQueries = isParallel(headers['x-conditionalquery-processing-logic']);
  parsed.textBodies = true;
  parsed.body = body;
  parsed.mediaType = mediaType;
  const ifMatch = headers['if-match'];
  if (ifMatch !== undefined && (method === 'PUT' || method === 'PATCH')) parsed.ifMatch = parseIfMatch(ifMatch);
  const ifNoneExist = headers['if-none-exist'];
  if (ifNoneExist !== undefined && method === 'POST') parsed.ifNoneExist = criteriaOf(ifNoneExist, segments[0]);
  return parsed;
}
