/**
 * The PostgreSQL storage adapter, on node-postgres (`pg`): the only module of the package that talks
 * to it. Several adapters (in one process or many) may share one database: every guarantee below
 * comes from PostgreSQL, none from process memory.
 *
 * **Units of work** run concurrently, each on its own pooled connection, as one READ COMMITTED
 * transaction; a unit's statements are sent one after another. Writes are compare-and-set in a
 * single statement (see `statements.ts`), `lock(name)` is `pg_advisory_xact_lock` on a 64-bit hash
 * of the schema and name, and reads see the unit's own writes. READ COMMITTED is what makes the
 * conditional-create lock work: the search after the lock sees what the previous holder committed.
 * Reads outside units run as single statements (one snapshot each) on any pooled connection: they
 * see committed state only, with units in flight too (`isolatedReads`).
 *
 * **Failures.** A unit whose statement fails is rolled back and rejects. A deadlock or
 * serialization failure inside a unit surfaces as a `StorageConflictError` (409/412 for a write, a
 * retried chunk for a job): the adapter does not run `work` again, because `work` need not be
 * idempotent (a transaction bundle rewrites its entries in place). Transactions the adapter owns
 * (migrations, the history barrier below, consistent search pages) are retried a few times.
 *
 * **Commit order.** `seq` comes from a sequence, so concurrent units draw numbers in one order and
 * may commit in another: a reader could see seq 11 before seq 10 commits. History pages and the
 * bulk-delete snapshot (`maxSeq`, the top of system history) rely on "every seq below what I saw is
 * settled". Every statement that draws a seq inserts into `version`, so it holds a ROW EXCLUSIVE
 * lock on that table until its unit ends. A history read that can reveal the newest seq (type or
 * system level, without a `before` cursor) first takes `LOCK TABLE version IN SHARE MODE`, which
 * waits for the units that drew a seq to end and holds new ones back for the length of one indexed
 * read: everything it sees below its top is settled, and later writes draw higher numbers. Pages
 * with `before` read below a settled top and need no lock. Instance history needs none either: the
 * versions of one resource are serialised by its row lock. Writers pay nothing for this.
 *
 * @packageDocumentation
 */
import pg from 'pg';

import {
  type HistoryPage,
  type HistoryResult,
  type HistoryScope,
  type JobRecord,
  type ResourceIndexer,
  type ResourceKey,
  type SearchHits,
  type StorageAdapter,
  type StorageCapabilities,
  StorageConflictError,
  type StorageQuery,
  type StorageTx,
  type StoredVersion,
  type VersionMethod,
  type VersionWrite,
} from '../../src/adapter-kit.js';
import { compileSearch, hitsOf, type CompiledSearch, type SearchRow, type SqlTarget } from '../sql/search.js';
import { beginThen } from './begin.js';
import { pgQuery, postgresTarget } from './dialect.js';
import { advisoryKey, retryTransient, unitError } from './errors.js';
import { reindex } from './reindex.js';
import { migrate, quoteSchema } from './schema.js';
import { Statements, type Statement } from './statements.js';

/** Options every PostgreSQL adapter takes. */
export interface PostgresCommonOptions {
  /** The PostgreSQL schema holding the engine's tables; created when missing. Default `fhir`. */
  readonly schema?: string;
}

/** Options of {@link PostgresAdapter}: a pool the caller owns, or a connection string. */
export type PostgresAdapterOptions =
  | (PostgresCommonOptions & {
      /** A node-postgres pool. The caller owns it: `close()` leaves it open. */
      readonly pool: pg.Pool;
      readonly connectionString?: undefined;
    })
  | (PostgresCommonOptions & {
      /** `postgres://user:password@host:port/database`; the adapter creates a pool and `close()` ends it. */
      readonly connectionString: string;
      /** Most connections in the pool (units of work in flight at once). Default 10. */
      readonly max?: number;
      readonly pool?: undefined;
    });

type Queryable = Pick<pg.PoolClient, 'query'>;

interface VersionRow {
  res_type: string;
  res_id: string;
  version_id: string;
  seq: string;
  last_updated: string;
  method: VersionMethod;
  deleted: boolean;
  json: string;
}

const versionOf = (row: VersionRow): StoredVersion => ({
  type: row.res_type,
  id: row.res_id,
  versionId: row.version_id,
  seq: Number(row.seq),
  lastUpdated: row.last_updated,
  method: row.method,
  deleted: row.deleted,
  json: row.json,
});

/** Tells schemas apart in prepared statement names when several adapters share a pool. */
let adapterCount = 0;

