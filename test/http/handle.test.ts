import { describe, expect, it } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { fixedClock, sequentialIds } from '../../src/clock.js';
import { FhirEngine } from '../../src/engine.js';
import type { StorageAdapter } from '../../src/storage/storage-adapter.js';

const engineOn = (storage: StorageAdapter = new MemoryAdapter(), options: Partial<ConstructorParameters<typeof FhirEngine>[0]> = {}) =>
  new FhirEngine({ storage, clock: fixedClock('2026-01-01T00:00:00Z', 1000), ids: sequentialIds(), ...options });

const patient = { resourceType: 'Patient', name: [{ family: 'Doe' }] };

describe('handle()', () => {
  it('accepts the body as a string, as bytes, or as an already-parsed object', async () => {
    const engine = engineOn();
    const headers = { 'Content-Type': 'application/fhir+json; charset=utf-8' };
    const text = await engine.handle({ method: 'POST', url: '/Patient', headers, body: JSON.stringify(patient) });
    const bytes = await engine.handle({ method: 'post', url: 'Patient', headers, body: new TextEncoder().encode(JSON.stringify(patient)) });
    const parsed = await engine.handle({ method: 'POST', url: '/Patient', body: patient });
    expect([text.status, bytes.status, parsed.status]).toEqual([201, 201, 201]);
    expect(JSON.parse(parsed.body!).id).toBe('3');
  });

  it('reads headers in any case and repeated headers as arrays', async () => {
    const engine = engineOn();
    await engine.handle({ method: 'POST', url: '/Patient', body: patient });
    const res = await engine.handle({
      method: 'PUT',
      url: '/Patient/1',
      headers: { 'CONTENT-TYPE': 'application/json', 'If-Match': ['W/"1"'] },
      body: JSON.stringify({ ...patient, id: '1', gender: 'male' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.etag).toBe('W/"2"');
  });

  it('accepts an absolute URL and strips nothing else', async () => {
    const engine = engineOn();
    await engine.handle({ method: 'POST', url: '/Patient', body: patient });
    expect((await engine.handle({ method: 'GET', url: 'http://example.org/Patient/1' })).status).toBe(200);
  });

  it('a body over limits.maxBodyBytes → 413', async () => {
    const engine = engineOn(new MemoryAdapter(), { limits: { maxBodyBytes: 100 } });
    const res = await engine.handle({
      method: 'POST',
      url: '/Patient',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ ...patient, text: 'x'.repeat(200) }),
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body!).resourceType).toBe('OperationOutcome');
  });

  it('an unexpected storage failure → 500 with a generic OperationOutcome and no internals; onError sees it', async () => {
    const seen: unknown[] = [];
    const broken = new MemoryAdapter();
    broken.readCurrent = async () => {
      throw new Error('disk on fire at /secret/path');
    };
    const engine = engineOn(broken, { onError: (e) => seen.push(e) });
    const res = await engine.handle({ method: 'GET', url: '/Patient/1' });
    expect(res.status).toBe(500);
    expect(res.body).not.toContain('secret');
    expect(res.body).not.toContain('at ');
    expect(JSON.parse(res.body!).issue[0].code).toBe('exception');
    expect(seen).toHaveLength(1);
  });

  it('a throwing onError does not break the response', async () => {
    const broken = new MemoryAdapter();
    broken.readCurrent = async () => {
      throw new Error('boom');
    };
    const engine = engineOn(broken, {
      onError: () => {
        throw new Error('logger down');
      },
    });
    expect((await engine.handle({ method: 'GET', url: '/Patient/1' })).status).toBe(500);
  });

  it('an operation the engine does not have → 404, whatever the method; a known one with a wrong method → 405', async () => {
    const engine = engineOn();
    await engine.handle({ method: 'POST', url: '/Patient', body: patient });
    for (const [method, url] of [['POST', '/ValueSet/$lookup'], ['GET', '/Patient/$match'], ['GET', '/Patient/1/$meta'], ['GET', '/$convert']]) {
      const res = await engine.handle({ method: method!, url: url! });
      expect([url, res.status]).toEqual([url, 404]);
      expect(JSON.parse(res.body!).issue[0].code).toBe('not-found');
    }
    expect((await engine.handle({ method: 'GET', url: '/Patient/$bulk-delete' })).status).toBe(405);
    expect((await engine.handle({ method: 'GET', url: '/Patient/1/$purge-history' })).status).toBe(405);
  });

  it('a malformed percent-encoding in the path → 400', async () => {
    const engine = engineOn();
    expect((await engine.handle({ method: 'GET', url: '/Patient/%E0%A4%A' })).status).toBe(400);
  });

  it('an error inside a write leaves no partial write', async () => {
    const storage = new MemoryAdapter();
    const engine = engineOn(storage);
    await engine.handle({ method: 'POST', url: '/Patient', body: patient });
    const original = storage.transact.bind(storage);
    storage.transact = (work) =>
      original(async (tx) => {
        const result = await work(tx);
        throw new Error(`after the write: ${String(result !== undefined)}`);
      });
    const res = await engine.handle({ method: 'PUT', url: '/Patient/1', body: { ...patient, id: '1', gender: 'male' } });
    expect(res.status).toBe(500);
    storage.transact = original;
    const read = await engine.handle({ method: 'GET', url: '/Patient/1' });
    expect(JSON.parse(read.body!).meta.versionId).toBe('1');
  });
});
