/**
 * The `fhir-engine` command: `fhir-engine serve --db ./fhir.sqlite --port 8080`. It runs the
 * example server of `examples/node-http.ts`, the code `npm start` runs too.
 * @packageDocumentation
 */
import { parseArgs } from 'node:util';
import { serve } from '../examples/node-http.js';

const HELP = `Usage: fhir-engine serve [options]

Serves a FHIR R4 endpoint over HTTP.

Options:
  --db <db>           where resources live (default: $FHIR_DB or ./data/fhir.sqlite):
                        a SQLite file path, ':memory:' (nothing kept), or
                        postgres://user:password@host:port/database (needs the 'pg' package)
  --port <port>       port to listen on (default: $PORT or 8080; 0 picks a free one)
  --host <host>       interface to listen on (default: all)
  --base-url <url>    public base URL for Location and links (default: from each request's Host)
  --max-body <bytes>  largest request body (default 16777216)
  --pg-schema <name>  PostgreSQL schema for the engine's tables (default: fhir)
  --export-dir <dir>  directory of bulk $export files (default: $FHIR_EXPORT_DIR or ./data/export)
  --quiet             no line per request
  -h, --help          this help
  -v, --version       the version

Examples:
  npx fhir-engine serve --db ./fhir.sqlite --port 8080
  npx fhir-engine serve --db :memory:
  npx fhir-engine serve --db postgres://fhir:secret@localhost:5432/fhir
`;

/** Runs the command line; returns the exit code for a command that does not keep running. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number | undefined> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        db: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        'base-url': { type: 'string' },
        'max-body': { type: 'string' },
        'pg-schema': { type: 'string' },
        'export-dir': { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (error) {
    console.error(`fhir-engine: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (values.version) {
    console.log(VERSION);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'serve') {
    console.error(`fhir-engine: ${positionals.length === 0 ? 'no command given' : `unknown command '${positionals.join(' ')}'`}\n\n${HELP}`);
    return 2;
  }
  const port = Number(values.port ?? env.PORT ?? 8080);
  const maxBody = values['max-body'] === undefined ? undefined : Number(values['max-body']);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`fhir-engine: --port must be a port number, got '${values.port ?? env.PORT}'`);
    return 2;
  }
  if (maxBody !== undefined && !(Number.isInteger(maxBody) && maxBody > 0)) {
    console.error(`fhir-engine: --max-body must be a positive number of bytes, got '${values['max-body']}'`);
    return 2;
  }
  const pgSchema = values['pg-schema'] ?? env.FHIR_PG_SCHEMA;
  const exportDir = values['export-dir'] ?? env.FHIR_EXPORT_DIR;
  await serve({
    db: values.db ?? env.FHIR_DB ?? './data/fhir.sqlite',
    port,
    ...(values.host !== undefined && { host: values.host }),
    ...(values['base-url'] !== undefined && { baseUrl: values['base-url'] }),
    ...(maxBody !== undefined && { maxBodyBytes: maxBody }),
    ...(pgSchema !== undefined && { pgSchema }),
    ...(exportDir !== undefined && { exportDir }),
    log: !values.quiet,
  });
  return undefined;
}

declare const __VERSION__: string | undefined;
/** The package version: set by the build; `dev` when run from source. */
const VERSION = typeof __VERSION__ === 'string' ? __VERSION__ : 'dev';

