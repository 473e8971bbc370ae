/**
 * The only code that turns interaction results into HTTP: status, headers (`ETag`, `Last-Modified`,
 * `Location`, `Content-Location`, `Items-Deleted`, `X-Progress`, `Retry-After`) and wire text.
 * @packageDocumentation
 */
import type { FhirError } from '../errors.js';
import type { Preferences } from '../interactions/request.js';
import { bodyOf, JsonText, statusOf, type Body, type InteractionResult } from '../interactions/result.js';
import { httpDate, versionUrl, weakETag } from '../resource/version.js';

/** The response to write back. */
export interface FhirHttpResponse {
  readonly status: number;
  /** Lower-case names: content-type, etag, last-modified, location, content-location… */
  readonly headers: Readonly<Record<string, string>>;
  /** Serialised FHIR JSON, or undefined (204, `Prefer: return=minimal`, or a {@link stream}). */
  readonly body: string | undefined;
  /**
   * A body too large to hold as one string (a bulk export file), to be sent chunk by chunk as it is
   * read; `body` is then undefined. Node: `Readable.from(response.stream).pipe(res)`.
   */
  readonly stream?: AsyncIterable<Uint8Array>;
}

function response(status: number, headers: Record<string, string>, body: Body | undefined): FhirHttpResponse {
  if (body === undefined) return { status, headers, body: undefined };
  headers['content-type'] = 'application/fhir+json; charset=utf-8';
  return { status, headers, body: body instanceof JsonText ? body.text : JSON.stringify(body) };
}

/** The HTTP response of a result, its body chosen by `Prefer: return` for writes. */
export function render(result: InteractionResult, prefer: Preferences | undefined, baseUrl: string): FhirHttpResponse {
  const headers: Record<string, string> = {};
  switch (result.outcome) {
    case 'created':
    case 'matched':
    case 'updated':
    case 'unchanged':
    case 'read':
      if (result.outcome === 'created' || result.outcome === 'matched') headers.location = versionUrl(baseUrl, result.version);
      headers.etag = weakETag(result.version.versionId);
      headers['last-modified'] = httpDate(result.version.lastUpdated);
      break;
    case 'deleted':
      if (result.version) headers.etag = weakETag(result.version.versionId);
      if (result.counted) headers['items-deleted'] = String(result.deleted);
      break;
    case 'job-accepted':
      headers['content-location'] = result.statusUrl;
      break;
    case 'job-status':
      if (statusOf(result) === 202) {
        headers['x-progress'] = result.progress ?? 'in progress';
        if (result.retryAfter !== undefined) headers['retry-after'] = String(result.retryAfter);
      }
      break;
    case 'export-manifest':
      headers['content-type'] = 'application/json; charset=utf-8';
      return { status: 200, headers, body: JSON.stringify(result.manifest) };
    case 'ndjson':
      headers['content-type'] = 'application/fhir+ndjson';
      return { status: 200, headers, body: undefined, stream: result.content };
  }
  return response(statusOf(result), headers, bodyOf(result, prefer));
}

/** The HTTP response of an error: its status, its headers (the ETag of a 410) and its OperationOutcome. */
export const renderError = (error: FhirError): FhirHttpResponse =>
  response(error.status, { ...error.headers }, error.toOperationOutcome());
