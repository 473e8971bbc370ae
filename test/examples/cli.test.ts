/** The `fhir-engine` command from source (`npm start` runs it the same way); the built bin is run by the package test. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const running: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const child of running.splice(0)) child.kill('SIGKILL');
});

interface Run {
  readonly code: number | null;
  readonly output: string;
  readonly port?: number;
  /** Resolves with everything printed so far once `pattern` matches it. */
  waitFor(pattern: RegExp): Promise<string>;
}

/** Runs the CLI; resolves when it exits, or once it listens (with its port). */
function cli(args: string[]): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/bin.ts', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let output = '';
  const waiters: (() => void)[] = [];
  const waitFor = (pattern: RegExp): Promise<string> =>
    new Promise((resolve) => {
      const check = (): boolean => pattern.test(output) && (resolve(output), true);
      if (!check()) waiters.push(() => void check());
    });
  return new Promise((resolve) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      for (const waiter of waiters) waiter();
      const listening = /listening on http:\/\/localhost:(\d+)\//.exec(output);
      if (listening) resolve({ code: null, output, port: Number(listening[1]), waitFor });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => resolve({ code, output, waitFor }));
  });
}

describe('fhir-engine (CLI)', () => {
  it('--help prints the usage and exits 0', async () => {
    const { code, output } = await cli(['--help']);
    expect(code).toBe(0);
    expect(output).toContain('Usage: fhir-engine serve [options]');
    expect(output).toContain('--db <db>');
  });

  it('refuses an unknown command, an unknown option and a bad port with exit code 2', async () => {
    for (const args of [['start'], [], ['serve', '--dbb', 'x'], ['serve', '--port', 'http']]) {
      const { code, output } = await cli(args);
      expect(code, args.join(' ')).toBe(2);
      expect(output).toMatch(/^fhir-engine: /);
    }
  });

  it('serve --db :memory: --port 0 serves FHIR and logs one JSON line per request', async () => {
    const child = await cli(['serve', '--db', ':memory:', '--port', '0']);
    expect(child.output).toContain('storage: memory');
    const base = `http://127.0.0.1:${child.port}`;
    const created = await fetch(`${base}/Patient`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Patient' }) });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toMatch(new RegExp(`^${base}/Patient/`));
    expect((await fetch(`${base}/metadata`)).status).toBe(200);
    const output = await child.waitFor(/request completed[^]*request completed/);
    const lines = output.split('\n');
    const logged = lines.filter((l) => l.includes('request completed')).map((l) => JSON.parse(l) as { method: string; url: string; status: number });
    expect(logged.map((l) => `${l.method} ${l.url} ${l.status}`)).toEqual(['POST /Patient 201', 'GET /metadata 200']);
  });

  it('refuses a database URL with a scheme it does not support', async () => {
    const { code, output } = await cli(['serve', '--db', 'mysql://u:pw@localhost/fhir', '--port', '0']);
    expect(code).toBe(1);
    expect(output).toContain("unsupported scheme 'mysql:'");
    expect(output).not.toContain(':pw@');
  });
});
