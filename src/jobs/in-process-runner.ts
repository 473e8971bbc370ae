/**
 * The in-process job runner: runs jobs in this process as a loop of chunks, each chunk one unit of
 * work that also stores the job's new state with compare-and-set (the exactly-once rule), at most
 * `maxConcurrentJobs` jobs at once.
 *
 * **Several instances, one store.** Engines in this process or in others may run runners on one
 * store (a PostgreSQL database, a SQLite file). A job is worked on by one runner at a time, by
 * any of them: the runner that commits a chunk writes its lease (its `instanceId` and an expiry
 * `leaseMs` ahead by its clock) into the job record, in the chunk's unit of work and under the same
 * compare-and-set as the chunk's progress, and a runner leaves alone a job whose lease another
 * instance holds and has not let expire. When the owner dies its lease runs out, and the next runner
 * that polls the store (`pollIntervalMs`, or {@link InProcessJobRunner.tick}) claims the job and
 * resumes it from its last committed chunk: a chunk that did not commit left nothing behind, so the
 * counts stay exact. The lease only keeps runners from working on one job at once; the
 * compare-and-set keeps the job exact even when they do (an owner that stalls past its lease): of two
 * chunks computed from one revision of the job, one commits and the other rolls back with all it did.
 * A runner that stops releases its leases, so that others take its jobs over at once.
 * @packageDocumentation
 */
import pLimit, { type LimitFunction } from 'p-limit';
import { FhirError, notFound } from '../errors.js';
import type { JobLease, JobRecord } from '../storage/job-record.js';
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
  /**
   * This runner's name in job leases. Default: a random UUID, so that a restarted process is a new
   * instance and takes over the jobs of its predecessor once their leases expire. Give each instance
   * a stable id (a host or pod name) to have it take its own jobs back right after a restart.
   * Two live runners must never share an id.
   */
  readonly instanceId?: string;
  /**
   * How long a lease lasts after the chunk that wrote it, in ms: how long the jobs of an instance
   * that died wait before another takes them over. Keep it well above the time one chunk takes (and
   * the clock skew between instances). Default 30,000.
   */
  readonly leaseMs?: number;
  /**
   * How often the runner polls the store, in ms: for jobs it may claim (queued, or leased by an
   * instance whose lease expired) and for the end of jobs it waits on (`settled`) that another
   * instance runs. One `listUnfinishedJobs` per poll. 0: never (call {@link InProcessJobRunner.tick}).
   * Default 5,000. The timer does not keep the process alive.
   */
  readonly pollIntervalMs?: number;
}

/** Default of {@link InProcessJobRunnerOptions.leaseMs}. */
export const DEFAULT_LEASE_MS = 30_000;
/** Default of {@link InProcessJobRunnerOptions.pollIntervalMs}. */
export const DEFAULT_POLL_INTERVAL_MS = 5_000;

/** Conflicts (a racing cancel, a concurrent write) retried in a row before a job fails. */
const MAX_CONFLICTS = 50;

const retryable = (error: unknown): boolean =>
  isStorageConflict(error) || (error instanceof FhirError && error.status === 409);

const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));

const byCreation = (a: JobRecord, b: JobRecord): number => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);

/** A job without its lease (a finished job, or one its runner let go). */
function unleased<P, S>(job: JobRecord<P, S>): JobRecord<P, S> {
  if (job.lease === undefined) return job;
  const { lease: _lease, ...rest } = job;
  return rest;
}

/** What one chunk's unit of work found and did. */
interface ChunkOutcome {
  readonly job: JobRecord | undefined;
  /** The loop ends: the job is gone, terminal, or another instance holds it. */
  readonly done: boolean;
  readonly written: boolean;
}

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
 * `start()` (called lazily by the first use); see the module comment for several instances on one store.
 *
 * @example
 * ```ts
 * const jobs = new InProcessJobRunner({ maxConcurrentJobs: 1, instanceId: process.env.HOSTNAME });
 * const engine = new FhirEngine({ storage, jobs });
 * engine.jobs.on('progress', (job) => console.log(job.status, job.progress.processed));
 * ```
 */
