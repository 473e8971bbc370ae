import type { FhirError } from '../errors.js';
import type { Resource } from '../resource/resource.js';
import { httpDate, weakETag } from '../resource/version.js';
import type { StoredVersion } from '../storage/storage-adapter.js';
import type { Preferences } from './headers.js';

/** A transport-free response: the body is a resource, or stored JSON passed through untouched. */
export interface HttpResult {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body?: Resource | string;
}

/** ETag and Last-Modified of a version. */
export const versionHeaders = (version: StoredVersion): Record<string, string> => ({
  etag: weakETag(version.versionId),
  'last-modified': httpDate(version.lastUpdated),
});

/** `Location` of a version: `[base]/Type/id/_history/n`. */
export const locationOf = (baseUrl: string, version: StoredVersion): string =>
  `${baseUrl}/${version.type}/${version.id}/_history/${version.versionId}`;

/** The response to a read: the stored JSON as it is. */
export const readResult = (version: StoredVersion): HttpResult => ({
  status: 200,
  headers: versionHeaders(version),
  body: version.json!,
});

/**
 * The response to a write: status, ETag, Last-Modified, Location when asked, and a body chosen by
 * `Prefer: return` (representation by default).
 */
export function writeResult(
  status: number,
  version: StoredVersion,
  resource: Resource,
  prefer: Preferences,
  location: string | undefined,
): HttpResult {
  const headers = versionHeaders(version);
  if (location) headers.location = location;
  if (prefer.return === 'minimal') return { status, headers };
  if (prefer.return === 'OperationOutcome') {
    return {
      status,
      headers,
      body: {
        resourceType: 'OperationOutcome',
        issue: [
          {
            severity: 'information',
            code: 'informational',
            diagnostics: `${version.type}/${version.id} version ${version.versionId}: ${status === 201 ? 'created' : 'ok'}.`,
          },
        ],
      },
    };
  }
  // The stored JSON is the resource as written: send it without serialising again.
  return { status, headers, body: version.json ?? resource };
}

/** The response to an error. */
export const errorResult = (error: FhirError): HttpResult => ({
  status: error.status,
  headers: { ...error.headers },
  body: error.toOperationOutcome(),
});