/**
 * A {@link StorageAdapter} on PostgreSQL through node-postgres.
 *
 * @example
 * ```ts
 * import { PostgresAdapter } from 'fhir-engine/adapters/postgres';
 * const storage = await PostgresAdapter.open({ connectionString: process.env.DATABASE_URL!, max: 20 });
 * ```
 */
export class PostgresAdapter implements StorageAdapter {
  readonly name = 'postgres';
  readonly capabilities: StorageCapabilities = { concurrency: 'concurrent', durable: true, isolatedReads: true };

  /** @internal */
  readonly pool: pg.Pool;
  /** @internal */
  readonly statements: Statements;
  /** @internal */
  readonly target: SqlTarget;
  /** @internal quoted schema name */
  readonly s: string;
  readonly #schema: string;
  readonly #ownsPool: boolean;
  #ready: Promise<void>;

  /**
   * Creates the adapter and starts migrating the schema; every call waits for the migration (and
   * rejects if it failed). {@link PostgresAdapter.open} waits for it up front.
   */
  constructor(options: PostgresAdapterOptions) {
    this.#schema = options.schema ?? 'fhir';
    this.s = quoteSchema(this.#schema);
    if (options.pool !== undefined) {
      this.pool = options.pool;
      this.#ownsPool = false;
    } else {
      if (typeof options.connectionString !== 'string' || options.connectionString === '') {
        throw new Error('PostgresAdapter needs a `pool` or a `connectionString`.');
      }
      this.pool = new pg.Pool({ connectionString: options.connectionString, max: options.max ?? 10 });
      // An idle connection that drops (server restart) must not crash the process; the next query reconnects.
      this.pool.on('error', () => undefined);
      this.#ownsPool = true;
    }
    this.statements = new Statements(this.s, `${++adapterCount}`);
    this.target = postgresTarget(this.s);
    this.#ready = migrate(this.pool, this.#schema);
    this.#ready.catch(() => undefined); // reported by every call
  }

  /** Creates an adapter and waits until its schema is migrated; rejects (and closes) if it cannot be. */
  static async open(options: PostgresAdapterOptions): Promise<PostgresAdapter> {
    const adapter = new PostgresAdapter(options);
    try {
      await adapter.#ready;
    } catch (error) {
      await adapter.close();
      throw error;
    }
    return adapter;
  }

  /**
   * Takes the engine's indexer. Writes still carry their entries; the indexer serves to index again,
   * from their JSON, the resources a schema upgraded from an older version holds (see `reindex.ts`):
   * every call waits until that is done.
   */
  useIndexer(indexer: ResourceIndexer): void {
    this.#ready = this.#ready.then(() => reindex(this.pool, this.s, indexer));
    this.#ready.catch(() => undefined); // reported by every call
  }

  /** The PostgreSQL schema holding this adapter's tables. */
  get schema(): string {
    return this.#schema;
  }

  // ---------------------------------------------------------------------------------------------
  // Units of work
  // ---------------------------------------------------------------------------------------------

  async transact<T>(work: (tx: StorageTx) => Promise<T>): Promise<T> {
    await this.#ready;
    const client = await this.pool.connect();
    let broken: Error | undefined;
    // The transaction opens with the unit's first statement (see `begin.ts`); a unit that sends none
    // costs no round trip at all.
    const tx = new PostgresTx(this, client);
    try {
      let result: T;
      try {
        result = await work(tx);
        await tx.end();
      } catch (error) {
        await tx.end();
        if (tx.begun) await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw error;
      }
      if (tx.failure !== undefined) {
        // `work` went on after a failed statement: PostgreSQL already aborted the transaction.
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw tx.failure;
      }
      if (tx.begun) {
        try {
          await client.query('COMMIT');
        } catch (error) {
          broken = error as Error;
          throw unitError(error);
        }
      }
      return result;
    } finally {
      client.release(broken);
    }
  }

  /**
   * A version write as a unit of work of its own: the compare-and-set statement alone, in autocommit
   * (one statement is atomic), so one round trip instead of three. Retried on a transient failure,
   * which rolled it back whole.
   */
  async writeVersion(write: VersionWrite): Promise<number> {
    let rows: { seq: string }[];
    try {
      ({ rows } = await this.query<{ seq: string }>(this.statements.writeVersion(write)));
    } catch (error) {
      throw unitError(error);
    }
    return seqOrConflict(write, rows[0]);
  }

  // ---------------------------------------------------------------------------------------------
  // Reads outside units of work
  // ---------------------------------------------------------------------------------------------

  /** Runs one statement on any pooled connection. @internal */
  async query<R extends pg.QueryResultRow>(statement: Statement | { text: string; values: readonly unknown[] }): Promise<pg.QueryResult<R>> {
    await this.#ready;
    return retryTransient(() => this.pool.query<R>(statement as pg.QueryConfig));
  }

  /** Runs `read` in a short transaction of its own (retried on transient failures). @internal */
  async inTransaction<T>(begin: string, read: (client: Queryable) => Promise<T>): Promise<T> {
    await this.#ready;
    return retryTransient(async () => {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query(begin);
        try {
          const result = await read(client);
          await client.query('COMMIT');
          return result;
        } catch (error) {
          await client.query('ROLLBACK').catch((e: Error) => (broken = e));
          throw error;
        }
      } finally {
        client.release(broken);
      }
    });
  }

