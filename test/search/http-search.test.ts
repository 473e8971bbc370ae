import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { fixedClock, sequentialIds } from '../../src/clock.js';
import { FhirEngine } from '../../src/engine.js';
import { client } from '../../src/testing/engine-cases.js';

describe('search through handle()', () => {
  let engine: FhirEngine;
  let http: ReturnType<typeof client>;
  const ids = (bundle: any): string[] =>
    (bundle.entry ?? []).filter((e: any) => e.search?.mode !== 'outcome').map((e: any) => `${e.resource.resourceType}/${e.resource.id}`);

  beforeEach(async () => {
    engine = new FhirEngine({
      storage: new MemoryAdapter(),
      clock: fixedClock('2026-01-01T00:00:00Z', 1000),
      ids: sequentialIds(),
      searchParameters: [
        { code: 'nickname', type: 'string', base: ['Patient'], expression: "Patient.name.where(use = 'nickname').given" },
      ],
    });
    http = client(engine);
    await http('POST', '/Patient', {
      resourceType: 'Patient',
      name: [{ family: 'Müller', given: ['Anna'] }, { use: 'nickname', given: ['Annie'] }],
      birthDate: '1987-02-20',
      identifier: [{ system: 'urn:mrn', value: '1' }],
    }); // Patient/1
    await http('POST', '/Patient', { resourceType: 'Patient', name: [{ family: 'Smith' }], birthDate: '1990-05-01' }); // Patient/2
    await http('POST', '/Observation', {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '1234-5' }] },
      subject: { reference: 'Patient/1' },
    }); // Observation/3
  });

  it('GET /Type?… with an accent-insensitive string match', async () => {
    const res = await http('GET', '/Patient?family=muller');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
    expect(ids(res.json)).toEqual(['Patient/1']);
  });

  it('POST /Type/_search with a form body gives the same answer as GET', async () => {
    const res = await http('POST', '/Patient/_search', 'birthdate=ge1989-01-01', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(res.status).toBe(200);
    expect(ids(res.json)).toEqual(['Patient/2']);
  });

  it('GET /?_type=… searches across types', async () => {
    const res = await http('GET', '/?_type=Patient,Observation&_count=10');
    expect(ids(res.json).sort()).toEqual(['Observation/3', 'Patient/1', 'Patient/2']);
  });

  it('chained parameters resolve through the reference', async () => {
    const res = await http('GET', '/Observation?subject:Patient.birthdate=1987-02-20');
    expect(ids(res.json)).toEqual(['Observation/3']);
    const none = await http('GET', '/Observation?subject:Patient.birthdate=1990-05-01');
    expect(ids(none.json)).toEqual([]);
  });

  it('unknown parameters are reported in an outcome entry; Prefer: handling=strict makes them a 400', async () => {
    const lenient = await http('GET', '/Patient?Cookie=Chip&family=smith');
    expect(lenient.status).toBe(200);
    const outcome = lenient.json?.entry.find((e: any) => e.search?.mode === 'outcome');
    expect(outcome.resource.issue[0].diagnostics).toContain('Cookie');
    expect(ids(lenient.json)).toEqual(['Patient/2']);
    const strict = await http('GET', '/Patient?Cookie=Chip', undefined, { prefer: 'handling=strict' });
    expect(strict.status).toBe(400);
    expect(strict.json?.resourceType).toBe('OperationOutcome');
  });

  it('malformed values are 400, never 500', async () => {
    for (const query of ['birthdate=not-a-date', '_count=abc', 'identifier=a|b|c']) {
      expect((await http('GET', `/Patient?${query}`)).status).toBe(400);
    }
  });

  it('a custom SearchParameter registered at construction is indexed and searchable', async () => {
    const res = await http('GET', '/Patient?nickname=annie');
    expect(ids(res.json)).toEqual(['Patient/1']);
  });

  it('next links page through every match exactly once', async () => {
    for (let i = 0; i < 7; i++) await http('POST', '/Patient', { resourceType: 'Patient', name: [{ family: `Page${i}` }] });
    const seen: string[] = [];
    let url: string | undefined = '/Patient?family=page&_count=3&_sort=family';
    while (url) {
      const res = await http('GET', url);
      seen.push(...ids(res.json));
      url = res.json?.link.find((l: any) => l.relation === 'next')?.url;
    }
    expect(seen).toHaveLength(7);
    expect(new Set(seen).size).toBe(7);
  });

  it('x-conditionalquery-processing-logic: parallel gives the same conditional answers', async () => {
    const headers = { 'if-none-exist': 'identifier=urn:mrn|1', 'x-conditionalquery-processing-logic': ' PARALLEL ' };
    const matched = await http('POST', '/Patient', { resourceType: 'Patient' }, headers);
    expect(matched.status).toBe(200);
    expect(matched.json?.id).toBe('1');
    const chained = await http('DELETE', '/Observation?subject:Patient.identifier=urn:mrn|1', undefined, {
      'x-conditionalquery-processing-logic': 'parallel',
    });
    expect(chained.status).toBe(204);
    expect((await http('GET', '/Observation/3')).status).toBe(410);
  });
});
