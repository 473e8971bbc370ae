/**
 * Graceful shutdown of the example server (`serve()`, as `npm start` runs it), in a child process on a
 * SQLite file: on SIGTERM it stops accepting connections, finishes the request in flight, lets the
 * running bulk-delete chunk commit, closes the database and exits 0; started again, it resumes the
 * job by itself (no request needed) and finishes it with exact counts.
 *
 * The request in flight is made deterministic with `Expect: 100-continue`: once the server answers
 * 100 the request is in its handler, waiting for the body; the body is sent only after the server
 * has been seen refusing new connections, i.e. after the shutdown began.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { FhirEngine } from '../../src/engine.js';
import type { JobRecord } from '../../src/storage/job-record.js';
import { TAG } from '../../src/testing/job-helpers.js';
import { bundleForNode } from '../support/bundle.js';
import { startServer } from '../support/server-child.js';

const N = 6000;
const CHUNK = 500; // the engine's default bulkDeleteChunkSize, which serve() keeps

/** The job as stored, read with a connection of our own (the server holds the file open). */
function storedJob(filename: string, id: string): JobRecord {
  const db = new Database(filename, { readonly: true });
  try {
    const row = db.prepare('SELECT json FROM job WHERE id = ?').get(id) as { json: string };
    return JSON.parse(row.json) as JobRecord;
  } finally {
    db.close();
  }
}

/** Resolves once a new TCP connection to `port` is refused. */
async function refusesConnections(port: number): Promise<void> {
  for (;;) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
    });
    if (refused) return;
  }
}

/** Versions of Patients in the file: how many, and how many are deletes. */
async function patientHistory(filename: string): Promise<{ total: number; deletes: number }> {
  const engine = new FhirEngine({ storage: new SqliteAdapter({ filename }) });
  try {
    const { items } = await engine.storage.readHistory({ level: 'type', type: 'Patient' }, { count: 1_000_000 });
    return { total: items.length, deletes: items.filter((v) => v.method === 'DELETE').length };
  } finally {
    await engine.close();
  }
}

describe('graceful shutdown of the example server (SIGTERM, child process)', () => {
  let script: string;
  let dir: string;
  beforeAll(async () => {
    script = await bundleForNode('test/reliability/serve-child.ts');
    dir = mkdtempSync(join(tmpdir(), 'fhir-shutdown-'));
  });
  afterAll(() => {
    rmSync(dirname(script), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it('finishes the request in flight, commits the running chunk, exits 0; a restart resumes the job', async () => {
    const filename = join(dir, 'fhir.db');
    {
      const engine = new FhirEngine({ storage: new SqliteAdapter({ filename }) });
      for (let from = 0; from < N; from += 1000) {
        const entry = Array.from({ length: 1000 }, () => ({ resource: { resourceType: 'Patient', meta: { tag: [TAG] } }, request: { method: 'POST', url: 'Patient' } }));
        const res = await engine.handle({ method: 'POST', url: '/', body: { resourceType: 'Bundle', type: 'transaction', entry } });
        expect(res.status).toBe(200);
      }
      await engine.close();
    }
    const args = [filename, join(dir, 'export')];
    const server = await startServer(script, args);
    const { port } = new URL(server.base);

    const kickOff = await fetch(`${server.base}/Patient/$bulk-delete?_tag=${TAG.code}`, { method: 'DELETE', headers: { prefer: 'respond-async' } });
    expect(kickOff.status).toBe(202);
    const jobId = kickOff.headers.get('content-location')!.split('/').pop()!;
    // A chunk committed: the job is running, with more to do.
    while (storedJob(filename, jobId).progress.chunks < 1) await new Promise((resolve) => setImmediate(resolve));

    // A create in flight: headers in, body held back.
    const body = JSON.stringify({ resourceType: 'Patient', id: 'ignored', name: [{ family: 'InFlight' }] });
    let continued!: () => void;
    const inHandler = new Promise<void>((resolve) => (continued = resolve));
    const req = httpRequest(`${server.base}/Patient`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(body), expect: '100-continue' },
    });
    req.on('continue', continued);
    const response = new Promise<{ status: number; connection: string | undefined; text: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, text }));
      });
      req.on('error', reject);
    });
    req.flushHeaders();
    await inHandler;

    server.process.kill('SIGTERM');
    await refusesConnections(Number(port));
    req.end(body);
    const answer = await response;
    expect(answer.status).toBe(201);
    expect(answer.connection).toBe('close');
    const createdId = (JSON.parse(answer.text) as { id: string }).id;
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.output()).toContain('shutting down');

    // The database closed cleanly with the job cut between two chunks: its progress is exactly what
    // is stored, and there is more to do.
    const stopped = storedJob(filename, jobId);
    expect(stopped.status).toBe('running');
    expect(stopped.progress.processed % CHUNK).toBe(0);
    expect(stopped.progress.processed).toBeLessThan(N);
    const before = await patientHistory(filename);
    expect(before.deletes).toBe(stopped.progress.processed);
    expect(before.total).toBe(N + 1 + before.deletes);

    // Started again, the server resumes the job on its own: nobody asks for it until it is done.
    const again = await startServer(script, args);
    try {
      while (storedJob(filename, jobId).status === 'running') await new Promise((resolve) => setImmediate(resolve));
      const done = storedJob(filename, jobId);
      expect(done.status).toBe('completed');
      expect(done.progress.processed).toBe(N);
      expect(done.progress.byType).toEqual({ Patient: N });
      const status = await fetch(`${again.base}/_operations/bulk-delete/${jobId}`);
      expect(status.status).toBe(200);
      const read = await fetch(`${again.base}/Patient/${createdId}`);
      expect(read.status).toBe(200);
      expect(((await read.json()) as { name: { family: string }[] }).name[0]!.family).toBe('InFlight');
    } finally {
      again.process.kill('SIGTERM');
      expect(await again.exited).toEqual({ code: 0, signal: null });
    }
    const after = await patientHistory(filename);
    expect(after).toEqual({ total: 2 * N + 1, deletes: N });
  }, 120_000);
});
