/** A source of the current time; inject a fixed one in tests. */
export interface Clock {
  now(): Date;
}

/** Generates resource and job ids; inject a sequential one in tests. */
export interface IdGenerator {
  /** A new server-assigned resource id (must match `[A-Za-z0-9\-\.]{1,64}`). */
  resourceId(): string;
  /** A new job id. */
  jobId(): string;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => new Date() };

/** Random UUIDs, as most FHIR servers assign. */
export const randomIds: IdGenerator = {
  resourceId: () => globalThis.crypto.randomUUID(),
  jobId: () => globalThis.crypto.randomUUID(),
};

/**
 * A clock that starts at `start` and advances `stepMs` on every reading (0 = frozen).
 * @example
 * ```ts
 * const clock = fixedClock('2026-01-01T00:00:00Z', 1000);
 * ```
 */
export function fixedClock(start: string | Date, stepMs = 0): Clock & { set(time: string | Date): void } {
  let t = new Date(start).getTime();
  return {
    now: () => {
      const now = new Date(t);
      t += stepMs;
      return now;
    },
    set: (time) => {
      t = new Date(time).getTime();
    },
  };
}

/** Ids `1`, `2`, `3`… (jobs: `job-1`, `job-2`…), for deterministic tests. */
export function sequentialIds(prefix = ''): IdGenerator {
  let resource = 0;
  let job = 0;
  return { resourceId: () => `${prefix}${++resource}`, jobId: () => `job-${++job}` };
}
