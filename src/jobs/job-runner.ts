/**
 * The job runner contract. Three things are kept apart: the **runner** decides when chunks run, the
 * **handler** decides what a chunk does (bulk delete is the first), and the **job record** is
 * persisted through the storage adapter, so that jobs resume from their last committed chunk: after
 * a restart of the process on a durable storage (`JobHost.durable`), and on any storage when
 * another engine picks up the same store (a MemoryAdapter outliving the engine that accepted the
 * job). On a storage that is not durable, a restart loses the job with the data: runners promise no
 * more than that, and may refuse such a storage (see `InProcessJobRunnerOptions.requireDurableStorage`).
 *
 * @packageDocumentation
 */
import type { Clock, IdGenerator } from '../clock.js';
import type { JobProgress, JobRecord } from '../storage/job-record.js';
import type { StorageAdapter, StorageTx } from '../storage/storage-adapter.js';

/** What a handler's `plan` fixes at submit. */
export interface PlannedJob<P = unknown, S = unknown> {
  readonly params: P;
  readonly state: S;
  readonly progress: JobProgress;
}

/** What one chunk did. */
export interface StepOutcome<S = unknown> {
  /** The next resumable state (cursor). */
  readonly state: S;
  /** The job's progress after this chunk (counters included). */
  readonly progress: JobProgress;
  /** True when there is nothing left to do. */
  readonly done: boolean;
}

/** What a handler sees while it works. */
export interface JobContext {
  readonly clock: Clock;
  /** Most items one chunk processes. */
  readonly chunkSize: number;
}

/** Does the work of one kind of job, one bounded chunk at a time. */
export interface JobHandler<P = unknown, S = unknown> {
  readonly kind: string;
  /**
   * Validates the submitted input and fixes the snapshot (e.g. the highest committed seq). Runs
   * inside the unit of work that stores the new job. Throws FhirError 400 for invalid input.
   */
  plan(tx: StorageTx, input: unknown, ctx: JobContext): Promise<PlannedJob<P, S>>;
  /**
   * Does one chunk inside `tx` and returns the next state. Must be deterministic in `job.state`:
   * after a rollback (crash, conflict) the runner calls it again from the same state.
   */
  step(tx: StorageTx, job: JobRecord<P, S>, ctx: JobContext): Promise<StepOutcome<S>>;
}

/** A handler of any params and state (what a runner's handler map holds). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyJobHandler = JobHandler<any, any>;

/** What the engine hands its runner. */
export interface JobHost {
  readonly storage: StorageAdapter;
  /** The storage keeps its data across a restart of the process (`capabilities.durable`). */
  readonly durable: boolean;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly handlers: ReadonlyMap<string, AnyJobHandler>;
  /** Items per chunk (`limits.bulkDeleteChunkSize`). */
  readonly chunkSize: number;
  /** Jobs running at once (`limits.maxConcurrentJobs`). */
  readonly maxConcurrentJobs: number;
  /** Called with unexpected errors a job failed with, for logging. */
  readonly onError?: (error: unknown) => void;
}

/** A listener of job progress: called after every committed chunk and every status change. */
export type JobListener = (job: JobRecord) => void;

/** Runs persisted jobs. */
export interface JobRunner {
  /**
   * Binds the runner to an engine; called once by the engine's constructor. May throw for a host
   * the runner cannot serve (e.g. a storage that is not durable, when it must be).
   */
  attach(host: JobHost): void;
  /**
   * Starts the runner: resumes every unfinished (`queued` or `running`) job from its last committed
   * chunk. Called lazily by the first submit, get, cancel or settled; idempotent.
   */
  start(): Promise<void>;
  /** Stops taking new chunks; resolves when the chunks in flight have committed or rolled back. Final. */
  stop(): Promise<void>;
  /** Validates `input` with the handler of `kind`, stores a `queued` job and schedules it. */
  submit(kind: string, input: unknown): Promise<JobRecord>;
  /** The stored job, or undefined for an unknown id. */
  get(id: string): Promise<JobRecord | undefined>;
  /**
   * Requests cancellation; the job stops at the next chunk boundary and ends `cancelled`.
   * Throws FhirError 404 for an unknown id and 409 when the job has already finished.
   */
  cancel(id: string): Promise<JobRecord>;
  /** Resolves with the job once it is terminal (`completed`, `cancelled` or `failed`). */
  settled(id: string, options?: { readonly signal?: AbortSignal }): Promise<JobRecord>;
  /** Subscribes to progress; returns the unsubscribe function. */
  on(event: 'progress', listener: JobListener): () => void;
}
