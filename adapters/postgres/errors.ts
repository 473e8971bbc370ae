/**
 * PostgreSQL errors the adapter handles itself, and advisory lock keys.
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';

import { StorageConflictError } from '../../src/adapter-kit.js';

/** SQLSTATEs after which the same work may succeed when run again from the start. */
const TRANSIENT = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected

/** How many times an adapter-owned transaction is run again after a transient failure. */
export const TRANSIENT_RETRIES = 3;

const sqlState = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/** True for a serialization failure or a deadlock. */
export function isTransient(error: unknown): boolean {
  return TRANSIENT.has(sqlState(error) ?? '');
}

/**
 * Runs `attempt` (a whole transaction the adapter owns, safe to repeat) again after a transient
 * failure, at most {@link TRANSIENT_RETRIES} times.
 */
export async function retryTransient<T>(attempt: () => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (n >= TRANSIENT_RETRIES || !isTransient(error)) throw error;
    }
  }
}

/**
 * The error a statement of a unit of work rejects with. A transient failure or a unique violation
 * (a write that raced another) becomes a transient {@link StorageConflictError}: the engine answers
 * 409 and the job runner retries the chunk. The unit is not re-run here: `work` may not be idempotent.
 */
export function unitError(error: unknown): unknown {
  const state = sqlState(error);
  if (state !== undefined && (TRANSIENT.has(state) || state === '23505')) {
    const reason = error instanceof Error ? error.message : String(error);
    return new StorageConflictError(
      `The unit of work was rolled back by PostgreSQL (SQLSTATE ${state}: ${reason}); it wrote nothing and may be retried.`,
      { transient: true, cause: error },
    );
  }
  return error;
}

/** A signed 64-bit advisory lock key (as a decimal string) for a name. */
export function advisoryKey(name: string): string {
  return createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
}
