import { badRequest } from '../errors.js';

/** The weak ETag of a version: `W/"3"`. */
export const weakETag = (versionId: string): string => `W/"${versionId}"`;

/** The URL of one version, as `Location` and `Bundle.entry.response.location` give it: `[base]/Type/id/_history/n`. */
export const versionUrl = (baseUrl: string, version: { readonly type: string; readonly id: string; readonly versionId: string }): string =>
  `${baseUrl}/${version.type}/${version.id}/_history/${version.versionId}`;

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
  const instant = now.toISOString();
  // Both come from toISOString, whose fixed-width form orders as the instants do.
  if (previous === undefined || instant > previous) return instant;
  return new Date(Date.parse(previous) + 1).toISOString();
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** Sakamoto's month offsets. */
const MONTH_OFFSETS = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
/**
 * An HTTP date (RFC 7231 IMF-fixdate) from an instant, for Last-Modified. Every response to a read
 * or write carries one, so the `YYYY-MM-DDThh:mm:ss.sssZ` form the engine stores is formatted by
 * hand; anything else goes through Date.
 */
export function httpDate(instant: string): string {
  if (instant.length !== 24 || instant[10] !== 'T' || instant[23] !== 'Z') return new Date(instant).toUTCString();
  const year = Number(instant.slice(0, 4));
  const month = Number(instant.slice(5, 7));
  const day = instant.slice(8, 10);
  return `${DAYS[weekday(year, month, Number(day))]}, ${day} ${MONTHS[month - 1]} ${instant.slice(0, 4)} ${instant.slice(11, 19)} GMT`;
}

/** Day of the week (0 = Sunday) of a proleptic Gregorian date (Sakamoto's method). */
function weekday(year: number, month: number, day: number): number {
  const y = month < 3 ? year - 1 : year;
  return (y + Math.floor(y / 4) - Math.floor(y / 100) + Math.floor(y / 400) + MONTH_OFFSETS[month - 1]! + day) % 7;
}
