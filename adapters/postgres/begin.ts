/**
 * The first statement of a unit of work, sent together with the `BEGIN` that opens the unit: one
 * round trip instead of two. node-postgres sends a query only after the previous one's
 * ReadyForQuery, so `BEGIN` as a query of its own costs a round trip (and a wake-up of the server
 * process) on every unit: a third of a single create. Here `BEGIN` goes out as an extended-protocol
 * Parse/Bind/Execute in front of the statement's own messages, before their one Sync: the server runs
 * both in order and answers with one ReadyForQuery. (It is how libpq's pipeline mode batches.)
 *
 * It is a `pg.Query` (node-postgres' Submittable) whose `prepare` writes the extra messages through
 * the connection's `parse`/`bind`/`execute`, as pg-cursor does; node-postgres collects the two
 * results (multi-result, as for a simple query with two statements) and this module hands back the
 * statement's. Used for statements that take values or have a name (they use the extended protocol).
 *
 * @packageDocumentation
 */
import pg from 'pg';

/** What the override needs from node-postgres' connection. */
interface ProtocolConnection {
  parse(query: { text: string; name?: string; types?: unknown[] }): void;
  bind(config: { portal?: string; statement?: string; values?: unknown[] }): void;
  execute(config: { portal?: string; rows?: number }): void;
}

/** The `BEGIN` every unit of work opens with (READ COMMITTED whatever the server's default, see the adapter). */
export const BEGIN = 'BEGIN ISOLATION LEVEL READ COMMITTED';

type Results<R extends pg.QueryResultRow> = pg.QueryResult<R> | pg.QueryResult<R>[];

/** A query that opens a transaction before it runs. */
class BeginThenQuery<R extends pg.QueryResultRow> extends pg.Query<R> {
  /** Called by `submit` for a query that uses the extended protocol (values or a name). */
  prepare(connection: ProtocolConnection): void {
    connection.parse({ text: BEGIN, name: '', types: [] });
    connection.bind({ portal: '', statement: '', values: [] });
    connection.execute({ portal: '', rows: 0 });
    (pg.Query.prototype as unknown as { prepare(c: ProtocolConnection): void }).prepare.call(this, connection);
  }
}

/**
 * Runs `BEGIN` and then `config` on `client` in one round trip; resolves with the statement's
 * result. `config` must have values or a name (so that it is sent with the extended protocol).
 */
export function beginThen<R extends pg.QueryResultRow>(client: pg.PoolClient, config: pg.QueryConfig): Promise<pg.QueryResult<R>> {
  return new Promise((resolve, reject) => {
    // The extended protocol also for a statement without values, so that `prepare` runs.
    const extended = { ...config, queryMode: 'extended' } as pg.QueryConfig;
    const query = new BeginThenQuery<R>(extended, (error: Error | undefined, results: unknown) => {
      if (error) reject(error);
      else {
        const all = results as Results<R>;
        resolve(Array.isArray(all) ? (all[all.length - 1] as pg.QueryResult<R>) : all);
      }
    });
    void client.query(query as unknown as pg.QueryConfig);
  });
}
