/**
 * The bodies routes take, by media type: a FHIR resource, a patch document, a search form.
 * @packageDocumentation
 */
import { badRequest, FhirError } from '../errors.js';
import type { Resource } from '../resource/resource.js';
import type { PatchDocument } from './crud.js';
import type { InteractionRequest } from './request.js';

const FHIR_JSON = new Set(['application/fhir+json', 'application/json']);

const unsupported = (mediaType: string | undefined, what: string): FhirError =>
  new FhirError(415, 'not-supported', `Content-Type '${mediaType ?? ''}' is not supported${what}.`);

function requireBody(request: InteractionRequest): unknown {
  if (request.body === undefined || request.body === null || request.body === '') {
    throw badRequest('The request body is empty.');
  }
  return request.body;
}

/** The body as FHIR JSON (`application/fhir+json`, `application/json`, or handed over as a value); 415 otherwise. */
export function fhirBody(request: InteractionRequest): unknown {
  const { mediaType } = request;
  if (mediaType !== undefined && !FHIR_JSON.has(mediaType)) {
    throw unsupported(mediaType, '; use application/fhir+json or application/json');
  }
  return requireBody(request);
}

/**
 * The patch document of a PATCH: JSON Patch (`application/json-patch+json`) or FHIRPath Patch (a
 * `Parameters` as `application/fhir+json`, or handed over as a value); 415 for anything else.
 */
export function patchDocument(request: InteractionRequest): PatchDocument {
  const { mediaType } = request;
  const body = requireBody(request);
  if (mediaType === 'application/json-patch+json') return { format: 'json-patch', operations: body };
  if (mediaType === 'application/fhir+json' || mediaType === undefined) {
    if ((body as Resource | null)?.resourceType !== 'Parameters') {
      throw badRequest('A FHIRPath Patch body must be a Parameters resource.');
    }
    return { format: 'fhirpath-patch', parameters: body };
  }
  throw unsupported(mediaType, ' for PATCH; use application/json-patch+json or application/fhir+json');
}

/** The parameters of a `POST _search` form body (`application/x-www-form-urlencoded`). */
export function formParams(request: InteractionRequest): [string, string][] {
  if (request.body === undefined || request.body === '') return [];
  if (request.mediaType !== 'application/x-www-form-urlencoded') {
    throw new FhirError(415, 'not-supported', 'POST _search takes an application/x-www-form-urlencoded body.');
  }
  return [...new URLSearchParams(String(request.body))];
}
