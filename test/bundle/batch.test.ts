import { describe, expect, it, vi } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { FhirEngine } from '../../src/engine.js';
import { FhirError } from '../../src/errors.js';
import { msTestdata, newEngine, post, readJson, statuses } from './helpers.js';

const patient = (family: string, extra: object = {}) => ({ resourceType: 'Patient', name: [{ family }], ...extra });
const batch = (entry: object[]) => ({ resourceType: 'Bundle', type: 'batch', entry });

describe('bundle envelope', () => {
  it('refuses a body that is not a Bundle', async () => {
    const res = await post(newEngine(), patient('x'));
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toBe('Only a bundle can be submitted for batch or transaction processing.');
  });

  it('refuses a Bundle without a type, or of another type', async () => {
    const engine = newEngine();
    const missing = await post(engine, readJson(msTestdata('Bundle-TypeMissing.json')));
    expect(missing.status).toBe(400);
    expect(missing.body.issue[0].diagnostics).toMatch(/Bundle type is not present/);
    const invalid = await post(engine, readJson(msTestdata('Bundle-InvalidBundleType.json')));
    expect(invalid.status).toBe(400);
    expect(invalid.body.issue[0].diagnostics).toMatch(/not supported/);
    const collection = await post(engine, { resourceType: 'Bundle', type: 'collection', entry: [] });
    expect(collection.status).toBe(400);
  });

  it('refuses more entries than limits.maxBundleEntries with 413', async () => {
    const engine = new FhirEngine({ storage: new MemoryAdapter(), limits: { maxBundleEntries: 2 } });
    const entry = { request: { method: 'GET', url: 'Patient' } };
    const res = await post(engine, batch([entry, entry, entry]));
    expect(res.status).toBe(413);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect((await post(engine, batch([entry, entry]))).status).toBe(200);
  });

  it('accepts an empty batch', async () => {
    const res = await post(newEngine(), batch([]));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ resourceType: 'Bundle', type: 'batch-response', entry: [] });
  });
});

