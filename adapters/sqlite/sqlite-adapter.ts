/**
 * The SQLite storage adapter, on better-sqlite3 (the only module of the package that imports it).
 *
 * Units of work run as `BEGIN IMMEDIATE` … `COMMIT` on the write connection; a rejected unit is
 * rolled back. `tx` reads use the write connection, so they see the unit's own writes. The adapter
 * is `serial`: the engine's `RuntimeStorage` runs its units one at a time, and refuses a nested
 * `transact` and any use of a `tx` after its unit ended.
 *
 * **Read isolation.** better-sqlite3 has one transaction per connection, so a read on the write
 * connection while a unit of work has `BEGIN` open would see that unit's uncommitted writes. Reads
 * outside a unit therefore go to a second, read-only connection on the same file, which in WAL mode
 * sees exactly the last committed state (`isolatedReads`). A `:memory:` database requested by
 * `filename` is backed by a private temporary file (WAL, `synchronous = OFF`, deleted on close and
 * at process exit), so it gets the same isolation; it is reported as not durable. Only when an
 * in-memory better-sqlite3 `Database` is passed in (no second connection is possible) are reads not
 * isolated: the runtime then starts outside reads only between units, and they use the write
 * connection.
 *
 * **Deferred index.** A write stores only its version and, for a live version, its search index
 * entries as one appended `pending_index` row. The current pointer (`resource`), the index rows and
 * the type history are derived from the pending versions in bulk, continuously and in bounded
 * steps: a unit of work that brings the backlog to a few hundred versions applies the oldest batch
 * itself; once the event loop is idle, background units of at most 20 ms apply the rest; and a read
 * that needs them (a search or a type-level history read) applies what is left first, in the unit
 * of work of that read or in 20 ms units of its own with the event loop free between them (see
 * {@link SqliteAdapter.search}). `readCurrent`, vread and instance/system history read the versions
 * themselves. Why: a commit writes one WAL frame per dirty page, and the ~25 index
 * rows of a resource dirty ~25 scattered b-tree pages, which bounds single-write units at ~2k
 * commits/s; the version row, the pending row and one key-index leaf are about four pages. The
 * derived state is as durable as the versions it comes from (same transaction), and versions left
 * pending by a crash are applied on the next search after reopening. An in-process flag (plus
 * `PRAGMA data_version` for other connections) spares searches the check when nothing is pending.
 * The index rows of deleted resources are removed in bulk later (see `garbage` in `schema.ts`).
 *
 * **Checkpoints.** After the first few hundred units of work on a durable file, WAL checkpoints
 * (and their fsyncs) run on a worker thread, see `checkpointer.ts`.
 *
 * **Opening.** The parent directory of `filename` is created. A file that is not a SQLite database
 * (or is corrupt, or read-only) fails the constructor with a clear message before anything is
 * written to it. The schema is migrated forward on open (`PRAGMA user_version`, see `schema.ts`).
 *
 * @packageDocumentation
 */
import { mkdirSync, mkdtempSync, rmSync, existsSync, accessSync, constants as fsConstants } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

import Database from 'better-sqlite3';

const NEEDS_A_FILE =
  "SqliteAdapter needs a database: new SqliteAdapter({ filename: './fhir.sqlite' }) for a file, { filename: ':memory:' } for a temporary one, or { database } with an open better-sqlite3 Database.";

import {
  StorageConflictError,
  type HistoryPage,
  type HistoryResult,
  type HistoryScope,
  type JobRecord,
  type ResourceIndexer,
  type ResourceKey,
  type SearchHits,
  type StorageAdapter,
  type StorageCapabilities,
  type StorageQuery,
  type StorageRuntime,
  type StorageTx,
  type StoredVersion,
  type VersionWrite,
} from '../../src/adapter-kit.js';
import { BackgroundCheckpointer } from './checkpointer.js';
import { migrate } from './schema.js';
import { Store } from './read-store.js';
import { WriteStore } from './write-store.js';

/** `PRAGMA synchronous` levels. */
export type SqliteSynchronous = 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';

