/**
 * Keyset positions of SQL search hits: the hit's sort column values, then its type and id, as
 * base64url JSON. Opaque to the engine, which hands them back as `after`.
 *
 * @packageDocumentation
 */

/** A sort column value: text, a number, or NULL (no value; sorts last). */
export type SortColumnValue = string | number | null;

/** Thrown for an `after` position the compiler did not produce (for this query shape). */
export class InvalidPositionError extends Error {
  constructor() {
    super('Invalid search position');
    this.name = 'InvalidPositionError';
  }
}

/** A decoded position. */
export interface Position {
  readonly values: readonly SortColumnValue[];
  readonly type: string;
  readonly id: string;
}

// JSON has no infinities; date ranges have them (open period ends).
const encodeValue = (v: SortColumnValue): unknown => (typeof v === 'number' && !Number.isFinite(v) ? { inf: v > 0 ? 1 : -1 } : v);

function decodeValue(v: unknown): SortColumnValue {
  if (v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) return v;
  const inf = (v as { inf?: unknown } | undefined)?.inf;
  if (typeof v === 'object' && (inf === 1 || inf === -1)) return inf * Infinity;
  throw new InvalidPositionError();
}

export function encodePosition(position: Position): string {
  return Buffer.from(JSON.stringify([position.values.map(encodeValue), position.type, position.id])).toString('base64url');
}

/** Decodes a position with exactly `columns` sort values; throws {@link InvalidPositionError}. */
export function decodePosition(text: string, columns: number): Position {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidPositionError();
  }
  if (!Array.isArray(raw) || raw.length !== 3) throw new InvalidPositionError();
  const [values, type, id] = raw as [unknown, unknown, unknown];
  if (!Array.isArray(values) || values.length !== columns || typeof type !== 'string' || typeof id !== 'string') {
    throw new InvalidPositionError();
  }
  return { values: values.map(decodeValue), type, id };
}