  async readCurrent(key: ResourceKey): Promise<StoredVersion | undefined> {
    const { rows } = await this.query<VersionRow>(this.statements.readCurrent(key.type, key.id));
    return rows[0] && versionOf(rows[0]);
  }

  async readVersion(key: ResourceKey, versionId: string): Promise<StoredVersion | undefined> {
    const { rows } = await this.query<VersionRow>(this.statements.readVersion(key.type, key.id, versionId));
    return rows[0] && versionOf(rows[0]);
  }

  readHistory(scope: HistoryScope, page: HistoryPage): Promise<HistoryResult> {
    const statement = historyStatement(this.statements, scope, page);
    if (!needsBarrier(scope, page)) return this.query<VersionRow>(statement).then(historyOf);
    return this.inTransaction('BEGIN ISOLATION LEVEL READ COMMITTED', async (client) => {
      await client.query(`LOCK TABLE ${this.s}.version IN SHARE MODE`);
      return historyOf(await client.query<VersionRow>(statement));
    });
  }

  search(query: StorageQuery): Promise<SearchHits> {
    const compiled = compileSearch(this.target, pgQuery(query));
    if (compiled.count === undefined) {
      return this.query<SearchRow>(this.statements.search(compiled.sql, compiled.params)).then((r) => hitsOf(compiled, r.rows));
    }
    // Page and total from one snapshot.
    return this.inTransaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', (client) => runSearch(client, this.statements, compiled));
  }

  async readJob(id: string): Promise<JobRecord | undefined> {
    const { rows } = await this.query<{ record: string }>(this.statements.readJob(id));
    return rows[0] && (JSON.parse(rows[0].record) as JobRecord);
  }

