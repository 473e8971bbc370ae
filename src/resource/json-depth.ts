/**
 * The nesting depth of user JSON, measured without recursion: a value nested 20,000 levels deep must
 * come back as a 400, not overflow the stack of the first recursive walk that meets it (the validator,
 * the index extractor, `JSON.stringify`, a patch).
 * @packageDocumentation
 */
import { FhirError } from '../errors.js';

const OPEN_OBJECT = 0x7b; // {
const OPEN_ARRAY = 0x5b; // [
const CLOSE_OBJECT = 0x7d; // }
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/** The 400 for JSON nested deeper than `max` arrays and objects. */
export const tooDeep = (max: number, where = 'The request body'): FhirError =>
  new FhirError(400, 'too-costly', `${where} nests arrays and objects deeper than the limit of ${max} levels.`);

/**
 * Whether JSON text nests arrays and objects deeper than `max` (`{}` is depth 1). A scan of the text,
 * strings skipped; it does not check the syntax (JSON.parse does). Text too short to be that deep is
 * not scanned.
 */
export function jsonTextTooDeep(text: string, max: number): boolean {
  if (text.length <= 2 * max) return false;
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Skip the string (most of FHIR JSON) with indexOf: to the next quote not escaped.
      let end = text.indexOf('"', i + 1);
      while (end > 0 && escaped(text, end)) end = text.indexOf('"', end + 1);
      if (end < 0) return false; // unterminated: JSON.parse says so
      i = end;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > max) return true;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    }
  }
  return false;
}

/** Whether the character at `at` follows an odd number of backslashes. */
function escaped(text: string, at: number): boolean {
  let i = at - 1;
  while (i >= 0 && text.charCodeAt(i) === BACKSLASH) i--;
  return (at - 1 - i) % 2 === 1;
}

/**
 * Whether a JSON value (already parsed, or built by the caller) nests arrays and objects deeper than
 * `max`. Iterative; stops at the first path past `max`. A cycle is reported as too deep.
 */
export function jsonValueTooDeep(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const values: object[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const current = values.pop()!;
    const depth = depths.pop()!;
    if (depth > max) return true;
    const children = Array.isArray(current) ? current : Object.values(current);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) {
        values.push(child as object);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/** Throws the 400 of {@link tooDeep} when `value` is nested deeper than `max`. */
export function assertJsonDepth(value: unknown, max: number, where?: string): void {
  if (jsonValueTooDeep(value, max)) throw tooDeep(max, where);
}
