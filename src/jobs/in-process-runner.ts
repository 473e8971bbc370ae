/**
 * The in-process job runner: runs jobs in this process as a loop of chunks, each chunk one unit of
 * work that also stores the job's new state with compare-and-set (the exactly-once rule), at most
 * `maxConcurrentJobs` jobs at once.
 * @packageDocumentation
 */
import pLimit, { type LimitFunction } from 'p-limit';
import { FhirError, notFound } from '../errors.js';
import type { JobRecord } from '../storage/job-record.js';
import { isStorageConflict, type StorageTx } from '../storage/storage-adapter.js';
import type { JobContext, JobHost, JobListener, JobRunner } from './job-runner.js';
import { isTerminal, nextRevision, transition } from './job-state.js';

/** Options of {@link InProcessJobRunner}; each one defaults to the engine's limits. */
export interface InProcessJobRunnerOptions {
  /** Jobs running at once. */
  readonly maxConcurrentJobs?: number;
  /** Items per chunk. */
  readonly chunkSize?: number;
  /** Called after every committed chunk and status change (same as `on('progress', …)`). */
  readonly onProgress?: JobListener;
  /**
   * Refuse a storage that is not durable (the engine's constructor throws): for deployments where a
   * job accepted with `202` must survive a restart of the process. Default false: on a storage that
   * is not durable, jobs run, and resume, only as long as the store itself lives.
   */
  readonly requireDurableStorage?: boolean;
}

/** Conflicts (a racing cancel, a concurrent write) retried in a row before a job fails. */
const MAX_CONFLICTS = 50;

const retryable = (error: unknown): boolean =>
  isStorageConflict(error) || (error instanceof FhirError && error.status === 409);

const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));

interface Waiter {
  resolve(job: JobRecord): void;
  reject(error: unknown): void;
}

/** Thrown by the runner's API after `stop()`. */
export class JobRunnerStoppedError extends Error {
  constructor() {
    super('The job runner has been stopped.');
    this.name = 'JobRunnerStoppedError';
  }
}

/**
 * Runs persisted jobs in this process. Unfinished jobs resume from their last committed chunk on
 * `start()` (called lazily by the first use).
 *
 * @example
 * ```ts
 * const engine = new FhirEngine({ storage, jobs: new InProcessJobRunner({ maxConcurrentJobs: 1 }) });
 * engine.jobs.on('progress', (job) => console.log(job.status, job.progress.processed));
 * ```
 */
export class InProcessJobRunner implements JobRunner {
  readonly #options: InProcessJobRunnerOptions;
  #host: JobHost | undefined;
  #limit: LimitFunction | undefined;
  #started: Promise<void> | undefined;
  #stopped = false;
  readonly #active = new Map<string, Promise<void>>();
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #listeners = new Set<JobListener>();

  constructor(options: InProcessJobRunnerOptions = {}) {
    this.#options = options;
    if (options.onProgress) this.#listeners.add(options.onProgress);
  }