  async listUnfinishedJobs(): Promise<readonly JobRecord[]> {
    const { rows } = await this.query<{ record: string }>(this.statements.listUnfinishedJobs());
    return rows.map((row) => JSON.parse(row.record) as JobRecord);
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle
  // ---------------------------------------------------------------------------------------------

  /**
   * Ends the pool if the adapter created it (which waits for the connections in use). The engine's
   * `RuntimeStorage` calls it once, after the units of work in flight have ended, and refuses every
   * later call with a clear error.
   */
  async close(): Promise<void> {
    await this.#ready.catch(() => undefined);
    if (this.#ownsPool) await this.pool.end();
  }

  /** The advisory lock key of a name, scoped to this schema. @internal */
  lockKey(name: string): string {
    return advisoryKey(`fhir-engine:${this.#schema}:${name}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Shared by reads in and outside units
// ---------------------------------------------------------------------------------------------

async function runSearch(client: Queryable, statements: Statements, compiled: CompiledSearch): Promise<SearchHits> {
  const { rows } = await client.query<SearchRow>(statements.search(compiled.sql, compiled.params) as pg.QueryConfig);
  if (compiled.count === undefined) return hitsOf(compiled, rows);
  const counted = await client.query<{ n: string }>(statements.search(compiled.count.sql, compiled.count.params) as pg.QueryConfig);
  return hitsOf(compiled, rows, Number(counted.rows[0]?.n ?? 0));
}

/** Whether a history read can reveal the newest seq (see "Commit order" above). */
const needsBarrier = (scope: HistoryScope, page: HistoryPage): boolean => scope.level !== 'instance' && page.before === undefined;

const historyStatement = (statements: Statements, scope: HistoryScope, page: HistoryPage): Statement =>
  statements.readHistory(scope, page.count, page.before ?? null, page.since ?? null);

const historyOf = (result: pg.QueryResult<VersionRow>): HistoryResult => ({ items: result.rows.map(versionOf) });

/** The seq the write statement returned, or the conflict its missing row means. */
function seqOrConflict(write: VersionWrite, row: { seq: string } | undefined): number {
  if (row === undefined) {
    const expected = write.expect.kind === 'absent' ? 'to be absent' : `at version ${write.expect.versionId}`;
    throw new StorageConflictError(`${write.type}/${write.id} was expected ${expected}.`);
  }
  return Number(row.seq);
}

/** The `tx` of one unit of work: its statements, one at a time, on the unit's connection. */
class PostgresTx implements StorageTx {
  active = true;
  /** The transaction has been opened (with the first statement). */
  begun = false;
  /** The first statement failure; PostgreSQL has aborted the transaction since. */
  failure: unknown;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly adapter: PostgresAdapter,
    private readonly client: pg.PoolClient,
  ) {}

  /** Ends the unit: no further statements; waits for those already queued. */
  async end(): Promise<void> {
    this.active = false;
    await this.#tail.catch(() => undefined);
  }

  /** Queues a statement behind the unit's previous ones (a connection runs one at a time). */
  #run<R extends pg.QueryResultRow>(statement: Statement | { text: string; values?: readonly unknown[] }): Promise<pg.QueryResult<R>> {
    if (!this.active) return Promise.reject(new Error('This unit of work has ended; its tx can no longer be used.'));
    const run = this.#tail.then(() => {
      if (this.begun) return this.client.query<R>(statement as pg.QueryConfig);
      this.begun = true;
      return beginThen<R>(this.client, statement as pg.QueryConfig);
    });
    this.#tail = run.catch(() => undefined);
    return run.catch((error: unknown) => {
      this.failure ??= unitError(error);
      throw unitError(error);
    });
  }

  async readCurrent(key: ResourceKey): Promise<StoredVersion | undefined> {
    const { rows } = await this.#run<VersionRow>(this.adapter.statements.readCurrent(key.type, key.id));
    return rows[0] && versionOf(rows[0]);
  }

  async readVersion(key: ResourceKey, versionId: string): Promise<StoredVersion | undefined> {
    const { rows } = await this.#run<VersionRow>(this.adapter.statements.readVersion(key.type, key.id, versionId));
    return rows[0] && versionOf(rows[0]);
  }

  async readHistory(scope: HistoryScope, page: HistoryPage): Promise<HistoryResult> {
    if (needsBarrier(scope, page)) await this.#run({ text: `LOCK TABLE ${this.adapter.s}.version IN SHARE MODE` });
    return historyOf(await this.#run<VersionRow>(historyStatement(this.adapter.statements, scope, page)));
  }

  async search(query: StorageQuery): Promise<SearchHits> {
    const compiled = compileSearch(this.adapter.target, pgQuery(query));
    const run: Queryable = { query: ((config: pg.QueryConfig) => this.#run(config)) as Queryable['query'] };
    return runSearch(run, this.adapter.statements, compiled);
  }

  async readJob(id: string): Promise<JobRecord | undefined> {
    const { rows } = await this.#run<{ record: string }>(this.adapter.statements.readJob(id));
    return rows[0] && (JSON.parse(rows[0].record) as JobRecord);
  }

  async listUnfinishedJobs(): Promise<readonly JobRecord[]> {
    const { rows } = await this.#run<{ record: string }>(this.adapter.statements.listUnfinishedJobs());
    return rows.map((row) => JSON.parse(row.record) as JobRecord);
  }

  async writeVersion(write: VersionWrite): Promise<number> {
    const { rows } = await this.#run<{ seq: string }>(this.adapter.statements.writeVersion(write));
    return seqOrConflict(write, rows[0]);
  }

  async purge(key: ResourceKey, keep: 'none' | 'current'): Promise<number> {
    const { statements } = this.adapter;
    // Lock the pointer first, so that no version of this resource commits between the two statements.
    const { rows } = await this.#run<{ rid: string; seq: string }>(statements.lockResource(key.type, key.id));
    const pointer = rows[0];
    if (keep === 'current' && pointer === undefined) return 0;
    const statement =
      keep === 'none' ? statements.purgeAll(key.type, key.id, pointer?.rid ?? null) : statements.purgeHistory(key.type, key.id, (pointer as { seq: string }).seq);
    const result = await this.#run<{ n: number }>(statement);
    return result.rows[0]?.n ?? 0;
  }

  async lock(name: string): Promise<void> {
    await this.#run({ text: 'SELECT pg_advisory_xact_lock($1::int8)', values: [this.adapter.lockKey(name)] });
  }

  async writeJob(job: JobRecord, expectedRevision: number | null): Promise<void> {
    const { statements } = this.adapter;
    const record = JSON.stringify(job);
    const statement =
      expectedRevision === null
        ? statements.insertJob(job.id, job.revision, job.status, record)
        : statements.updateJob(job.id, job.revision, job.status, record, expectedRevision);
    const { rows } = await this.#run(statement);
    if (rows.length === 0) {
      throw new StorageConflictError(
        expectedRevision === null ? `Job ${job.id} already exists.` : `Job ${job.id} is not at revision ${expectedRevision}.`,
      );
    }
  }
}