/** Options every SQLite adapter takes, whichever way the database is given. */
export interface SqliteCommonOptions {
  /**
   * `PRAGMA synchronous` for the write connection. Default `'NORMAL'`: with WAL, a commit survives
   * a crash of the process, and at worst the last commits are lost on power failure. `'FULL'` makes
   * every commit durable against power loss too, at a cost in write throughput.
   */
  readonly synchronous?: SqliteSynchronous;
  /** How long a statement waits for a lock held by another process (ms). Default 5000. */
  readonly busyTimeoutMs?: number;
  /**
   * Page cache of the write connection in KiB (`PRAGMA cache_size = -n`). Default 32768 (32 MiB):
   * index inserts land on scattered b-tree pages, and a small cache turns them into file reads. 64 MiB
   * wrote no faster over 50k Patients (create, update, patch, batch), and a scan of the whole database
   * (a bulk export) fills whatever the cache allows, so the default is the smaller one.
   */
  readonly cacheSizeKiB?: number;
  /**
   * `PRAGMA wal_autocheckpoint` in pages. Default 10000 (about 40 MiB of WAL with 4 KiB pages):
   * fewer, larger checkpoints copy a hot page once instead of many times.
   */
  readonly walAutoCheckpointPages?: number;
  /**
   * Run WAL checkpoints on a worker thread with its own connection, so that their fsyncs overlap
   * the writes (see `checkpointer.ts`); the writer's auto-checkpoint stays as a backstop. Started
   * after the first `BACKGROUND_CHECKPOINT_AFTER` (500) units of work of a file database whose
   * `synchronous` is not `'OFF'`. Default true.
   */
  readonly backgroundCheckpoints?: boolean;
}

/** Units of work committed before the background checkpointer starts (small databases never need it). */
export const BACKGROUND_CHECKPOINT_AFTER = 500;
/** Milliseconds between two background checkpoints. */
const BACKGROUND_CHECKPOINT_INTERVAL_MS = 10;

/** Options of {@link SqliteAdapter}: a file name (or `:memory:`), or an open better-sqlite3 database. */
export type SqliteAdapterOptions =
  | (SqliteCommonOptions & {
      /** Path of the database file (its directory is created when missing), or `':memory:'`. */
      readonly filename: string;
      readonly database?: undefined;
    })
  | (SqliteCommonOptions & {
      /**
       * An open better-sqlite3 database. File databases are switched to WAL mode and get a second,
       * read-only connection for reads outside units of work. The adapter closes it on `close()`.
       */
      readonly database: Database.Database;
      readonly filename?: undefined;
    });

/**
 * The longest a unit of work that applies pending index rows on its own (see
 * {@link SqliteAdapter.readApplied} and the background step) runs before it commits and yields the
 * event loop: other requests wait at most about this long for index maintenance.
 */
const APPLY_STEP_MS = 20;

/** Lets the event loop run I/O and timers (other requests) between two steps. */
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const temporaryFiles = new Set<string>();
let exitHookInstalled = false;
function registerTemporary(dir: string): void {
  temporaryFiles.add(dir);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const d of temporaryFiles) {
        try {
          rmSync(d, { recursive: true, force: true });
        } catch {
          // best effort
        }
      }
    });
  }
}

/**
 * Another connection (another process, or another adapter on the same file) held the write lock
 * for longer than `busyTimeoutMs`: a transient conflict, as a deadlock is for a server database. The
 * unit wrote nothing; the engine answers 409 and the job runner retries the chunk.
 */
function busyError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_BUSY')) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new StorageConflictError(`The SQLite database is locked by another connection (${reason}); nothing was written.`, {
    transient: true,
    cause: error,
  });
}

/** Turns a better-sqlite3 open/first-use failure into a clear message. */
function openError(filename: string, error: unknown): Error {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'SQLITE_NOTADB') {
    return new Error(`${filename} is not a SQLite database (or is encrypted): ${message}`, { cause: error });
  }
  if (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT')) {
    return new Error(`${filename} is a corrupt SQLite database: ${message}`, { cause: error });
  }
  if (typeof code === 'string' && (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_CANTOPEN')) {
    return new Error(`${filename} cannot be opened for writing (read-only file or directory?): ${message}`, {
      cause: error,
    });
  }
  return new Error(`Cannot open SQLite database ${filename}: ${message}`, { cause: error });
}

