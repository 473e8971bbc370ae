/**
 * Persisted background jobs. The adapter stores job records opaquely (as JSON) and compares
 * `revision` on every write, so that a job's progress commits in the same unit of work as the chunk
 * it describes and two writers never overwrite each other.
 *
 * @packageDocumentation
 */

/** Lifecycle of a job: `queued → running → completed | cancelled | failed`, nothing else. */
export type JobStatus = 'queued' | 'running' | 'completed' | 'cancelled' | 'failed';

/** One recorded state change of a job. */
export interface JobTransition {
  readonly status: JobStatus;
  readonly at: string;
}

/** Counters a job keeps as it works. */
export interface JobProgress {
  /** Resources processed so far. */
  readonly processed: number;
  /** Resources processed so far, per resource type. */
  readonly byType: Readonly<Record<string, number>>;
  /** Chunks committed so far. */
  readonly chunks: number;
}

/**
 * Which runner instance works on a job, and until when. Written with the record's compare-and-set
 * by the runner that claims the job and renewed with every chunk it commits; another instance may
 * claim the job once `expiresAt` has passed (its owner died or stalled). Removed when the job ends.
 */
export interface JobLease {
  /** The runner instance (`InProcessJobRunnerOptions.instanceId`). */
  readonly owner: string;
  /** An ISO instant, by the owner's clock. */
  readonly expiresAt: string;
}

/** A job as stored. `params` and `state` are the job handler's own JSON-serialisable data. */
export interface JobRecord<P = unknown, S = unknown> {
  readonly id: string;
  /** The handler that runs it, e.g. `bulk-delete`. */
  readonly kind: string;
  readonly status: JobStatus;
  /** Set by a cancel request; the runner honours it at the next chunk boundary. */
  readonly cancelRequested: boolean;
  /** Compare-and-set counter: +1 on every write. */
  readonly revision: number;
  /** Fixed at submit. */
  readonly params: P;
  /** The handler's resumable cursor. */
  readonly state: S;
  readonly progress: JobProgress;
  readonly createdAt: string;
  /** Every status change, oldest first. */
  readonly transitions: readonly JobTransition[];
  readonly error?: { readonly code: string; readonly message: string };
  /** The runner working on the job; absent while queued, after it ended, and after a runner released it. */
  readonly lease?: JobLease;
}
