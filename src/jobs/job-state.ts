/**
 * The job state machine: one transition table, and nothing else changes a job's `status`.
 *
 * `queued → running → completed | cancelled | failed`. Terminal states never change. A job that is
 * cancelled or fails before its first chunk passes through `running` (both transitions recorded).
 * @packageDocumentation
 */
import type { JobRecord, JobStatus } from '../storage/job-record.js';

/** The allowed transitions: from → to. */
export const TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = Object.freeze({
  queued: ['running'],
  running: ['completed', 'cancelled', 'failed'],
  completed: [],
  cancelled: [],
  failed: [],
});

/** True for `completed`, `cancelled` and `failed`. */
export const isTerminal = (status: JobStatus): boolean => TRANSITIONS[status].length === 0;

/** True when `from → to` is in the table. */
export const canTransition = (from: JobStatus, to: JobStatus): boolean => TRANSITIONS[from].includes(to);

/** Thrown for a transition the table does not allow (a programming error). */
export class InvalidTransitionError extends Error {
  constructor(from: JobStatus, to: JobStatus) {
    super(`Invalid job transition ${from} → ${to}.`);
    this.name = 'InvalidTransitionError';
  }
}

/**
 * The job moved to `to` at `at` (revision unchanged: the caller bumps it once per write). When the
 * job is `queued` and `to` is terminal, it passes through `running` first.
 */
export function transition<P, S>(job: JobRecord<P, S>, to: JobStatus, at: string): JobRecord<P, S> {
  if (job.status === 'queued' && to !== 'running' && canTransition('running', to)) {
    return transition(transition(job, 'running', at), to, at);
  }
  if (!canTransition(job.status, to)) throw new InvalidTransitionError(job.status, to);
  return { ...job, status: to, transitions: [...job.transitions, { status: to, at }] };
}

/** The next stored form of a job: revision + 1. */
export const nextRevision = <P, S>(job: JobRecord<P, S>): JobRecord<P, S> => ({ ...job, revision: job.revision + 1 });
