/**
 * Value checks of FHIR primitives (datatypes.html) once their JSON type is right, and the shape of
 * `Reference.reference` (references.html). Each returns undefined when the value is fine, else the
 * diagnostics, so that the common case allocates nothing.
 * @packageDocumentation
 */
import { RESOURCE_TYPES, type PrimitiveType } from './definitions.js';

/** datatypes.html: strings SHALL NOT exceed 1 MB (1024 × 1024 characters). */
const MAX_STRING = 1024 * 1024;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
/** Where each type's range starts; the integer family's upper bound is the 32-bit one. */
const INTEGER_MIN: Record<string, number> = { integer: INT32_MIN, unsignedInt: 0, positiveInt: 1 };

/** Shows a value in a message, cut short. */
export function show(value: unknown): string {
  let text: string;
  try {
    // A long string is cut before it is quoted: a 16 MiB value is not copied for a message.
    text = JSON.stringify(typeof value === 'string' && value.length > 64 ? value.slice(0, 64) : value) ?? String(value);
  } catch {
    text = String(value); // a BigInt, a cycle: not JSON anyway
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Why `value` (of the right JSON type) is not a valid `type`, or undefined. */
export function primitiveProblem(value: string | number | boolean, type: PrimitiveType): string | undefined {
  if (typeof value === 'string') {
    if (value === '') return `Invalid ${type.name}: the empty string is not a value (json.html)`;
    if (type.pattern && !type.pattern.test(value)) return `Invalid ${type.name}: ${show(value)}`;
    if (type.scan !== undefined) {
      const problem = scanProblem(value, type);
      if (problem) return problem;
    }
    if (value.length > MAX_STRING && (type.name === 'string' || type.name === 'markdown'))
      return `Invalid ${type.name}: longer than ${MAX_STRING} characters`;
    if ((type.name === 'date' || type.name === 'dateTime' || type.name === 'instant') && !realDay(value))
      return `Invalid ${type.name}: ${show(value)} is not a day of the calendar`;
    return undefined;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return `Invalid ${type.name}: ${value}`;
    const min = INTEGER_MIN[type.name];
    if (min !== undefined && !(Number.isInteger(value) && value >= min && value <= INT32_MAX))
      return `Invalid ${type.name}: ${value} (an integer from ${min} to ${INT32_MAX})`;
  }
  return undefined;
}

const CONTROL_OR_SURROGATE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF]/;
const CONTROL_SURROGATE_OR_WHITESPACE = /[\u0000-\u0020\uD800-\uDFFF]/;
const isWhitespace = (code: number): boolean => code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;

/**
 * What the {@link PrimitiveType.scan} of `type` finds wrong in `value`, or undefined: whitespace where the
 * uri and code formats do not allow it; a C0 control character but tab, LF and CR (datatypes.html: strings
 * SHOULD NOT contain them; XML 1.0 cannot carry them, so such a resource has no XML form, and U+0000
 * breaks many stores and log pipelines); a lone surrogate (`"\ud800"` in JSON: no Unicode text, no UTF-8
 * form). Each is a 400 on write.
 */
function scanProblem(value: string, type: PrimitiveType): string | undefined {
  const { scan } = type;
  if (scan === 'base64') return isBase64(value) ? undefined : `Invalid ${type.name}: ${show(value)}`;
  // One regex screens the value first: nearly all have nothing to look at.
  if (!(scan === 'text' ? CONTROL_OR_SURROGATE : CONTROL_SURROGATE_OR_WHITESPACE).test(value)) return undefined;
  const last = value.length - 1;
  for (let i = 0; i <= last; i++) {
    const code = value.charCodeAt(i);
    if (code > 0x20 && (code < 0xd800 || code > 0xdfff)) continue;
    if (isWhitespace(code)) {
      // code: single whitespace between non-whitespace only.
      if (scan === 'uri' || (scan === 'code' && (i === 0 || i === last || isWhitespace(value.charCodeAt(i + 1))))) {
        return `Invalid ${type.name}: ${show(value)}`;
      }
    } else if (code < 0x20) {
      return `Invalid ${type.name}: control character ${hex(code)} (of the controls, only tab, CR and LF are allowed)`;
    } else {
      const next = value.charCodeAt(i + 1);
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++;
      else return `Invalid ${type.name}: lone surrogate ${hex(code)} (not Unicode text)`;
    }
  }
  return undefined;
}

/**
 * The R4 base64Binary pattern `[ \t\n\r]*(?:[0-9a-zA-Z+/=]{4}[ \t\n\r]*)+` in one pass: groups of four
 * base64 characters, whitespace only between groups.
 */
function isBase64(value: string): boolean {
  let count = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (isWhitespace(code)) {
      if (count % 4 !== 0) return false;
    } else if (
      (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) ||
      code === 0x2b || code === 0x2f || code === 0x3d
    ) {
      count++;
    } else {
      return false;
    }
  }
  return count > 0 && count % 4 === 0;
}

const hex = (code: number): string => `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const leap = (year: number): boolean => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

/** The regex allows 2023-02-31; the day must exist in its month. */
function realDay(value: string): boolean {
  if (value.length < 10) return true;
  const year = Number(value.slice(0, 4));
  const month = Number(value.slice(5, 7));
  const day = Number(value.slice(8, 10));
  return day <= (month === 2 && leap(year) ? 29 : DAYS_IN_MONTH[month - 1]!);
}

const ID = '[A-Za-z0-9\\-.]{1,64}';
const RELATIVE = new RegExp(`^([A-Z][A-Za-z]+)/${ID}(?:/_history/${ID})?$`);
const CONDITIONAL = /^([A-Z][A-Za-z]+)\?[^\s]*$/;
const LOCAL = new RegExp(`^#(?:${ID})?$`);
const UUID = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const OID = /^urn:oid:[0-2](?:\.(?:0|[1-9][0-9]*))+$/;
const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/;

/**
 * Why `value` is not a literal reference (references.html): `Type/id`, `Type/id/_history/vid`, an absolute
 * URL, `#id` of a contained resource, `urn:uuid:` / `urn:oid:` (in bundles), or a conditional reference
 * `Type?criteria` that the engine resolves on write; undefined when it is one.
 */
export function referenceProblem(value: string): string | undefined {
  const relative = RELATIVE.exec(value) ?? CONDITIONAL.exec(value);
  if (relative) return RESOURCE_TYPES.has(relative[1]!) ? undefined : `Unknown resource type in reference ${show(value)}`;
  if (value.startsWith('#')) return LOCAL.test(value) ? undefined : `Invalid local reference ${show(value)}`;
  if (value.startsWith('urn:uuid:')) return UUID.test(value) ? undefined : `Invalid urn:uuid reference ${show(value)}`;
  if (value.startsWith('urn:oid:')) return OID.test(value) ? undefined : `Invalid urn:oid reference ${show(value)}`;
  if (ABSOLUTE.test(value)) return undefined;
  return `Invalid reference ${show(value)}: expected Type/id, an absolute URL, #id, urn:uuid: or urn:oid:`;
}