/**
 * A {@link StorageAdapter} on SQLite through better-sqlite3.
 *
 * @example
 * ```ts
 * import { SqliteAdapter } from 'fhir-engine/adapters/sqlite';
 * const storage = new SqliteAdapter({ filename: './data/fhir.db' });
 * ```
 */
export class SqliteAdapter implements StorageAdapter {
  readonly name = 'sqlite';
  readonly capabilities: StorageCapabilities;

  private readonly db: Database.Database;
  private readonly writer: WriteStore;
  /** Reads outside units of work; undefined for a passed-in in-memory database. */
  private readonly reader: Store | undefined;
  private readonly readerDb: Database.Database | undefined;
  private readonly temporaryDir: string | undefined;
  /** The pending background apply step (see `scheduleBackgroundApply`). */
  private backgroundApply: NodeJS.Immediate | undefined;
  private closed = false;
  /** Runs the adapter's own housekeeping units; the engine's runtime once it wraps the adapter. */
  private units: StorageRuntime = this;
  /** Units of work left before the background checkpointer starts; -1: it never does. */
  private unitsBeforeCheckpointer: number;
  private checkpointer: BackgroundCheckpointer | undefined;
  private readonly synchronousLevel: SqliteSynchronous;

  constructor(options: SqliteAdapterOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError(NEEDS_A_FILE);
    const synchronous = options.synchronous ?? 'NORMAL';
    if (!['OFF', 'NORMAL', 'FULL', 'EXTRA'].includes(synchronous)) {
      throw new Error(`Invalid synchronous level: ${String(synchronous)}`);
    }
    const busyTimeout = options.busyTimeoutMs ?? 5000;

    let filename: string;
    let synchronousLevel: SqliteSynchronous = synchronous;
    let durable = true;
    if (options.database !== undefined) {
      this.db = options.database;
      if (!this.db.open) throw new Error('The better-sqlite3 database passed to SqliteAdapter is closed.');
      if (this.db.readonly) {
        throw new Error(`SQLite database ${this.db.name} is read-only; SqliteAdapter needs a writable database.`);
      }
      filename = this.db.name;
      durable = !this.db.memory;
    } else {
      if (typeof options.filename !== 'string' || options.filename === '') {
        throw new TypeError(NEEDS_A_FILE);
      }
      if (options.filename === ':memory:') {
        // A private temporary file, so that outside reads get their own connection (see above).
        this.temporaryDir = mkdtempSync(join(tmpdir(), 'fhir-engine-sqlite-'));
        registerTemporary(this.temporaryDir);
        filename = join(this.temporaryDir, 'memory.db');
        synchronousLevel = 'OFF';
        durable = false;
      } else {
        filename = resolve(options.filename);
        mkdirSync(dirname(filename), { recursive: true });
        if (existsSync(filename)) {
          try {
            accessSync(filename, fsConstants.R_OK | fsConstants.W_OK);
          } catch (error) {
            throw new Error(`${filename} is read-only or not accessible; SqliteAdapter needs a writable file.`, {
              cause: error,
            });
          }
        }
      }
      try {
        this.db = new Database(filename, { timeout: busyTimeout });
      } catch (error) {
        throw openError(filename, error);
      }
    }

    try {
      // Reading the schema fails here, before anything is written, for a file that is not SQLite.
      this.db.prepare('SELECT count(*) FROM sqlite_master').get();
      this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeout))}`);
      if (!this.db.memory) {
        const mode = this.db.pragma('journal_mode = WAL', { simple: true });
        if (String(mode).toLowerCase() !== 'wal') {
          throw new Error(`could not switch ${filename} to WAL mode (journal_mode is ${String(mode)})`);
        }
      }
      this.db.pragma(`synchronous = ${synchronousLevel}`);
      this.db.pragma(`cache_size = ${-Math.max(0, Math.floor(options.cacheSizeKiB ?? 32_768))}`);
      if (!this.db.memory) {
        this.db.pragma(`wal_autocheckpoint = ${Math.max(0, Math.floor(options.walAutoCheckpointPages ?? 10_000))}`);
      }
      this.db.pragma('foreign_keys = OFF');
      migrate(this.db);
      this.writer = new WriteStore(this.db);
    } catch (error) {
      if (options.database === undefined) this.db.close();
      this.cleanupTemporary();
      throw openError(filename, error);
    }

    if (!this.db.memory) {
      try {
        this.readerDb = new Database(filename, { readonly: true, fileMustExist: true, timeout: busyTimeout });
        this.readerDb.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeout))}`);
        this.readerDb.pragma('cache_size = -16384');
        this.reader = new Store(this.readerDb);
      } catch (error) {
        this.db.close();
        this.cleanupTemporary();
        throw openError(filename, error);
      }
    }
    this.capabilities = { concurrency: 'serial', durable, isolatedReads: this.reader !== undefined };
    this.synchronousLevel = synchronousLevel;
    this.unitsBeforeCheckpointer =
      this.reader !== undefined && synchronousLevel !== 'OFF' && options.backgroundCheckpoints !== false
        ? BACKGROUND_CHECKPOINT_AFTER
        : -1;
  }

  /** The file backing this adapter (a temporary file for `:memory:`). */
  get filename(): string {
    return this.db.name;
  }

  // ---------------------------------------------------------------------------------------------
  // Units of work
  // ---------------------------------------------------------------------------------------------

  useRuntime(runtime: StorageRuntime): void {
    this.units = runtime;
  }

  /**
   * Takes the engine's indexer. Writes still carry their entries; the indexer serves to index again,
   * from their JSON, the resources a database upgraded from an older version holds (see
   * `DeferredIndex.reindex`), before the next search.
   */
  useIndexer(indexer: ResourceIndexer): void {
    this.writer.useIndexer(indexer);
  }

  async transact<T>(work: (tx: StorageTx) => Promise<T>): Promise<T> {
    try {
      this.db.exec('BEGIN IMMEDIATE');
    } catch (error) {
      throw busyError(error);
    }
    this.writer.beginUnit();
    let result: T;
    try {
      result = await work(new SqliteTx(this.writer));
    } catch (error) {
      this.rollback();
      throw error;
    }
    try {
      this.db.exec('COMMIT');
    } catch (error) {
      this.rollback();
      throw busyError(error);
    }
    this.writer.endUnit(true);
    if (this.writer.maintenanceDue()) this.scheduleBackgroundApply();
    if (this.unitsBeforeCheckpointer > 0 && --this.unitsBeforeCheckpointer === 0) {
      const interval = BACKGROUND_CHECKPOINT_INTERVAL_MS;
      this.checkpointer = BackgroundCheckpointer.start(this.db.name, this.synchronousLevel, interval);
    }
    return result;
  }

  private rollback(): void {
    try {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    } finally {
      this.writer.endUnit(false);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Reads outside units of work
  // ---------------------------------------------------------------------------------------------

  /**
   * Runs a read against committed state: on the read-only connection, or, without one, on the write
   * connection (the runtime calls it only between units then).
   */
  private read<T>(fn: (store: Store) => T): Promise<T> {
    try {
      return Promise.resolve(fn(this.reader ?? this.writer));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  readCurrent(key: ResourceKey): Promise<StoredVersion | undefined> {
    return this.read((s) => s.readCurrent(key));
  }

  readVersion(key: ResourceKey, versionId: string): Promise<StoredVersion | undefined> {
    return this.read((s) => s.readVersion(key, versionId));
  }

  readHistory(scope: HistoryScope, page: HistoryPage): Promise<HistoryResult> {
    // Type-level history reads the derived `type_seq` (see `schema.ts`).
    if (scope.level === 'type') return this.readApplied((s) => s.readHistory(scope, page));
    return this.read((s) => s.readHistory(scope, page));
  }

  /** Searches committed state, applying pending versions first when there are any (see `readApplied`). */
  search(query: StorageQuery): Promise<SearchHits> {
    return this.readApplied((s) => s.search(query));
  }

  /**
   * Runs a read of derived state (search, type-level history) against committed state. When
   * committed writes left pending versions (see the deferred index in `schema.ts`), the read runs as
   * a short unit of work of its own, queued through the runtime behind the unit in flight, that
   * applies them, commits and answers on the write connection (which then holds exactly the
   * committed state). Later reads go to the read-only connection.
   */
  private async readApplied<T>(fn: (store: Store) => T): Promise<T> {
    if (!this.writer.hasCommittedPending()) return this.read(fn);
    // Writes keep the backlog short (see `BACKLOG_LIMIT` in `deferred-index.ts`), but another
    // connection, an upgrade or a crash can leave a long one: it is applied in steps of
    // APPLY_STEP_MS, each its own unit, with the event loop free between them.
    while (!(await this.units.transact(async () => this.writer.applyPending(performance.now() + APPLY_STEP_MS)))) {
      await yieldToLoop();
    }
    return this.units.transact(async () => fn(this.writer));
  }

  /**
   * After a commit that left pending versions: applies them in steps of APPLY_STEP_MS once the event
   * loop is idle (an immediate runs after pending I/O), so that a search after a burst of writes
   * finds little or nothing left to apply. The step queues behind units in flight like any other.
   */
  private scheduleBackgroundApply(): void {
    if (this.backgroundApply !== undefined || this.closed) return;
    this.backgroundApply = setImmediate(() => {
      this.backgroundApply = undefined;
      if (this.closed || !this.writer.maintenanceDue()) return;
      this.units
        .transact(async () => this.writer.applyPending(performance.now() + APPLY_STEP_MS))
        .then(
          () => {
            if (this.writer.maintenanceDue()) this.scheduleBackgroundApply();
          },
          () => {
            // Closed meanwhile, or the database is busy: the next search applies what is left.
          },
        );
    });
    // Never keeps the process alive on its own.
    this.backgroundApply.unref();
  }

  readJob(id: string): Promise<JobRecord | undefined> {
    return this.read((s) => s.readJob(id));
  }

  listUnfinishedJobs(): Promise<readonly JobRecord[]> {
    return this.read((s) => s.listUnfinishedJobs());
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle
  // ---------------------------------------------------------------------------------------------

  async close(): Promise<void> {
    this.closed = true;
    if (this.backgroundApply !== undefined) clearImmediate(this.backgroundApply);
    this.backgroundApply = undefined;
    try {
      await this.checkpointer?.stop();
      this.readerDb?.close();
      try {
        this.db.pragma('optimize');
      } catch {
        // optional
      }
      this.db.close();
    } finally {
      this.cleanupTemporary();
    }
  }

  private cleanupTemporary(): void {
    if (this.temporaryDir === undefined) return;
    try {
      rmSync(this.temporaryDir, { recursive: true, force: true });
    } catch {
      // best effort
    }
    temporaryFiles.delete(this.temporaryDir);
  }
}

/** The `tx` of one unit of work: reads and writes on the write connection. */
class SqliteTx implements StorageTx {
  constructor(private readonly store: WriteStore) {}

  async readCurrent(key: ResourceKey): Promise<StoredVersion | undefined> {
    return this.store.readCurrent(key);
  }

  async readVersion(key: ResourceKey, versionId: string): Promise<StoredVersion | undefined> {
    return this.store.readVersion(key, versionId);
  }

  async readHistory(scope: HistoryScope, page: HistoryPage): Promise<HistoryResult> {
    return this.store.readHistoryInUnit(scope, page);
  }

  async search(query: StorageQuery): Promise<SearchHits> {
    return this.store.searchInUnit(query);
  }

  async readJob(id: string): Promise<JobRecord | undefined> {
    return this.store.readJob(id);
  }

  async listUnfinishedJobs(): Promise<readonly JobRecord[]> {
    return this.store.listUnfinishedJobs();
  }

  async writeVersion(write: VersionWrite): Promise<number> {
    return this.store.writeVersion(write);
  }

  async purge(key: ResourceKey, keep: 'none' | 'current'): Promise<number> {
    return this.store.purge(key, keep);
  }

  async lock(_name: string): Promise<void> {
    // Units of work run one at a time.
  }

  async writeJob(job: JobRecord, expectedRevision: number | null): Promise<void> {
    this.store.writeJob(job, expectedRevision);
  }
}
