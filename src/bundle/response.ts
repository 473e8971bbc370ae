/**
 * Response bundles: one function decides an entry's response from an interaction result, one from
 * an error, and one builds the Bundle, as objects for the typed API or as JSON text for `handle()`,
 * with the stored JSON of every resource spliced in as it is.
 * @packageDocumentation
 */
import type { FhirError } from '../errors.js';
import type { Preferences } from '../interactions/request.js';
import { bodyOf, JsonText, objectOf, statusOf, type Body, type InteractionResult } from '../interactions/result.js';
import type { OperationOutcome, Resource } from '../resource/resource.js';
import { versionUrl, weakETag } from '../resource/version.js';
import { statusText } from './preprocess.js';

/** `Bundle.entry.response` of a response bundle. */
export interface EntryResponse {
  status: string;
  location?: string;
  etag?: string;
  lastModified?: string;
  outcome?: OperationOutcome;
}

/** A `Bundle.entry` of a response bundle. */
export interface ResponseEntry {
  fullUrl?: string;
  resource?: Resource;
  response: EntryResponse;
}

/** A response Bundle (`batch-response` / `transaction-response`). */
export interface ResponseBundle extends Resource {
  resourceType: 'Bundle';
  type: 'batch-response' | 'transaction-response';
  entry: ResponseEntry[];
}

/** A response entry on its way: its resource as an object or as JSON text. */
export interface EntryDraft {
  readonly fullUrl?: string;
  readonly resource?: Body;
  readonly response: EntryResponse;
}

const isOutcome = (body: Body): boolean =>
  body instanceof JsonText ? body.value?.resourceType === 'OperationOutcome' : body.resourceType === 'OperationOutcome';

/**
 * The response entry of a result: status, `location` and `fullUrl` of what a create wrote or a
 * conditional create matched, `etag` and `lastModified` of the version written or read, and the
 * body `Prefer: return` asks for (an OperationOutcome of a failed status goes to `outcome`).
 */
export function entryOfResult(result: InteractionResult, prefer: Preferences | undefined, baseUrl: string): EntryDraft {
  const status = statusOf(result);
  const response: EntryResponse = { status: statusText(status) };
  const draft: { fullUrl?: string; resource?: Body; response: EntryResponse } = { response };
  if ('version' in result && result.version !== undefined) {
    const v = result.version;
    if (result.outcome === 'created' || result.outcome === 'matched') {
      draft.fullUrl = `${baseUrl === '' ? '' : `${baseUrl}/`}${v.type}/${v.id}`;
      response.location = versionUrl(baseUrl, v);
    }
    response.etag = weakETag(v.versionId);
    if (result.outcome !== 'deleted') response.lastModified = v.lastUpdated;
  }
  const body = bodyOf(result, prefer);
  if (body === undefined) return draft;
  if (status >= 400 && isOutcome(body)) {
    response.outcome = objectOf(body) as OperationOutcome;
    return { response };
  }
  draft.resource = body;
  return draft;
}

/** The response entry of a failed entry: its status, the ETag a 410 carries, and the OperationOutcome. */
export function entryOfError(error: FhirError): EntryDraft {
  const response: EntryResponse = { status: statusText(error.status) };
  const etag = error.headers['etag'];
  if (etag !== undefined) response.etag = etag;
  response.outcome = error.toOperationOutcome();
  return { response };
}

/** A response entry as an object (typed API). A resource kept as text is parsed, unless the producer had it parsed already. */
export function entryObject(draft: EntryDraft): ResponseEntry {
  // Literal by literal, in the order the spec's examples read, rather than spread: this runs per entry.
  const { fullUrl, resource, response } = draft;
  if (fullUrl !== undefined) return resource !== undefined ? { fullUrl, resource: objectOf(resource), response } : { fullUrl, response };
  return resource !== undefined ? { resource: objectOf(resource), response } : { response };
}

/**
 * A response entry as JSON text (`handle()`), without its closing brace, for {@link responseBundleText}
 * to join: a resource kept as text is spliced in as it is, never parsed. The same content as
 * `entryObject(draft)`, with `resource` written last. Made as soon as the entry has run, so that a
 * large bundle does not hold every entry's objects until the end.
 */
export function entryText(draft: EntryDraft): string {
  const { status, location, etag, lastModified, outcome } = draft.response;
  // `status` is one of ours ("201 Created") and `lastModified` an instant: nothing in them to escape.
  let head = draft.fullUrl === undefined ? `{"response":{"status":"${status}"` : `{"fullUrl":${quote(draft.fullUrl)},"response":{"status":"${status}"`;
  if (location !== undefined) head += `,"location":${quote(location)}`;
  if (etag !== undefined) head += `,"etag":${quote(etag)}`;
  if (lastModified !== undefined) head += `,"lastModified":"${lastModified}"`;
  if (outcome !== undefined) head += `,"outcome":${JSON.stringify(outcome)}`;
  if (draft.resource === undefined) return `${head}}`;
  return `${head}},"resource":${draft.resource instanceof JsonText ? draft.resource.text : JSON.stringify(draft.resource)}`;
}

/** The response Bundle of entries made by {@link entryObject}. */
export const responseBundle = (type: ResponseBundle['type'], entry: ResponseEntry[]): ResponseBundle => ({
  resourceType: 'Bundle',
  type,
  entry,
});

/** The response Bundle, as JSON text, of entries made by {@link entryText}: every entry copied once. */
export function responseBundleText(type: ResponseBundle['type'], entries: readonly string[]): string {
  const head = `{"resourceType":"Bundle","type":${JSON.stringify(type)},"entry":[`;
  return entries.length === 0 ? `${head}]}` : `${head}${entries.join('},')}}]}`;
}

/** Characters a JSON string cannot hold as they are (and lone surrogates, which JSON.stringify escapes). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A string as JSON: as `JSON.stringify` writes it, without calling it for the common plain string. */
const quote = (value: string): string => (NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`);
