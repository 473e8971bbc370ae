/**
 * The mount helpers of `fhir-engine/node` on each server kind: plain node:http, Express (with and
 * without a body parser before it), Connect-style mounting and Fastify. Every kind runs the same cases.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { FhirEngine } from '../../src/index.js';
import { fhirFastify, fhirListener, type MountOptions } from '../../src/node/index.js';

const MAX_BODY = 2000;
const fhirJson = { 'content-type': 'application/fhir+json' };

interface Mounted {
  /** The URL of the FHIR base. */
  readonly base: string;
  close(): Promise<void>;
}

const listen = async (server: Server): Promise<string> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};
const closing = (server: Server) => () => new Promise<void>((resolve) => server.close(() => resolve()));

/** Each way to mount an engine at `/fhir`. */
const KINDS: Record<string, (engine: FhirEngine, options?: MountOptions) => Promise<Mounted>> = {
  'node:http': async (engine, options = {}) => {
    const server = createServer(fhirListener(engine, { basePath: '/fhir', ...options }));
    return { base: `${await listen(server)}/fhir`, close: closing(server) };
  },
  'express app.use': async (engine, options) => {
    const app = express();
    app.use('/fhir', fhirListener(engine, options));
    app.use((_req, res) => void res.status(418).send('not FHIR'));
    const server = createServer(app);
    return { base: `${await listen(server)}/fhir`, close: closing(server) };
  },
  fastify: async (engine, options) => {
    const app = Fastify();
    await app.register(fhirFastify, { engine, prefix: '/fhir', ...options });
    app.get('/other', async () => 'not FHIR');
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/fhir`, close: () => app.close() };
  },
};

const engineOf = () => new FhirEngine({ storage: new MemoryAdapter(), limits: { maxBodyBytes: MAX_BODY } });

/** A raw request, for what fetch cannot send (a declared length with no body, huge headers). */
function raw(url: string, options: { method: string; headers: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method, headers: options.headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    // Never end a request that declared more than it sent: the server must answer without it.
    if (options.body !== undefined || !options.headers['content-length']) req.end();
    else req.flushHeaders();
  });
}

for (const [kind, mount] of Object.entries(KINDS)) {
  describe(`mounted with ${kind}`, () => {
    let engine: FhirEngine;
    let server: Mounted;
    beforeAll(async () => {
      engine = engineOf();
      server = await mount(engine);
    });
    afterAll(async () => {
      await server.close();
      await engine.close();
    });

    it('creates under the mount path, with Location and fullUrl on the public base', async () => {
      const created = await fetch(`${server.base}/Patient`, { method: 'POST', headers: fhirJson, body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Mount' }] }) });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      expect(created.headers.get('location')).toBe(`${server.base}/Patient/${id}/_history/1`);
      expect(created.headers.get('etag')).toBe('W/"1"');
      const search = await fetch(`${server.base}/Patient?family=mount`);
      expect(search.status).toBe(200);
      const bundle = (await search.json()) as { entry: { fullUrl: string }[]; link: { url: string }[] };
      expect(bundle.entry.map((e) => e.fullUrl)).toEqual([`${server.base}/Patient/${id}`]);
      expect(bundle.link[0]!.url.startsWith(`${server.base}/Patient?`)).toBe(true);
    });

    it('adds no ETag of its own to searches and errors', async () => {
      expect((await fetch(`${server.base}/Patient`)).headers.get('etag')).toBeNull();
      const missing = await fetch(`${server.base}/Patient/nope`);
      expect(missing.status).toBe(404);
      expect(missing.headers.get('etag')).toBeNull();
      expect(missing.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
    });

    it('routes the bare base: a batch posted to /fhir, a system search at /fhir and /fhir/', async () => {
      const batch = { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Patient?_count=1' } }] };
      const posted = await fetch(server.base, { method: 'POST', headers: fhirJson, body: JSON.stringify(batch) });
      expect(posted.status).toBe(200);
      expect(((await posted.json()) as { type: string }).type).toBe('batch-response');
      expect((await fetch(server.base)).status).toBe(200);
      expect((await fetch(`${server.base}/`)).status).toBe(200);
    });

    it('answers HEAD as GET without a body, and OPTIONS with Allow', async () => {
      const head = await fetch(`${server.base}/metadata`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
      expect(await head.text()).toBe('');
      const options = await fetch(`${server.base}/Patient`, { method: 'OPTIONS' });
      expect(options.status).toBe(204);
      expect(options.headers.get('allow')).toBe('GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS');
      const instance = await fetch(`${server.base}/Patient/1/_history/1`, { method: 'OPTIONS' });
      expect(instance.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    });

    it('takes JSON in FHIR and plain JSON media types, and refuses malformed JSON with an OperationOutcome', async () => {
      for (const type of ['application/fhir+json', 'application/json', 'application/fhir+json; fhirVersion=4.0']) {
        const res = await fetch(`${server.base}/Patient`, { method: 'POST', headers: { 'content-type': type }, body: JSON.stringify({ resourceType: 'Patient' }) });
        expect(res.status).toBe(201);
      }
      const bad = await fetch(`${server.base}/Patient`, { method: 'POST', headers: fhirJson, body: '{"resourceType":' });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    });

    it('a body over the limit → 413 OperationOutcome; a declared length over it is refused before the body is sent', async () => {
      const big = await fetch(`${server.base}/Patient`, { method: 'POST', headers: fhirJson, body: JSON.stringify({ resourceType: 'Patient', text: 'x'.repeat(MAX_BODY) }) });
      expect(big.status).toBe(413);
      expect(((await big.json()) as { issue: { code: string }[] }).issue[0]!.code).toBe('too-long');
      const declared = await raw(`${server.base}/Patient`, { method: 'POST', headers: { ...fhirJson, 'content-length': String(10 * MAX_BODY) } });
      expect(declared.status).toBe(413);
      // The server is still serving.
      expect((await fetch(`${server.base}/metadata`)).status).toBe(200);
    });
  });
}

describe('mount options', () => {
  let engine: FhirEngine;
  beforeAll(() => {
    engine = engineOf();
  });
  afterAll(() => engine.close());

  it('builds links on X-Forwarded-Proto/-Host only with trustProxy', async () => {
    for (const [trustProxy, expected] of [
      [true, 'https://public.example/fhir/Patient/'],
      [false, '/fhir/Patient/'],
    ] as const) {
      const server = await KINDS['node:http']!(engine, { trustProxy });
      try {
        const res = await fetch(`${server.base}/Patient`, {
          method: 'POST',
          headers: { ...fhirJson, 'x-forwarded-proto': 'https', 'x-forwarded-host': 'public.example, inner.example' },
          body: JSON.stringify({ resourceType: 'Patient' }),
        });
        const location = res.headers.get('location')!;
        if (trustProxy) expect(location.startsWith(expected)).toBe(true);
        else expect(location.startsWith(`${server.base}/Patient/`)).toBe(true);
      } finally {
        await server.close();
      }
    }
  });

  it('uses publicBaseUrl as it is, for Location and for the bulk-delete status URL', async () => {
    const server = await KINDS['express app.use']!(engine, { publicBaseUrl: 'https://api.example.org/r4/' });
    try {
      const created = await fetch(`${server.base}/Patient`, { method: 'POST', headers: fhirJson, body: JSON.stringify({ resourceType: 'Patient' }) });
      expect(created.headers.get('location')).toMatch(/^https:\/\/api\.example\.org\/r4\/Patient\/[^/]+\/_history\/1$/);
      const job = await fetch(`${server.base}/Patient/$bulk-delete`, { method: 'DELETE', headers: { prefer: 'respond-async' } });
      expect(job.status).toBe(202);
      expect(job.headers.get('content-location')).toMatch(/^https:\/\/api\.example\.org\/r4\/_operations\/bulk-delete\/.+/);
    } finally {
      await server.close();
    }
  });

  it('refuses headers over maxHeaderBytes with 431', async () => {
    const server = await KINDS['node:http']!(engine, { maxHeaderBytes: 1024 });
    try {
      const res = await raw(`${server.base}/metadata`, { method: 'GET', headers: { 'x-big': 'y'.repeat(2000) } });
      expect(res.status).toBe(431);
      expect(JSON.parse(res.body).resourceType).toBe('OperationOutcome');
    } finally {
      await server.close();
    }
  });

  it('a listener answers 404 outside its basePath; as middleware it passes the request on', async () => {
    const server = await KINDS['node:http']!(engine);
    try {
      const res = await fetch(server.base.replace(/\/fhir$/, '/elsewhere'));
      expect(res.status).toBe(404);
      expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    } finally {
      await server.close();
    }
    const app = express();
    app.use(fhirListener(engine, { basePath: '/fhir' }));
    app.get('/health', (_req, res) => void res.send('ok'));
    const plain = createServer(app);
    const origin = await listen(plain);
    try {
      expect(await (await fetch(`${origin}/health`)).text()).toBe('ok');
      expect((await fetch(`${origin}/fhir/metadata`)).status).toBe(200);
    } finally {
      await closing(plain)();
    }
  });

  it("takes the body a parser before it already read (express.json() for FHIR JSON)", async () => {
    const app = express();
    app.use(express.json({ type: ['application/json', 'application/fhir+json'] }));
    app.use('/fhir', fhirListener(engine));
    const server = createServer(app);
    const origin = await listen(server);
    try {
      const res = await fetch(`${origin}/fhir/Patient`, { method: 'POST', headers: fhirJson, body: JSON.stringify({ resourceType: 'Patient', gender: 'other' }) });
      expect(res.status).toBe(201);
      expect(((await res.json()) as { gender: string }).gender).toBe('other');
      expect((await fetch(`${origin}/fhir/Patient?gender=other`).then((r) => r.json()) as { entry: unknown[] }).entry).toHaveLength(1);
    } finally {
      await closing(server)();
    }
  });

  it('Connect-style mounting (originalUrl without baseUrl) finds the mount path', async () => {
    const listener = fhirListener(engine);
    const server = createServer((req, res) => {
      const original = req.url!;
      if (!original.startsWith('/api/fhir')) return void res.writeHead(418).end();
      Object.assign(req, { originalUrl: original, url: original.slice('/api/fhir'.length) || '/' });
      listener(req, res);
    });
    const origin = await listen(server);
    try {
      const res = await fetch(`${origin}/api/fhir/Patient`, { method: 'POST', headers: fhirJson, body: JSON.stringify({ resourceType: 'Patient' }) });
      expect(res.headers.get('location')).toMatch(new RegExp(`^${origin}/api/fhir/Patient/`));
    } finally {
      await closing(server)();
    }
  });
});