  attach(host: JobHost): void {
    if (this.#host) throw new Error('This job runner is already attached to an engine.');
    if (this.#options.requireDurableStorage && !host.durable) {
      throw new Error(`This job runner requires a durable storage; '${host.storage.name}' does not keep its data across a restart.`);
    }
    this.#host = host;
    this.#limit = pLimit(Math.max(1, this.#options.maxConcurrentJobs ?? host.maxConcurrentJobs));
  }

  get #h(): JobHost {
    if (!this.#host) throw new Error('The job runner is not attached to an engine.');
    return this.#host;
  }

  get #ctx(): JobContext {
    return { clock: this.#h.clock, chunkSize: Math.max(1, this.#options.chunkSize ?? this.#h.chunkSize) };
  }

  /** True while the runner has a job loop in flight (for tests and shutdown). */
  get busy(): boolean {
    return this.#active.size > 0;
  }

  start(): Promise<void> {
    if (this.#stopped) return Promise.reject(new JobRunnerStoppedError());
    if (!this.#started) {
      const started = (async () => {
        const jobs = [...(await this.#h.storage.listUnfinishedJobs())].sort(
          (a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id),
        );
        for (const job of jobs) this.#schedule(job.id);
      })();
      this.#started = started;
      started.catch(() => {
        if (this.#started === started) this.#started = undefined; // retry on the next use
      });
    }
    return this.#started;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.allSettled([...this.#active.values()]);
    for (const [id, waiters] of this.#waiters) {
      for (const w of waiters) w.reject(new JobRunnerStoppedError());
      this.#waiters.delete(id);
    }
  }

  async submit(kind: string, input: unknown): Promise<JobRecord> {
    await this.start();
    const handler = this.#h.handlers.get(kind);
    if (!handler) throw new FhirError(400, 'not-supported', `Unknown job kind '${kind}'.`);
    const id = this.#h.ids.jobId();
    const job = await this.#h.storage.transact(async (tx) => {
      const planned = await handler.plan(tx, input, this.#ctx);
      const now = this.#h.clock.now().toISOString();
      const record: JobRecord = {
        id,
        kind,
        status: 'queued',
        cancelRequested: false,
        revision: 1,
        params: planned.params,
        state: planned.state,
        progress: planned.progress,
        createdAt: now,
        transitions: [{ status: 'queued', at: now }],
      };
      await tx.writeJob(record, null);
      return record;
    });
    this.#emit(job);
    this.#schedule(id);
    return job;
  }

  async get(id: string): Promise<JobRecord | undefined> {
    await this.#kick();
    return this.#h.storage.readJob(id);
  }

  async cancel(id: string): Promise<JobRecord> {
    await this.#kick();
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.#h.storage.transact(async (tx) => {
          const job = await tx.readJob(id);
          if (!job) throw notFound(`The requested job "${id}" was not found.`);
          if (isTerminal(job.status)) {
            throw new FhirError(409, 'conflict', `Job '${id}' has already completed (${job.status}).`);
          }
          if (job.cancelRequested && job.status === 'running') return { job, changed: false };
          const flagged = { ...job, cancelRequested: true };
          // A queued job has no chunk in flight: it ends now. A running one stops at its next chunk.
          const next = nextRevision(
            job.status === 'queued' ? transition(flagged, 'cancelled', this.#h.clock.now().toISOString()) : flagged,
          );
          await tx.writeJob(next, job.revision);
          return { job: next, changed: true };
        });
        if (result.changed) this.#emit(result.job);
        if (isTerminal(result.job.status)) this.#settle(result.job);
        return result.job;
      } catch (error) {
        if (isStorageConflict(error) && attempt < MAX_CONFLICTS) continue;
        throw error;
      }
    }
  }

