/**
 * The keyset position of a search hit (`SearchHit.position`, `StorageQuery.after`) and its one text
 * form, shared by every adapter: the compact JSON array `[type, id]`, or `[type, id, values]` with one
 * sort value per sort key. Numbers JSON cannot carry (the ±Infinity bounds of open ranges, NaN) are
 * written `{"n": "+Infinity"}`, `{"n": "-Infinity"}`, `{"n": "NaN"}`; a missing sort value is `null`.
 * Plain JSON because adapters encode a position for every hit of a page: base64 would double that
 * cost, and the core URL-encodes the one position that goes into a next link anyway.
 * @packageDocumentation
 */
import type { SortPosition, SortValue } from './sort.js';

function encodeValue(value: SortValue): unknown {
  if (value === undefined) return null;
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return { n: Number.isNaN(value) ? 'NaN' : value > 0 ? '+Infinity' : '-Infinity' };
  }
  return value;
}

const SPECIAL: Readonly<Record<string, number>> = { '+Infinity': Infinity, '-Infinity': -Infinity, NaN: NaN };

/** Marks a value that {@link encodeValue} did not write. */
const INVALID = Symbol('invalid');

function decodeValue(value: unknown): SortValue | typeof INVALID {
  if (value === null) return undefined;
  if (typeof value === 'string' || typeof value === 'number') return value;
  if (typeof value === 'object' && 'n' in value) {
    const n = (value as { n: unknown }).n;
    if (typeof n === 'string' && Object.hasOwn(SPECIAL, n)) return SPECIAL[n] as number;
  }
  return INVALID;
}

/** The opaque text of a position (what an adapter puts in `SearchHit.position`). */
export function encodePosition(position: SortPosition): string {
  const { type, id, values } = position;
  return JSON.stringify(values.length === 0 ? [type, id] : [type, id, values.map(encodeValue)]);
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The `[type, id, values]` parts of `text`. Besides the current form, reads the form the SQLite
 * adapter wrote before the codec was shared (URL-safe base64 of `[values, type, id]`), which bulk-delete
 * jobs may hold as their cursor in a database written by an earlier version.
 */
function partsOf(text: string): [unknown, unknown, unknown] | undefined {
  const current = parse(text);
  if (Array.isArray(current)) {
    return current.length === 2 || current.length === 3 ? [current[0], current[1], current[2] ?? []] : undefined;
  }
  const legacy = parse(Buffer.from(text, 'base64url').toString('utf8'));
  if (Array.isArray(legacy) && legacy.length === 3 && Array.isArray(legacy[0])) return [legacy[1], legacy[2], legacy[0]];
  return undefined;
}

/**
 * Reads a position written by {@link encodePosition}; undefined when `text` is not one, or (when
 * `sortKeys` is given) when it does not hold that many sort values. Adapters answer an undefined
 * position with an error: the core turns it into a 400 for the client's `_cursor`.
 */
export function decodePosition(text: string, sortKeys?: number): SortPosition | undefined {
  const parts = partsOf(text);
  if (parts === undefined) return undefined;
  const [type, id, rawValues] = parts;
  if (typeof type !== 'string' || typeof id !== 'string' || !Array.isArray(rawValues)) return undefined;
  if (sortKeys !== undefined && rawValues.length !== sortKeys) return undefined;
  const values: SortValue[] = [];
  for (const raw of rawValues) {
    const value = decodeValue(raw);
    if (value === INVALID) return undefined;
    values.push(value);
  }
  return { values, type, id };
}
