/**
 * `npm start` with `FHIR_DB` naming PostgreSQL serves from it; a URL with a scheme the example does
 * not support is refused at start, instead of becoming a SQLite file under a directory named after
 * the scheme.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';

import { redactDb } from '../../examples/node-http.js';
import { pgUrl, schemaNames } from './support.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const children: ChildProcess[] = [];
const nextSchema = schemaNames('http');

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** Runs the example server; resolves when it listens or exits, with everything it printed. */
function run(env: Record<string, string>): Promise<{ child: ChildProcess; port: number; output: string; code?: number | null }> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/bin.ts', 'serve'], {
    cwd: root,
    env: { ...process.env, PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('listening')) resolve({ child, port, output });
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => resolve({ child, port, output, code }));
  });
}

describe('example server: FHIR_DB', () => {
  for (const scheme of ['postgres', 'postgresql']) {
    it(`${scheme}:// serves from PostgreSQL`, async () => {
      const url = pgUrl().replace(/^postgres(ql)?:/, `${scheme}:`);
      const schema = nextSchema();
      const server = await run({ FHIR_DB: url, FHIR_PG_SCHEMA: schema });
      expect(server.code).toBeUndefined();
      expect(server.output).toContain('storage: postgres');
      const { password } = new URL(url);
      if (password) expect(server.output).not.toContain(`:${password}@`); // masked in the log line
      const base = `http://127.0.0.1:${server.port}`;
      const created = await fetch(`${base}/Patient`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Served' }] }),
      });
      expect(created.status).toBe(201);
      const id = ((await created.json()) as { id: string }).id;
      expect((await fetch(`${base}/Patient?family=served`).then((r) => r.json()) as { total?: number; entry?: unknown[] }).entry).toHaveLength(1);
      // It is in PostgreSQL, in the schema asked for.
      const client = new pg.Client({ connectionString: pgUrl() });
      await client.connect();
      try {
        const { rows } = await client.query(`SELECT res_id FROM "${schema}".resource WHERE res_type = 'Patient'`);
        expect(rows).toEqual([{ res_id: id }]);
      } finally {
        await client.end();
      }
      expect(existsSync(join(root, `${scheme}:`))).toBe(false);
    });
  }

  it('refuses a URL with a scheme it does not support, naming the supported ones, without printing the password', async () => {
    const server = await run({ FHIR_DB: 'mysql://user:s3cr3t@localhost:3306/fhir' });
    expect(server.code).toBe(1);
    expect(server.output).toContain("unsupported scheme 'mysql:'");
    expect(server.output).toContain('postgres://');
    expect(server.output).not.toContain('s3cr3t');
    expect(existsSync(join(root, 'mysql:'))).toBe(false);
  });

  it('masks the password of a URL', () => {
    expect(redactDb('postgres://u:secret@h:5432/db')).toBe('postgres://u:***@h:5432/db');
    expect(redactDb('postgres://h/db')).toBe('postgres://h/db');
    expect(redactDb('./data/fhir.sqlite')).toBe('./data/fhir.sqlite');
  });
});