  settled(id: string, options: { readonly signal?: AbortSignal } = {}): Promise<JobRecord> {
    return new Promise<JobRecord>((resolve, reject) => {
      const { signal } = options;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      let set = this.#waiters.get(id);
      if (!set) this.#waiters.set(id, (set = new Set()));
      const waiters = set;
      const onAbort = (): void => finish(() => reject(signal?.reason));
      const waiter: Waiter = {
        resolve: (job) => finish(() => resolve(job)),
        reject: (error) => finish(() => reject(error)),
      };
      const finish = (settle: () => void): void => {
        if (!waiters.delete(waiter)) return;
        if (waiters.size === 0 && this.#waiters.get(id) === waiters) this.#waiters.delete(id);
        signal?.removeEventListener('abort', onAbort);
        settle();
      };
      waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      // Registered before reading, so that a job finishing meanwhile still resolves it.
      this.get(id).then(
        (job) => {
          if (!job) waiter.reject(notFound(`The requested job "${id}" was not found.`));
          else if (isTerminal(job.status)) waiter.resolve(job);
          else if (this.#stopped) waiter.reject(new JobRunnerStoppedError());
        },
        (error: unknown) => waiter.reject(error),
      );
    });
  }

  on(_event: 'progress', listener: JobListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts lazily; reads keep working after stop(). */
  async #kick(): Promise<void> {
    if (!this.#stopped) await this.start();
  }

  #schedule(id: string): void {
    if (this.#stopped || this.#active.has(id)) return;
    const limit = this.#limit!;
    const run = limit(() => this.#run(id)).finally(() => this.#active.delete(id));
    this.#active.set(id, run);
  }

  #emit(job: JobRecord): void {
    for (const listener of this.#listeners) {
      try {
        listener(job);
      } catch (error) {
        this.#h.onError?.(error);
      }
    }
  }

  #settle(job: JobRecord): void {
    const waiters = this.#waiters.get(job.id);
    if (!waiters) return;
    for (const w of [...waiters]) w.resolve(job);
  }

  /** Runs a job's chunks until it is terminal or the runner stops. Never rejects. */
  async #run(id: string): Promise<void> {
    let conflicts = 0;
    while (!this.#stopped) {
      let outcome: { job: JobRecord | undefined; done: boolean; written: boolean };
      try {
        outcome = await this.#h.storage.transact((tx) => this.#chunk(tx, id));
      } catch (error) {
        if (retryable(error) && ++conflicts <= MAX_CONFLICTS) {
          await yieldToEventLoop();
          continue;
        }
        if (this.#stopped) return; // e.g. the storage closed under us: resume on the next start
        await this.#fail(id, error);
        return;
      }
      conflicts = 0;
      if (outcome.job && outcome.written) this.#emit(outcome.job);
      if (outcome.done) {
        if (outcome.job) this.#settle(outcome.job);
        return;
      }
      await yieldToEventLoop();
    }
  }

  /** One chunk, inside one unit of work: the handler's writes and the job's new state commit together. */
  async #chunk(tx: StorageTx, id: string): Promise<{ job: JobRecord | undefined; done: boolean; written: boolean }> {
    const job = await tx.readJob(id);
    if (!job) return { job: undefined, done: true, written: false };
    if (isTerminal(job.status)) return { job, done: true, written: false };
    const now = (): string => this.#h.clock.now().toISOString();
    if (job.cancelRequested) {
      const cancelled = nextRevision(transition(job, 'cancelled', now()));
      await tx.writeJob(cancelled, job.revision);
      return { job: cancelled, done: true, written: true };
    }
    const handler = this.#h.handlers.get(job.kind);
    if (!handler) throw new FhirError(500, 'not-supported', `No handler for jobs of kind '${job.kind}'.`);
    const current = job.status === 'queued' ? transition(job, 'running', now()) : job;
    const out = await handler.step(tx, current, this.#ctx);
    let next: JobRecord = { ...current, state: out.state, progress: out.progress };
    if (out.done) next = transition(next, 'completed', now());
    next = nextRevision(next);
    await tx.writeJob(next, job.revision);
    return { job: next, done: out.done, written: true };
  }

  /** Marks a job failed with the error's reason (CAS, retried on conflicts). */
  async #fail(id: string, error: unknown): Promise<void> {
    if (!(error instanceof FhirError)) this.#h.onError?.(error);
    const reason =
      error instanceof FhirError
        ? { code: error.issues[0]?.code ?? 'exception', message: error.message }
        : { code: 'exception', message: error instanceof Error ? error.message : String(error) };
    for (let attempt = 0; attempt <= MAX_CONFLICTS; attempt++) {
      try {
        const failed = await this.#h.storage.transact(async (tx) => {
          const job = await tx.readJob(id);
          if (!job || isTerminal(job.status)) return { job, written: false };
          const next = nextRevision({ ...transition(job, 'failed', this.#h.clock.now().toISOString()), error: reason });
          await tx.writeJob(next, job.revision);
          return { job: next, written: true };
        });
        if (failed.job && failed.written) this.#emit(failed.job);
        if (failed.job) this.#settle(failed.job);
        return;
      } catch (e) {
        if (isStorageConflict(e)) continue;
        this.#h.onError?.(e);
        return;
      }
    }
  }
}
