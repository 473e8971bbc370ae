/**
 * Value normalisation shared by index extraction and query parsing (see `src/storage/index-entry.ts`).
 * @packageDocumentation
 */

const DIACRITICS = /[\u0300-\u036f]/g;
// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

/**
 * The folded form of a string for `string` and `text` search (and sorting): Unicode NFD, combining
 * diacritics removed, lower-cased, so `Müller` and `MULLER` both fold to `muller`. Index entries and
 * query predicates carry values folded by this function; adapters compare them as they are.
 */
export function fold(value: string): string {
  if (ASCII.test(value)) return value.toLowerCase();
  return value.normalize('NFD').replace(DIACRITICS, '').toLowerCase();
}

const DATE_RE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * A FHIR date, dateTime or instant as an inclusive `[low, high]` range of epoch milliseconds, by its
 * precision. Timezone-less times are read as UTC. Undefined when the text is not a valid date.
 */
export function dateRange(text: string): [number, number] | undefined {
  const m = DATE_RE.exec(text);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = m[2] === undefined ? undefined : Number(m[2]);
  const day = m[3] === undefined ? undefined : Number(m[3]);
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  if (month === undefined) {
    return [Date.UTC(year, 0, 1), Date.UTC(year + 1, 0, 1) - 1].map(fixYear(year)) as [number, number];
  }
  if (day === undefined) {
    return [Date.UTC(year, month - 1, 1), Date.UTC(year, month, 1) - 1].map(fixYear(year)) as [number, number];
  }
  const dim = new Date(Date.UTC(2000, month, 0)).getUTCDate(); // leap-year tolerant upper bound
  if (day < 1 || day > dim) return undefined;
  if (m[4] === undefined) {
    const start = utc(year, month - 1, day, 0, 0, 0, 0);
    return [start, start + 86_400_000 - 1];
  }
  const hh = Number(m[4]);
  const mi = Number(m[5]);
  if (hh > 24 || mi > 59) return undefined;
  let offset = 0;
  const tz = m[8];
  if (tz && tz !== 'Z') {
    const sign = tz[0] === '-' ? -1 : 1;
    offset = sign * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) * 60_000;
  }
  if (m[6] === undefined) {
    const start = utc(year, month - 1, day, hh, mi, 0, 0) - offset;
    return [start, start + 60_000 - 1];
  }
  const ss = Number(m[6]);
  if (ss > 60) return undefined;
  const frac = m[7];
  if (frac === undefined) {
    const start = utc(year, month - 1, day, hh, mi, ss, 0) - offset;
    return [start, start + 999];
  }
  const ms = Number((frac + '00').slice(0, 3));
  const start = utc(year, month - 1, day, hh, mi, ss, ms) - offset;
  const width = frac.length >= 3 ? 0 : frac.length === 2 ? 9 : 99;
  return [start, start + width];
}

function utc(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  const t = Date.UTC(y, mo, d, h, mi, s, ms);
  if (y < 100) {
    const dt = new Date(t);
    dt.setUTCFullYear(y);
    return dt.getTime();
  }
  return t;
}

function fixYear(year: number): (t: number, i: number) => number {
  if (year >= 100) return (t) => t;
  // Date.UTC maps years 0-99 to 1900-1999; shift back.
  return (t) => {
    const d = new Date(t);
    d.setUTCFullYear(d.getUTCFullYear() - 1900);
    return d.getTime();
  };
}

/**
 * A decimal as the inclusive range given by its implicit precision (`100` → [99.5, 100.5],
 * `1.50` → [1.495, 1.505]). Exponent forms (`1e2`) use the digits of the mantissa.
 */
export function numberRange(text: string): [number, number] | undefined {
  const t = text.trim();
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(t)) return undefined;
  const value = Number(t);
  if (!Number.isFinite(value)) return undefined;
  const [mantissa, exp] = t.toLowerCase().split('e');
  const dot = (mantissa as string).indexOf('.');
  const decimals = dot < 0 ? 0 : (mantissa as string).length - dot - 1;
  const scale = decimals - (exp === undefined ? 0 : Number(exp));
  const half = 0.5 * 10 ** -scale;
  return [value - half, value + half];
}

/** A JSON number (precision as JavaScript prints it) as a range. */
export function jsonNumberRange(value: number): [number, number] {
  return numberRange(String(value)) ?? [value, value];
}

const LOCAL_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;
const ABS_TAIL = /\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

/** A parsed reference value. */
export interface ParsedReference {
  readonly targetType: string | null;
  readonly targetId: string | null;
  readonly url: string | null;
}

/**
 * Normalises a reference string: `Type/id` (history stripped) → type and id; absolute URLs are kept
 * in `url` (version stripped) and, when they end in `Type/id` of a known resource type, also give type
 * and id. Contained (`#x`) references give undefined.
 */
export function parseReference(ref: string, isResourceType: (t: string) => boolean): ParsedReference | undefined {
  if (ref.length === 0 || ref.startsWith('#')) return undefined;
  const local = LOCAL_REF.exec(ref);
  if (local && isResourceType(local[1] as string)) {
    return { targetType: local[1] as string, targetId: local[2] as string, url: null };
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(ref)) {
    const tail = ABS_TAIL.exec(ref);
    if (tail && isResourceType(tail[1] as string)) {
      const url = ref.replace(/\/_history\/[^/]+$/, '');
      return { targetType: tail[1] as string, targetId: tail[2] as string, url };
    }
    return { targetType: null, targetId: null, url: ref };
  }
  return { targetType: null, targetId: null, url: ref };
}
