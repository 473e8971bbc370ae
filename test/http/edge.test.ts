/** `handle()` at the edge: absolute URLs on the base, HEAD, OPTIONS, 405 with Allow, hooks and the logger. */
import { describe, expect, it } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { FhirEngine, FhirError, sequentialIds, type FhirEngineOptions, type Logger } from '../../src/index.js';

const engineOf = (options: Partial<FhirEngineOptions> = {}) => new FhirEngine({ storage: new MemoryAdapter(), ids: sequentialIds(), ...options });
const patient = { resourceType: 'Patient', name: [{ family: 'Doe' }] };

describe('handle(): URLs', () => {
  it('strips the configured base from an absolute URL, on the base host or another one', async () => {
    const engine = engineOf({ baseUrl: 'http://x/fhir' });
    await engine.handle({ method: 'POST', url: '/Patient', body: patient });
    for (const url of ['http://x/fhir/Patient/1', 'https://proxy.example/fhir/Patient/1']) {
      const res = await engine.handle({ method: 'GET', url });
      expect(res.status).toBe(200);
    }
    const search = await engine.handle({ method: 'GET', url: 'http://x/fhir/Patient?family=doe' });
    expect(JSON.parse(search.body!).entry).toHaveLength(1);
    const base = await engine.handle({ method: 'GET', url: 'http://x/fhir' });
    expect(JSON.parse(base.body!).type).toBe('searchset');
    // A path merely starting with the base's characters is not below it.
    expect((await engine.handle({ method: 'GET', url: 'http://x/fhirish/Patient/1' })).status).toBe(404);
  });

  it('builds Location, fullUrl and links on a per-request baseUrl', async () => {
    const engine = engineOf({ baseUrl: 'http://internal' });
    const created = await engine.handle({ method: 'POST', url: '/Patient', body: patient, baseUrl: 'https://public.example/r4/' });
    expect(created.headers.location).toBe('https://public.example/r4/Patient/1/_history/1');
    const plain = await engine.handle({ method: 'POST', url: '/Patient', body: patient });
    expect(plain.headers.location).toBe('http://internal/Patient/2/_history/1');
    const search = JSON.parse((await engine.handle({ method: 'GET', url: '/Patient?_count=1', baseUrl: 'https://public.example/r4' })).body!);
    expect(search.entry[0].fullUrl).toBe('https://public.example/r4/Patient/1');
    expect(search.link.find((l: { relation: string }) => l.relation === 'next').url).toMatch(/^https:\/\/public\.example\/r4\/Patient\?/);
  });

  it('HEAD is GET without a body, errors included', async () => {
    const engine = engineOf();
    await engine.handle({ method: 'POST', url: '/Patient', body: patient });
    const head = await engine.handle({ method: 'HEAD', url: '/Patient/1' });
    expect(head).toMatchObject({ status: 200, body: undefined });
    expect(head.headers.etag).toBe('W/"1"');
    const missing = await engine.handle({ method: 'head', url: '/Patient/2' });
    expect(missing).toMatchObject({ status: 404, body: undefined });
  });

  it('OPTIONS answers 204 with the methods of the route; 405 names them in Allow', async () => {
    const engine = engineOf();
    expect(await engine.handle({ method: 'OPTIONS', url: '/' })).toEqual({ status: 204, headers: { allow: 'GET, HEAD, POST, OPTIONS' }, body: undefined });
    expect((await engine.handle({ method: 'OPTIONS', url: '/Patient/1' })).headers.allow).toBe('GET, HEAD, PUT, DELETE, PATCH, OPTIONS');
    expect((await engine.handle({ method: 'OPTIONS', url: '/Nope' })).status).toBe(404);
    const notAllowed = await engine.handle({ method: 'POST', url: '/metadata' });
    expect(notAllowed.status).toBe(405);
    expect(notAllowed.headers.allow).toBe('GET, HEAD, OPTIONS');
  });
});

describe('hooks and logger', () => {
  it('onRequest refuses with a FhirError; nothing runs, onResponse still sees the refusal', async () => {
    const seen: string[] = [];
    const engine = engineOf({
      onRequest: (request) => {
        if (request.method !== 'GET' && !request.headers?.authorization) throw new FhirError(401, 'security', 'Sign in first.');
      },
      onResponse: (request, response, info) => {
        expect(info.durationMs).toBeGreaterThanOrEqual(0);
        seen.push(`${request.method} ${request.url} ${response.status}`);
      },
    });
    const refused = await engine.handle({ method: 'POST', url: '/Patient', body: patient });
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body!).issue[0].diagnostics).toBe('Sign in first.');
    expect((await engine.search('Patient')).entry ?? []).toHaveLength(0);
    const allowed = await engine.handle({ method: 'POST', url: '/Patient', headers: { authorization: 'Bearer x' }, body: patient });
    expect(allowed.status).toBe(201);
    expect(seen).toEqual(['POST /Patient 401', 'POST /Patient 201']);
  });

  it('a FhirError from another copy of the package (the other build) is honoured by its code', async () => {
    const foreign = Object.assign(new Error('Forbidden here.'), {
      code: 'FHIR_ERROR',
      status: 403,
      headers: {},
      issues: [{ severity: 'error', code: 'forbidden', diagnostics: 'Forbidden here.' }],
      toOperationOutcome: () => ({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'forbidden', diagnostics: 'Forbidden here.' }] }),
    });
    const engine = engineOf({ onRequest: () => Promise.reject(foreign) });
    const res = await engine.handle({ method: 'GET', url: '/metadata' });
    expect(res.status).toBe(403);
  });

  it('any other hook failure is a 500 for onRequest, and reported but harmless for onResponse', async () => {
    const errors: unknown[] = [];
    const broken = engineOf({ onRequest: () => { throw new Error('hook bug'); }, onError: (e) => errors.push(e) });
    expect((await broken.handle({ method: 'GET', url: '/metadata' })).status).toBe(500);
    const late = engineOf({ onResponse: () => { throw new Error('metrics down'); }, onError: (e) => errors.push(e) });
    expect((await late.handle({ method: 'GET', url: '/metadata' })).status).toBe(200);
    expect(errors.map((e) => (e as Error).message)).toEqual(['hook bug', 'metrics down']);
  });

  it('logs one info line per request and unexpected errors at error, in pino’s call shape', async () => {
    const lines: [string, object, string | undefined][] = [];
    const logger: Logger = {
      debug: (fields, message) => lines.push(['debug', fields, message]),
      info: (fields, message) => lines.push(['info', fields, message]),
      warn: (fields, message) => lines.push(['warn', fields, message]),
      error: (fields, message) => lines.push(['error', fields, message]),
    };
    const storage = new MemoryAdapter();
    const engine = engineOf({ storage, logger });
    await engine.handle({ method: 'POST', url: '/Patient', body: patient });
    await engine.handle({ method: 'GET', url: '/Patient/404' });
    expect(lines.map(([level, fields, message]) => [level, { ...fields, durationMs: 0 }, message])).toEqual([
      ['info', { method: 'POST', url: '/Patient', status: 201, durationMs: 0 }, 'request completed'],
      ['info', { method: 'GET', url: '/Patient/404', status: 404, durationMs: 0 }, 'request completed'],
    ]);
    storage.readCurrent = async () => {
      throw new Error('disk gone');
    };
    lines.length = 0;
    expect((await engine.handle({ method: 'GET', url: '/Patient/1' })).status).toBe(500);
    expect(lines.map(([level, , message]) => `${level} ${message}`)).toEqual(['error unexpected error', 'info request completed']);
    expect((lines[0]![1] as { err: Error }).err.message).toBe('disk gone');
  });
});