describe('batch', () => {
  it('runs every interaction through the route table, each on its own', async () => {
    const engine = newEngine(undefined, true);
    await engine.update({ resourceType: 'Patient', id: 'p1', name: [{ family: 'One' }], identifier: [{ system: 's', value: '1' }] });
    await engine.update({ resourceType: 'Patient', id: 'gone' });
    const res = await post(
      engine,
      batch([
        { fullUrl: 'urn:uuid:a', resource: patient('Created'), request: { method: 'POST', url: 'Patient' } },
        { resource: patient('Ignored'), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=s|1' } },
        { resource: { resourceType: 'Patient', id: 'p2', name: [{ family: 'Two' }] }, request: { method: 'PUT', url: 'Patient/p2' } },
        { resource: { resourceType: 'Patient', id: 'p1' }, request: { method: 'PUT', url: 'Patient/p1', ifMatch: 'W/"9"' } },
        { resource: patient('Cond'), request: { method: 'PUT', url: 'Patient?identifier=s|2' } },
        { request: { method: 'DELETE', url: 'Patient/gone' } },
        { request: { method: 'GET', url: 'Patient/nope' } },
        { request: { method: 'GET', url: 'Patient?family=One' } },
        { request: { method: 'GET', url: 'Patient/p1' } },
        { resource: { resourceType: 'Observation' }, request: { method: 'POST', url: 'Patient' } },
      ]),
    );
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('batch-response');
    expect(statuses(res.body)).toEqual([
      '201 Created',
      '200 OK',
      '201 Created',
      '412 Precondition Failed',
      '201 Created',
      '204 No Content',
      '404 Not Found',
      '200 OK',
      '200 OK',
      '400 Bad Request',
    ]);
    const [created, matched, put, failed, , , missing, search, read] = res.body.entry;
    expect(created.response.location).toMatch(/^\/Patient\/\d+\/_history\/1$/);
    expect(created.response.etag).toBe('W/"1"');
    expect(created.response.lastModified).toBe(created.resource.meta.lastUpdated);
    expect(created.resource.name[0].family).toBe('Created');
    expect(matched.resource.id).toBe('p1');
    expect(put.resource.id).toBe('p2');
    expect(failed.response.outcome.resourceType).toBe('OperationOutcome');
    expect(failed.resource).toBeUndefined();
    expect(missing.response.outcome.issue[0].code).toBe('not-found');
    expect(search.resource.type).toBe('searchset');
    expect(search.resource.entry).toHaveLength(1);
    expect(read.resource.id).toBe('p1');
    await expect(engine.read('Patient', 'gone')).rejects.toMatchObject({ status: 410 });
  });

  it('reports a malformed entry as that entry only', async () => {
    const res = await post(
      newEngine(),
      batch([{}, { request: { url: 'Patient' } }, { request: { method: 'GET' } }, { request: { method: 'GET', url: 'Patient' } }]),
    );
    expect(statuses(res.body)).toEqual(['400 Bad Request', '400 Bad Request', '400 Bad Request', '200 OK']);
  });

  it('applies JSON Patch in a Binary and FHIRPath Patch in Parameters (Microsoft fixtures)', async () => {
    const engine = newEngine();
    const binary = await post(engine, readJson(msTestdata('Bundle-BinaryPatch.json')));
    expect(statuses(binary.body)).toEqual(['201 Created', '200 OK']);
    expect(binary.body.entry[1].resource.gender).toBe('female');
    const fhirPatch = await post(engine, readJson(msTestdata('Bundle-FhirPatch.json')));
    expect(statuses(fhirPatch.body).every((s: string) => s === '200 OK')).toBe(true);
  });

  it('gives the spec status text, location, etag and outcome for Microsoft Bundle-Batch.json', async () => {
    const engine = newEngine();
    const bundle = readJson(msTestdata('Bundle-Batch.json'));
    const first = await post(engine, bundle);
    const codes = statuses(first.body).map((s) => s.split(' ')[0]);
    // Entry 7 (`POST ValueSet/$lookup`) is an operation the engine does not have: no route, 404 (Microsoft: 404).
    expect(codes).toEqual(['201', '201', '201', '201', '412', '204', '204', '404', '200', '404']);
    const second = await post(engine, bundle);
    expect(statuses(second.body).map((s) => s.split(' ')[0])).toEqual(['201', '200', '200', '200', '412', '204', '204', '404', '200', '404']);
  });

  it('through handle(), serialises the response once with the stored JSON spliced in: no JSON.parse', async () => {
    const engine = newEngine();
    await engine.update({ resourceType: 'Patient', id: 'p1', name: [{ family: 'One' }] });
    // The memory adapter indexes a type from its stored JSON on its first search, and from then on
    // every write of it: search first, and create another type.
    await engine.search('Patient', 'family=One');
    const body = batch([
      { resource: { resourceType: 'Observation', status: 'final', code: { text: 'c' } }, request: { method: 'POST', url: 'Observation' } },
      { request: { method: 'GET', url: 'Patient/p1' } },
      { request: { method: 'GET', url: 'Patient?family=One' } },
      { request: { method: 'GET', url: 'Patient/none' } },
    ]);
    const parse = vi.spyOn(JSON, 'parse');
    let res;
    try {
      // The body handed over as an object: the request needs no parse either.
      res = await engine.handle({ method: 'POST', url: '/', body });
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
    const response = JSON.parse(res.body!);
    expect(statuses(response)).toEqual(['201 Created', '200 OK', '200 OK', '404 Not Found']);
    expect(response.entry[1].resource).toEqual(await engine.read('Patient', 'p1'));
    expect(response.entry[2].resource.entry[0].resource.id).toBe('p1');
    // The same Bundle as the typed API builds.
    const typed = await engine.batch(body);
    expect(typed.entry.map((e) => e.response.status)).toEqual(statuses(response));
  });

  it('passes Prefer: return=minimal on to the entries', async () => {
    const res = await post(newEngine(), batch([{ resource: patient('m'), request: { method: 'POST', url: 'Patient' } }]), {
      prefer: 'return=minimal',
    });
    expect(res.body.entry[0].resource).toBeUndefined();
    expect(res.body.entry[0].response.status).toBe('201 Created');
  });
});

describe('parallel batch', () => {
  it('runs concurrently and answers in entry order', async () => {
    const engine = newEngine();
    const entries = Array.from({ length: 30 }, (_, i) => ({ resource: patient(`P${i}`), request: { method: 'POST', url: 'Patient' } }));
    const res = await post(engine, batch(entries), { 'X-Bundle-Processing-Logic': '  PaRaLLeL ' });
    expect(res.status).toBe(200);
    expect(res.body.entry.map((e: any) => e.resource.name[0].family)).toEqual(entries.map((_, i) => `P${i}`));
  });

  it('refuses entries touching the same resource with 400 naming them', async () => {
    const engine = newEngine();
    const bundle = readJson(msTestdata('Bundle-BatchWithDuplicatedItems.json'));
    const parallel = await post(engine, bundle, { 'x-bundle-processing-logic': 'parallel' });
    expect(parallel.status).toBe(400);
    const text = parallel.body.issue[0].diagnostics as string;
    expect(text).toContain('entry[2] PATCH');
    expect(text).toContain('entry[3] PATCH');
    expect(text).toContain("'Patient/123'");
    // Serially the same bundle is fine: both patches succeed.
    const serial = await post(engine, bundle);
    expect(serial.status).toBe(200);
    expect(statuses(serial.body).slice(1, 4)).toEqual(['201 Created', '200 OK', '200 OK']);
  });

  it('detects same conditional criteria and same POST fullUrl', async () => {
    const engine = newEngine();
    const res = await post(
      engine,
      batch([
        { resource: patient('a'), request: { method: 'PUT', url: 'Patient?identifier=s|1&name=x' } },
        { resource: patient('b'), request: { method: 'POST', url: 'Patient', ifNoneExist: 'name=x&identifier=s|1' } },
        { fullUrl: 'urn:uuid:1', resource: patient('c'), request: { method: 'POST', url: 'Patient' } },
        { fullUrl: 'urn:uuid:1', resource: patient('d'), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Patient/1' } },
        { request: { method: 'GET', url: 'Patient/1' } },
      ]),
      { 'x-bundle-processing-logic': 'parallel' },
    );
    expect(res.status).toBe(400);
    expect(res.body.issue).toHaveLength(2);
    expect(res.body.issue[0].diagnostics).toContain('entry[0]');
    expect(res.body.issue[0].diagnostics).toContain('entry[1]');
    expect(res.body.issue[1].diagnostics).toContain('entry[3]');
  });
});

describe('FhirEngine.batch', () => {
  it('returns the response bundle, serial or parallel', async () => {
    const engine = newEngine();
    const bundle = batch([
      { resource: patient('a'), request: { method: 'POST', url: 'Patient' } },
      { request: { method: 'GET', url: 'Patient/none' } },
    ]);
    for (const parallel of [false, true]) {
      const res = await engine.batch(bundle, { parallel });
      expect(res.type).toBe('batch-response');
      expect(res.entry.map((e) => e.response.status)).toEqual(['201 Created', '404 Not Found']);
    }
    await expect(engine.batch({ resourceType: 'Patient' })).rejects.toBeInstanceOf(FhirError);
    await expect(engine.batch({ resourceType: 'Bundle', type: 'transaction' })).rejects.toMatchObject({ status: 400 });
  });
});
