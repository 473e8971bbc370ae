/**
 * What the bundle code promises about serialisation (issue 11), on the memory adapter, whose reads
 * hand back stored JSON without parsing it: `handle()` writes a batch response once with the stored
 * JSON spliced in, and the typed `transaction()` builds its response from the objects it wrote.
 * Neither calls `JSON.parse`.
 */
import { describe, expect, it, vi } from 'vitest';
import { newEngine, statuses } from './helpers.js';

const patient = (family: string) => ({ resourceType: 'Patient', name: [{ family }] });
const batch = (entry: object[]) => ({ resourceType: 'Bundle', type: 'batch', entry });
const tx = (entry: object[]) => ({ resourceType: 'Bundle', type: 'transaction', entry });

describe('bundles without JSON.parse', () => {
  it('handle() serialises a batch response once, with the stored JSON spliced in', async () => {
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

  it('FhirEngine.transaction builds its response from the objects it wrote', async () => {
    const engine = newEngine();
    const bundle = tx([
      { fullUrl: 'urn:uuid:9f1c2b7e-3d4a-4e5f-8a6b-7c8d9e0f1a2b', resource: patient('P'), request: { method: 'POST', url: 'Patient' } },
      {
        fullUrl: 'urn:uuid:0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e',
        resource: { resourceType: 'Observation', status: 'final', code: { text: 'c' }, subject: { reference: 'urn:uuid:9f1c2b7e-3d4a-4e5f-8a6b-7c8d9e0f1a2b' } },
        request: { method: 'POST', url: 'Observation' },
      },
      { resource: { resourceType: 'Patient', id: 'put1', name: [{ family: 'Q' }] }, request: { method: 'PUT', url: 'Patient/put1' } },
    ]);
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const res = await engine.transaction(bundle);
      expect(res.entry.map((e) => e.response.status)).toEqual(['201 Created', '201 Created', '201 Created']);
      expect(parse).not.toHaveBeenCalled();
      const [pat, obs] = res.entry as any[];
      expect(obs.resource.subject.reference).toBe(`Patient/${pat.resource.id}`);
      expect(pat.resource.meta.versionId).toBe('1');
    } finally {
      parse.mockRestore();
    }
  });
});
