/**
 * The example FHIR server on `node:http`: what `npm start` and `npx fhir-engine serve` run (the
 * command line is `cli/main.ts`). In your project, import from `fhir-engine` and `fhir-engine/node`.
 * `npm start` reads its settings from the environment:
 *
 *   PORT      port to listen on (default 8080; 0 picks a free one)
 *   FHIR_DB   SQLite file (default ./data/fhir.sqlite); `:memory:` selects the in-memory adapter;
 *             `postgres://user:password@host:port/database` (or `postgresql://`) selects PostgreSQL.
 *             Any other `scheme:` value is refused.
 *   FHIR_PG_SCHEMA  PostgreSQL schema for the engine's tables (default `fhir`)
 *   FHIR_EXPORT_DIR directory of bulk export files (default `./data/export`)
 *   BASE_URL  public base URL (default: from each request's Host)
 *   MAX_BODY  largest request body in bytes (default 16 MiB)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { DirectoryExportSink } from '../adapters/directory-export/index.js';
import { FhirEngine, type Logger, type StorageAdapter } from '../src/index.js';
import { fhirListener } from '../src/node/index.js';

/** The scheme of a URL-looking database name (two letters at least: `C:\\data` is a Windows path). */
const schemeOf = (db: string): string | undefined => /^([a-z][a-z0-9+.-]+):/i.exec(db)?.[1]?.toLowerCase();

/** A database name fit for a log line: a URL's password is masked. */
export function redactDb(db: string): string {
  return db.replace(/^([a-z][a-z0-9+.-]+:\/\/[^:@/]*:)[^/]*@/i, '$1***@');
}

/**
 * Opens the storage `db` names: memory for `:memory:`, PostgreSQL for a `postgres://` or
 * `postgresql://` URL, otherwise a SQLite file. Any other value with a scheme is refused, rather than
 * taken for a file path.
 */
export async function openStorage(db: string, pgSchema?: string): Promise<StorageAdapter> {
  if (db === ':memory:') {
    const { MemoryAdapter } = await import('../adapters/memory/index.js');
    return new MemoryAdapter();
  }
  const scheme = schemeOf(db);
  if (scheme === 'postgres' || scheme === 'postgresql') {
    const { PostgresAdapter } = await import('../adapters/postgres/index.js');
    return PostgresAdapter.open({ connectionString: db, ...(pgSchema ? { schema: pgSchema } : {}) });
  }
  if (scheme !== undefined) {
    throw new Error(
      `unsupported scheme '${scheme}:'. Use postgres://user:password@host:port/database (or postgresql://), ':memory:', or the path of a SQLite file.`,
    );
  }
  const { SqliteAdapter } = await import('../adapters/sqlite/index.js');
  return new SqliteAdapter({ filename: db });
}

/** A pino-shaped logger writing one JSON line per call (pass `pino()` instead in your project). */
export const jsonLogger = (write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Logger => {
  const at = (level: string) => (fields: object, message?: string) => {
    const err = (fields as { err?: unknown }).err;
    write(JSON.stringify({ level, time: new Date().toISOString(), msg: message, ...fields, ...(err instanceof Error && { err: err.stack }) }));
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
};

/** A node:http server serving `engine` at its root. */
export function createFhirServer(engine: FhirEngine, options: { maxBodyBytes?: number; publicBaseUrl?: string } = {}): Server {
  return createServer(fhirListener(engine, options));
}

/** What {@link serve} runs with. */
export interface ServeOptions {
  readonly db: string;
  readonly port: number;
  readonly host?: string;
  readonly baseUrl?: string;
  readonly maxBodyBytes?: number;
  readonly pgSchema?: string;
  /** Directory of bulk export files (default `./data/export`). */
  readonly exportDir?: string;
  /** Log one line per request (default true). */
  readonly log?: boolean;
  /** On SIGTERM/SIGINT, how long requests in flight may take before their connections are cut (default 10 s). */
  readonly shutdownGraceMs?: number;
}

/**
 * The shutdown of {@link serve}: stop accepting connections, let the requests in flight finish (their
 * keep-alive connections close after the response), then close the engine, which lets a running
 * job chunk (a bulk delete's unit of work) commit before it closes the storage, and exit 0. Requests
 * still running after `graceMs` have their connections cut; the engine still closes cleanly.
 */
export function gracefulShutdown(server: Server, engine: FhirEngine, graceMs: number): () => void {
  let closing = false;
  const inFlight = new Set<ServerResponse>();
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    inFlight.add(res);
    // A response finished while closing leaves an idle keep-alive connection: close it now.
    res.on('close', () => {
      inFlight.delete(res);
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
    if (closing) res.shouldKeepAlive = false;
  });
  return () => {
    if (closing) return;
    closing = true;
    console.log('fhir-engine: shutting down (finishing requests in flight)');
    // Answered with `Connection: close`, so that clients do not send more on these connections.
    for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
    const cut = setTimeout(() => server.closeAllConnections(), graceMs);
    cut.unref();
    server.close(() => {
      clearTimeout(cut);
      engine.close().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(`fhir-engine: closing the storage failed: ${String(error)}`);
          process.exit(1);
        },
      );
    });
  };
}

/**
 * Opens the storage, resumes unfinished jobs, starts the server, and shuts down gracefully on
 * SIGINT/SIGTERM (see {@link gracefulShutdown}). Exits 1 when the storage cannot be opened.
 */
export async function serve(options: ServeOptions): Promise<Server> {
  let storage: StorageAdapter;
  try {
    storage = await openStorage(options.db, options.pgSchema);
  } catch (error) {
    console.error(`fhir-engine: cannot open FHIR_DB '${redactDb(options.db)}': ${(error as Error).message}`);
    process.exit(1);
  }
  const engine = new FhirEngine({
    storage,
    limits: options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes },
    exportSink: new DirectoryExportSink(options.exportDir ?? join('data', 'export')),
    ...(options.log !== false && { logger: jsonLogger() }),
  });
  const server = createFhirServer(engine, options.baseUrl === undefined ? {} : { publicBaseUrl: options.baseUrl });
  const shutdown = gracefulShutdown(server, engine, options.shutdownGraceMs ?? 10_000);
  // Resume unfinished jobs (a bulk delete cut short by the last shutdown) without waiting for a request.
  await engine.start();
  // The bound port, not the asked one: port 0 picks a free port.
  server.listen(options.port, options.host, () => {
    const bound = (server.address() as { port: number }).port;
    console.log(`fhir-engine listening on http://localhost:${bound}/ (storage: ${storage.name}, FHIR_DB=${redactDb(options.db)})`);
  });
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  return server;
}
