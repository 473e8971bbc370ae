/**
 * The example FHIR server: `npm start`. node:http in front of engine.handle(), on SQLite by default.
 *
 *   PORT      port to listen on (default 8080)
 *   FHIR_DB   SQLite file (default ./data/fhir.sqlite); `:memory:` selects the in-memory adapter;
 *             `postgres://user:password@host:port/database` (or `postgresql://`) selects PostgreSQL.
 *             Any other `scheme:` value is refused.
 *   FHIR_PG_SCHEMA  PostgreSQL schema for the engine's tables (default `fhir`)
 *   FHIR_EXPORT_DIR directory of bulk export files (default `./data/export`)
 *   MAX_BODY  largest request body in bytes (default 16 MiB)
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DirectoryExportSink } from '../adapters/directory-export/index.js';
import { FhirEngine } from '../src/index.js';
import type { StorageAdapter } from '../src/index.js';

/** The scheme of a URL-looking `FHIR_DB` (two letters at least: `C:\\data` is a Windows path). */
const schemeOf = (db: string): string | undefined => /^([a-z][a-z0-9+.-]+):/i.exec(db)?.[1]?.toLowerCase();

/** `FHIR_DB` fit for a log line: a URL's password is masked. */
export function redactDb(db: string): string {
  return db.replace(/^([a-z][a-z0-9+.-]+:\/\/[^:@/]*:)[^/]*@/i, '$1***@');
}

/**
 * Opens the storage `FHIR_DB` names: memory for `:memory:`, PostgreSQL for a `postgres://` or
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

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        // Stop buffering; the connection is closed once the 413 is written.
        req.removeAllListeners('data');
        req.pause();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A node:http server that serves `engine` at `/`. */
export function createFhirServer(engine: FhirEngine, maxBodyBytes = 16 * 1024 * 1024): Server {
  return createServer(async (req, res) => {
    let body: Buffer;
    try {
      body = await readBody(req, maxBodyBytes);
    } catch (error) {
      const tooLarge = error instanceof BodyTooLarge;
      res.writeHead(tooLarge ? 413 : 400, { 'content-type': 'application/fhir+json', connection: 'close' });
      res.end(
        JSON.stringify({
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: tooLarge ? 'too-long' : 'invalid', diagnostics: tooLarge ? `The request body exceeds ${maxBodyBytes} bytes.` : 'The request body could not be read.' }],
        }),
        () => req.destroy(),
      );
      return;
    }
    const response = await engine.handle({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      ...(body.length > 0 && { body }),
    });
    res.writeHead(response.status, response.headers);
    if (response.stream) {
      // A bulk export file: sent as it is read, never held whole.
      pipeline(Readable.from(response.stream), res).catch(() => res.destroy());
      return;
    }
    res.end(response.body);
  });
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 8080);
  const db = process.env.FHIR_DB ?? './data/fhir.sqlite';
  const maxBody = Number(process.env.MAX_BODY ?? 16 * 1024 * 1024);
  let storage: StorageAdapter;
  try {
    storage = await openStorage(db, process.env.FHIR_PG_SCHEMA);
  } catch (error) {
    console.error(`fhir-engine: cannot open FHIR_DB '${redactDb(db)}': ${(error as Error).message}`);
    process.exit(1);
  }
  const engine = new FhirEngine({
    storage,
    baseUrl: process.env.BASE_URL ?? `http://localhost:${port}`,
    limits: { maxBodyBytes: maxBody },
    exportSink: new DirectoryExportSink(process.env.FHIR_EXPORT_DIR ?? join('data', 'export')),
    onError: (error) => console.error(error),
  });
  const server = createFhirServer(engine, maxBody);
  // The bound port, not the asked one: PORT=0 picks a free port.
  server.listen(port, () => {
    const bound = (server.address() as { port: number }).port;
    console.log(`fhir-engine listening on http://localhost:${bound}/ (storage: ${storage.name}, FHIR_DB=${redactDb(db)})`);
  });
  const shutdown = (): void => {
    server.close(() => void engine.close().then(() => process.exit(0)));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