export class InProcessJobRunner implements JobRunner {
  /** This runner's name in job leases. */
  readonly instanceId: string;
  readonly #options: InProcessJobRunnerOptions;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  #host: JobHost | undefined;
  #limit: LimitFunction | undefined;
  #started: Promise<void> | undefined;
  #stopped = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #active = new Map<string, Promise<void>>();
  /** Jobs whose lease this runner wrote last (released on stop). */
  readonly #leased = new Set<string>();
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #listeners = new Set<JobListener>();

  constructor(options: InProcessJobRunnerOptions = {}) {
    this.#options = options;
    this.instanceId = options.instanceId ?? globalThis.crypto.randomUUID();
    this.#leaseMs = Math.max(1, options.leaseMs ?? DEFAULT_LEASE_MS);
    this.#pollMs = Math.max(0, options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS);
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
      const started = this.#discover().then(() => this.#arm());
      this.#started = started;
      started.catch(() => {
        if (this.#started === started) this.#started = undefined; // retry on the next use
      });
    }
    return this.#started;
  }

  /**
   * Polls the store once, as the timer of `pollIntervalMs` does: claims the jobs this runner may run
   * (queued, or leased by an instance whose lease expired by the engine's clock) and settles the
   * waiters of jobs that ended elsewhere. Starts the runner first if needed. For tests, and for
   * runners with polling off.
   */
  async tick(): Promise<void> {
    if (this.#stopped) return;
    const first = this.#started === undefined;
    await this.start();
    if (!first) await this.#discover();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await Promise.allSettled([...this.#active.values()]);
    await Promise.allSettled([...this.#leased].map((id) => this.#release(id)));
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
          const now = this.#h.clock.now();
          // A job nobody works on (queued, released, or its owner's lease expired) ends now; one that
          // a runner holds (this one, or another whose lease is live) stops at its next chunk.
          const idle = job.status === 'queued' || (!this.#active.has(id) && this.#claimable(job, now.getTime()));
          if (job.cancelRequested && !idle) return { job, changed: false };
          const flagged = { ...job, cancelRequested: true };
          const next = nextRevision(idle ? unleased(transition(flagged, 'cancelled', now.toISOString())) : flagged);
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
      // Registered before reading, so that a job finishing meanwhile still resolves it. A job that
      // another instance runs is resolved by a later poll.
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

  /** True when this runner may work on `job` at `now` (ms): nobody holds it, this runner does, or the holder's lease expired. */
  #claimable(job: JobRecord, now: number): boolean {
    const lease = job.lease;
    return lease === undefined || lease.owner === this.instanceId || Date.parse(lease.expiresAt) <= now;
  }

  #lease(now: Date): JobLease {
    return { owner: this.instanceId, expiresAt: new Date(now.getTime() + this.#leaseMs).toISOString() };
  }

  /** One poll: schedules the jobs this runner may claim, settles waiters of jobs that ended elsewhere. */
  async #discover(): Promise<void> {
    const jobs = [...(await this.#h.storage.listUnfinishedJobs())].sort(byCreation);
    const now = this.#h.clock.now().getTime();
    const unfinished = new Set<string>();
    for (const job of jobs) {
      unfinished.add(job.id);
      if (this.#claimable(job, now)) this.#schedule(job.id);
    }
    for (const id of [...this.#waiters.keys()]) {
      if (unfinished.has(id) || this.#active.has(id)) continue;
      const job = await this.#h.storage.readJob(id);
      if (job === undefined) this.#rejectWaiters(id, notFound(`The requested job "${id}" was not found.`));
      else if (isTerminal(job.status)) this.#settle(job);
    }
  }

  /** Arms the poll timer (unless polling is off or the runner stopped). */
  #arm(): void {
    if (this.#pollMs === 0 || this.#stopped || this.#timer !== undefined) return;
    const timer = setTimeout(() => {
      this.#timer = undefined;
      this.#discover()
        .catch((error: unknown) => {
          if (!this.#stopped) this.#h.onError?.(error);
        })
        .finally(() => this.#arm());
    }, this.#pollMs);
    (timer as { unref?: () => void }).unref?.();
    this.#timer = timer;
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

  #rejectWaiters(id: string, error: unknown): void {
    const waiters = this.#waiters.get(id);
    if (!waiters) return;
    for (const w of [...waiters]) w.reject(error);
  }

  /** Runs a job's chunks until it is terminal, another instance holds it, or the runner stops. Never rejects. */
  async #run(id: string): Promise<void> {
    let conflicts = 0;
    while (!this.#stopped) {
      let outcome: ChunkOutcome;
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
      const { job } = outcome;
      if (job && outcome.written) {
        if (job.lease?.owner === this.instanceId) this.#leased.add(id);
        else this.#leased.delete(id);
        this.#emit(job);
      }
      if (outcome.done) {
        if (job && isTerminal(job.status)) this.#settle(job);
        return;
      }
      await yieldToEventLoop();
    }
  }

  /**
   * One chunk, inside one unit of work: the handler's writes, the job's new state and this runner's
   * renewed lease commit together.
   */
  async #chunk(tx: StorageTx, id: string): Promise<ChunkOutcome> {
    const job = await tx.readJob(id);
    if (!job) return { job: undefined, done: true, written: false };
    if (isTerminal(job.status)) return { job, done: true, written: false };
    const now = this.#h.clock.now();
    if (!this.#claimable(job, now.getTime())) return { job, done: true, written: false };
    const at = (): string => this.#h.clock.now().toISOString();
    if (job.cancelRequested) {
      const cancelled = nextRevision(unleased(transition(job, 'cancelled', at())));
      await tx.writeJob(cancelled, job.revision);
      return { job: cancelled, done: true, written: true };
    }
    const handler = this.#h.handlers.get(job.kind);
    if (!handler) throw new FhirError(500, 'not-supported', `No handler for jobs of kind '${job.kind}'.`);
    const current = job.status === 'queued' ? transition(job, 'running', at()) : job;
    const out = await handler.step(tx, current, this.#ctx);
    let next: JobRecord = { ...current, state: out.state, progress: out.progress, lease: this.#lease(now) };
    if (out.done) next = unleased(transition(next, 'completed', at()));
    next = nextRevision(next);
    await tx.writeJob(next, job.revision);
    return { job: next, done: out.done, written: true };
  }

  /** Lets go of a job this runner holds (on stop), so that another instance takes it over at once. */
  async #release(id: string): Promise<void> {
    this.#leased.delete(id);
    await this.#h.storage.transact(async (tx) => {
      const job = await tx.readJob(id);
      if (!job || isTerminal(job.status) || job.lease?.owner !== this.instanceId) return;
      await tx.writeJob(nextRevision(unleased(job)), job.revision);
    });
  }

  /** Marks a job failed with the error's reason (CAS, retried on conflicts), unless another instance holds it now. */
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
          const now = this.#h.clock.now();
          if (!this.#claimable(job, now.getTime())) return { job: undefined, written: false };
          const next = nextRevision({ ...unleased(transition(job, 'failed', now.toISOString())), error: reason });
          await tx.writeJob(next, job.revision);
          return { job: next, written: true };
        });
        this.#leased.delete(id);
        if (failed.job && failed.written) this.#emit(failed.job);
        if (failed.job && isTerminal(failed.job.status)) this.#settle(failed.job);
        return;
      } catch (e) {
        if (isStorageConflict(e)) continue;
        this.#h.onError?.(e);
        return;
      }
    }
  }
}
