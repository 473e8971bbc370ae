import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { createFhirServer } from '../../examples/node-http.js';
import { FhirEngine } from '../../src/engine.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** Starts `npm start`'s script on a free port (PORT=0); resolves with the port it prints once it listens. */
function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/bin.ts', 'serve'], {
    cwd: root,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const listening = /listening on http:\/\/localhost:(\d+)\//.exec(output);
      if (listening) resolve({ child, port: Number(listening[1]) });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${output}`)));
  });
}

const exited = (child: ChildProcess): Promise<number | null> =>
  new Promise((resolve) => child.on('exit', (code) => resolve(code)));

describe('example HTTP server', () => {
  it('serves the engine over node:http with FHIR content types and a body size limit', async () => {
    const engine = new FhirEngine({ storage: new MemoryAdapter() });
    const server = createFhirServer(engine, { maxBodyBytes: 1000 });
    await new Promise<void>((resolve) => server.listen(0, resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const created = await fetch(`${base}/Patient`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Doe' }] }),
      });
      expect(created.status).toBe(201);
      expect(created.headers.get('etag')).toBe('W/"1"');
      const id = ((await created.json()) as { id: string }).id;
      const read = await fetch(`${base}/Patient/${id}`);
      expect(read.status).toBe(200);
      expect(read.headers.get('content-type')).toMatch(/application\/fhir\+json/);
      const xml = await fetch(`${base}/Patient`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: '<Patient/>' });
      expect(xml.status).toBe(415);
      const big = await fetch(`${base}/Patient`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify({ resourceType: 'Patient', text: 'x'.repeat(5000) }),
      });
      expect(big.status).toBe(413);
    } finally {
      server.close();
    }
  });

  it('streams bulk export files as application/fhir+ndjson', async () => {
    const engine = new FhirEngine({ storage: new MemoryAdapter(), limits: { exportChunkSize: 50 } });
    for (let i = 0; i < 120; i++) await engine.create({ resourceType: 'Patient', name: [{ family: `Doe${i}` }] });
    const server = createFhirServer(engine);
    await new Promise<void>((resolve) => server.listen(0, resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const kickOff = await fetch(`${base}/Patient/$export`, { headers: { prefer: 'respond-async' } });
      expect(kickOff.status).toBe(202);
      const status = kickOff.headers.get('content-location')!;
      await engine.jobs.settled(status.split('/').pop()!);
      // Content-Location and the manifest's URLs are absolute, on the request's host.
      expect(status.startsWith(`${base}/`)).toBe(true);
      const manifest = (await (await fetch(status)).json()) as { output: { url: string; count: number }[] };
      expect(manifest.output).toHaveLength(1);
      expect(manifest.output[0]!.url.startsWith(`${base}/`)).toBe(true);
      const file = await fetch(manifest.output[0]!.url);
      expect(file.status).toBe(200);
      expect(file.headers.get('content-type')).toBe('application/fhir+ndjson');
      const lines = (await file.text()).trim().split('\n');
      expect(lines).toHaveLength(120);
      expect(JSON.parse(lines[0]!)).toMatchObject({ resourceType: 'Patient' });
    } finally {
      server.close();
    }
  });

  it('keeps data in the SQLite file across a restart (FHIR_DB)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fhir-engine-'));
    const env = { FHIR_DB: join(dir, 'nested', 'fhir.sqlite') };
    const first = await startServer(env);
    const created = await fetch(`http://127.0.0.1:${first.port}/Patient`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Persistent' }] }),
    });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    const gone = exited(first.child);
    first.child.kill('SIGTERM');
    await gone;
    const second = await startServer(env);
    const read = await fetch(`http://127.0.0.1:${second.port}/Patient/${id}`);
    expect(read.status).toBe(200);
    expect(((await read.json()) as { name: { family: string }[] }).name[0]!.family).toBe('Persistent');
    const search = await fetch(`http://127.0.0.1:${second.port}/Patient?family=persist`);
    expect(((await search.json()) as { entry?: unknown[] }).entry).toHaveLength(1);
  });

  it('refuses to start on a file that is not a SQLite database, with a clear message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fhir-engine-'));
    const file = join(dir, 'not-a-db.sqlite');
    writeFileSync(file, 'this is not a database, but it is precious data '.repeat(100));
    chmodSync(file, 0o644);
    await expect(startServer({ FHIR_DB: file })).rejects.toThrow(/cannot open FHIR_DB/);
  });
});
