import { badRequest } from '../errors.js';

/** The weak ETag of a version: `W/"3"`. */
export const weakETag = (versionId: string): string => `W/"${versionId}"`;

/**
 * Parses an If-Match value: `W/"n"` or `"n"`. Anything else is a 400.
 * @returns the version id it names
 */
export function parseIfMatch(value: string): string {
  const match = /^\s*(?:W\/)?"([^"]+)"\s*$/.exec(value);
  if (!match) throw badRequest(`If-Match '${value}' must be a weak ETag such as W/"1".`);
  return match[1]!;
}

/**
 * The version id an ETag names, leniently, for the typed API: `W/"2"`, `"2"` or a bare `2`.
 * (HTTP If-Match headers go through the strict {@link parseIfMatch}.)
 */
export const versionIdOfETag = (value: string): string => value.replace(/^W\//, '').replace(/"/g, '');

/** The version after `versionId` ("1" for a new resource). */
export const nextVersionId = (previous: string | undefined): string =>
  previous === undefined ? '1' : String(Number(previous) + 1);

/**
 * The lastUpdated of a new version: the clock's time, but always later than the previous version's,
 * so that a resource's versions are strictly ordered even when the clock stands still.
 */
export function nextLastUpdated(now: Date, previous: string | undefined): string {
  let t = now.getTime();
  if (previous !== undefined) t = Math.max(t, Date.parse(previous) + 1);
  return new Date(t).toISOString();
}

/** An HTTP date (RFC 7231) from an instant, for Last-Modified. */
export const httpDate = (instant: string): string => new Date(instant).toUTCString();
