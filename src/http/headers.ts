import { badRequest } from '../errors.js';
import type { Preferences } from '../interactions/request.js';

/** Request headers as a handler may receive them: any case, repeated values as arrays. */
export type HeaderInput = Readonly<Record<string, string | readonly string[] | undefined>>;

/** Lower-cases header names and joins repeated values. */
export function normalizeHeaders(headers: HeaderInput | undefined): Record<string, string> {
  // No prototype: a header named `__proto__` or `constructor` is just a header.
  const out = Object.create(null) as Record<string, string>;
  if (!headers) return out;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    // Anything else a JavaScript caller passes (a number, an object) is read as text, never called.
    out[name.toLowerCase()] = typeof value === 'string' ? value : Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

const NO_PREFERENCES: Preferences = Object.freeze({});

/** Parses `Prefer` (RFC 7240): `return=…`, `handling=…`, `respond-async`. */
export function parsePrefer(value: string | undefined): Preferences {
  if (!value) return NO_PREFERENCES;
  const prefs: { -readonly [K in keyof Preferences]: Preferences[K] } = {};
  for (const part of value.split(/[,;]/)) {
    const [rawName, rawValue] = part.split('=').map((s) => s.trim());
    const name = rawName?.toLowerCase();
    const v = rawValue?.replace(/^"|"$/g, '');
    if (name === 'return' && (v === 'minimal' || v === 'representation' || v === 'OperationOutcome')) prefs.return = v;
    else if (name === 'handling') {
      if (v !== 'strict' && v !== 'lenient') throw badRequest(`Prefer handling '${v ?? ''}' must be strict or lenient.`);
      prefs.handling = v;
    } else if (name === 'respond-async') prefs.respondAsync = true;
  }
  return prefs;
}

/** `parallel` when a processing-logic header asks for it (case and spaces ignored), else `sequential`. */
export const isParallel = (value: string | undefined): boolean => value?.trim().toLowerCase() === 'parallel';

/** The media type of a Content-Type header, lower-cased, without parameters. */
export const mediaTypeOf = (value: string | undefined): string | undefined =>
  value?.split(';')[0]?.trim().toLowerCase() || undefined;
