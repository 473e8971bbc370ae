import { beforeAll, describe, expect, it } from 'vitest';
import { FhirError } from '../../src/errors.js';
import type { Resource } from '../../src/resource/resource.js';
import { IndexExtractor } from '../../src/search/extract.js';
import { SearchParameterRegistry } from '../../src/search/registry.js';
import { SearchService, type SearchRequest } from '../../src/search/service.js';
import { put, smallCorpus } from '../../src/testing/search-cases.js';
import { MemoryAdapter } from '../../adapters/memory/index.js';

const registry = SearchParameterRegistry.r4();
const extractor = new IndexExtractor(registry);
const service = new SearchService(registry, extractor, { chainDepth: 2, chainFanout: 50 });
const BASE = 'http://localhost:8080';

type Bundle = {
  resourceType: string;
  type: string;
  total?: number;
  link: { relation: string; url: string }[];
  entry?: { fullUrl?: string; resource: Resource; search: { mode: string } }[];
};

let adapter: MemoryAdapter;
beforeAll(async () => {
  adapter = new MemoryAdapter();
  await put(adapter, [
    ...smallCorpus(),
    { resourceType: 'Practitioner', id: 'dr1', name: [{ family: 'House' }] },
    { resourceType: 'Practitioner', id: 'dr2', name: [{ family: 'Wilson' }] },
    { resourceType: 'Provenance', id: 'prov1', target: [{ reference: 'Observation/o1' }], recorded: '2020-01-01T00:00:00Z', agent: [{ who: { reference: 'Practitioner/dr1' } }] },
  ]);
});

async function search(type: string | undefined, query: string, extra: Partial<SearchRequest> = {}): Promise<Bundle> {
  const params = [...new URLSearchParams(query)] as [string, string][];
  return (await service.search(adapter, { types: type ? [type] : [], params, baseUrl: BASE, ...extra })) as unknown as Bundle;
}
const matchIds = (b: Bundle) => (b.entry ?? []).filter((e) => e.search.mode === 'match').map((e) => e.resource.id).sort();

async function expect400(p: Promise<unknown>, text?: string) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FhirError);
  expect((err as FhirError).status).toBe(400);
  if (text) expect((err as FhirError).message).toContain(text);
}

describe('SearchService.search', () => {
  it('returns a searchset bundle with fullUrls, modes and a self link', async () => {
    const b = await search('Patient', 'family=mul');
    expect(b.resourceType).toBe('Bundle');
    expect(b.type).toBe('searchset');
    expect(matchIds(b)).toEqual(['p1', 'p2']);
    expect(b.entry![0]!.fullUrl).toMatch(/^http:\/\/localhost:8080\/Patient\/p[12]$/);
    expect(b.link[0]).toEqual({ relation: 'self', url: `${BASE}/Patient?family=mul` });
    expect(b.total).toBeUndefined();
  });

  it('string, token, date, number, quantity, reference and uri parameters from query text', async () => {
    const cases: [string, string, string[]][] = [
      ['Patient', 'name=MÜLLER', ['p1', 'p2']],
      ['Patient', 'family:exact=Müller', ['p1']],
      ['Patient', 'family:contains=ll', ['p1', 'p2']],
      ['Patient', 'family=mul&given=bob', ['p2']],
      ['Patient', 'family=smith,bob', ['p3']],
      ['Patient', 'address-city=zur', ['p1']],
      ['Patient', 'identifier=urn:mrn|', ['p1', 'p2']],
      ['Patient', 'identifier=|B2', ['p2']],
      ['Patient', 'identifier=urn:mrn|A1', ['p1']],
      ['Patient', 'identifier:text=medical', ['p1']],
      ['Patient', 'gender:not=male', ['p1', 'p3']],
      ['Patient', 'active:missing=true', ['p3']],
      ['Patient', 'birthdate=1987', ['p1']],
      ['Patient', 'birthdate=ge1990&birthdate=lt2000', ['p2']],
      ['Patient', 'birthdate=sa1990-06', ['p3']],
      ['Patient', '_id=p1,p3', ['p1', 'p3']],
      ['Patient', '_tag=urn:tags|vip', ['p1']],
      ['Patient', '_profile=http://example.org/fhir/StructureDefinition/p', ['p1']],
      ['Patient', `general-practitioner=${BASE}/Practitioner/dr1`, ['p1']],
      ['Patient', 'general-practitioner=dr2', ['p2']],
      ['Patient', 'general-practitioner:Practitioner=dr2', ['p2']],
      ['Patient', 'organization=http://other.example/fhir/Organization/o9', ['p1']],
      ['Observation', 'code=http://loinc.org|8480-6', ['o1']],
      ['Observation', 'code:text=bp', ['o1']],
      ['Observation', 'value-quantity=120|http://unitsofmeasure.org|mm[Hg]', ['o1']],
      ['Observation', 'value-quantity=gt100', ['o1']],
      ['Observation', 'value-quantity=0.5||mg', ['o3']],
      ['Observation', 'date=ge2021', ['o2', 'o3']],
      ['Observation', 'subject=Patient/p1&status=final', ['o1', 'o3']],
      ['RiskAssessment', 'probability=gt0.3', ['r2']],
      ['ValueSet', 'url:below=http://example.org/fhir/ValueSet/a', ['v1', 'v2']],
      ['ValueSet', 'url=http://example.org/fhir/ValueSet/a', ['v2']],
    ];
    for (const [type, query, expected] of cases) {
      expect({ query, ids: matchIds(await search(type, query)) }).toEqual({ query, ids: expected });
    }
  });

  it('chained parameters, multi-level chains and _has', async () => {
    expect(matchIds(await search('Observation', 'subject:Patient.birthdate=1987-02-20'))).toEqual(['o1', 'o3']);
    expect(matchIds(await search('Observation', 'subject.name=bob'))).toEqual(['o2']);
    expect(matchIds(await search('Observation', 'patient.general-practitioner.name=house'))).toEqual(['o1', 'o3']);
    expect(matchIds(await search('Observation', 'subject:Patient.name=nobody'))).toEqual([]);
    expect(matchIds(await search('Patient', '_has:Observation:patient:code=8480-6'))).toEqual(['p1']);
    expect(matchIds(await search('Patient', '_has:Observation:subject:status=preliminary'))).toEqual(['p2']);
    await expect400(search('Observation', 'patient.general-practitioner.organization.name=x'));
  });

  it('parallel sub-queries give the same answers', async () => {
    for (const q of ['subject:Patient.birthdate=1987-02-20&subject.name=anna', 'patient.general-practitioner.name=house,wilson&status=final']) {
      const serial = matchIds(await search('Observation', q));
      const parallel = matchIds(await search('Observation', q, { parallel: true }));
      expect(parallel).toEqual(serial);
    }
  });

  it('_sort, _count and paging through next links', async () => {
    const b = await search('Patient', '_sort=-birthdate');
    expect(b.entry!.map((e) => e.resource.id)).toEqual(['p3', 'p2', 'p1']);
    const b2 = await search('Patient', '_sort=gender,-birthdate');
    expect(b2.entry!.map((e) => e.resource.id)).toEqual(['p3', 'p1', 'p2']);

    for (const sort of ['', '&_sort=family', '&_sort=-_lastUpdated']) {
      const seen: string[] = [];
      let query = `_count=1${sort}`;
      for (let i = 0; i < 10; i++) {
        const page = await search('Patient', query);
        seen.push(...page.entry!.map((e) => e.resource.id as string));
        const next = page.link.find((l) => l.relation === 'next');
        if (!next) break;
        expect(next.url.startsWith(`${BASE}/Patient?`)).toBe(true);
        query = next.url.split('?')[1] as string;
      }
      expect(seen.sort()).toEqual(['p1', 'p2', 'p3']);
    }
    await expect400(search('Patient', '_cursor=garbage'));
  });

  it('_total, _summary=count, _count=0', async () => {
    const t = await search('Patient', '_total=accurate&_count=1');
    expect(t.total).toBe(3);
    expect(t.entry).toHaveLength(1);
    const c = await search('Patient', 'gender=female&_summary=count');
    expect(c.total).toBe(2);
    expect(c.entry).toBeUndefined();
    expect((await search('Patient', '_count=0')).total).toBe(3);
  });

  it('_elements and _summary=text subset the resources', async () => {
    const b = await search('Patient', '_id=p1&_elements=gender,birthDate');
    const r = b.entry![0]!.resource;
    expect(Object.keys(r).sort()).toEqual(['birthDate', 'gender', 'id', 'meta', 'resourceType']);
    expect(r.meta?.tag?.some((t) => t.code === 'SUBSETTED')).toBe(true);
  });

  it('_include and _revinclude (one level)', async () => {
    const b = await search('Observation', '_id=o1&_include=Observation:subject&_revinclude=Provenance:target');
    const modes = (b.entry ?? []).map((e) => `${e.search.mode}:${e.resource.resourceType}/${e.resource.id}`).sort();
    expect(modes).toEqual(['include:Patient/p1', 'include:Provenance/prov1', 'match:Observation/o1']);
    const star = await search('Patient', '_id=p1&_include=Patient:*');
    expect((star.entry ?? []).map((e) => e.resource.id).sort()).toEqual(['dr1', 'p1']);
    const typed = await search('Patient', '_id=p1&_include=Patient:general-practitioner:Organization');
    expect(matchIds(typed)).toEqual(['p1']);
    expect(typed.entry).toHaveLength(1);
  });

  it('_revinclude=*:* and Type:* include whatever refers to the matches through any reference parameter', async () => {
    const included = (b: Bundle) => (b.entry ?? []).filter((e) => e.search.mode === 'include').map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();
    const any = await search('Practitioner', '_id=dr1&_revinclude=*:*');
    expect(included(any)).toEqual(['Patient/p1', 'Provenance/prov1']);
    const provenance = await search('Practitioner', '_id=dr1&_revinclude=Provenance:*');
    expect(included(provenance)).toEqual(['Provenance/prov1']);
    const observations = await search('Patient', '_id=p1&_revinclude=Observation:*');
    expect(included(observations)).toEqual(['Observation/o1', 'Observation/o3']);
    await expect400(search('Patient', '_revinclude=*:subject'));
  });

  it('more included resources than maxCount: the first maxCount and an information issue', async () => {
    const small = new SearchService(registry, extractor, { maxCount: 1 });
    const b = (await small.search(adapter, { types: ['Patient'], params: [['_id', 'p1'], ['_revinclude', 'Observation:subject']], baseUrl: BASE })) as unknown as Bundle;
    expect(b.entry!.filter((e) => e.search.mode === 'include')).toHaveLength(1);
    const outcome = b.entry!.find((e) => e.search.mode === 'outcome')!.resource as unknown as { issue: { severity: string; diagnostics: string }[] };
    expect(outcome.issue[0]).toMatchObject({ severity: 'information' });
    expect(outcome.issue[0]!.diagnostics).toContain('limit of 1');
  });

  it('system-level search and _type', async () => {
    expect(matchIds(await search(undefined, '_id=p1,o1,dr1'))).toEqual(['dr1', 'o1', 'p1']);
    expect(matchIds(await search(undefined, '_type=Patient,Observation&_id=p1,o1,dr1'))).toEqual(['o1', 'p1']);
    await expect400(search(undefined, '_type=Nope'));
  });

  it('unknown parameters: warning by default, 400 when strict', async () => {
    const b = await search('Patient', 'Cookie=1&family=smith');
    expect(matchIds(b)).toEqual(['p3']);
    const outcome = b.entry!.find((e) => e.search.mode === 'outcome')!.resource as unknown as { issue: { severity: string; diagnostics: string }[] };
    expect(outcome.issue[0]!.severity).toBe('warning');
    expect(outcome.issue[0]!.diagnostics).toBe("The search parameter 'Cookie' is not supported for resource type 'Patient'.");
    await expect400(search('Patient', 'Cookie=1', { strict: true }), 'Cookie');
    // A special parameter the engine does not evaluate is ignored with a warning; a composite is evaluated.
    const near = await search('Location', 'near=42.256|-83.694|11.2|km');
    expect(near.entry!.some((e) => e.search.mode === 'outcome')).toBe(true);
    const comp = await search('Observation', 'code-value-quantity=8480-6$gt100');
    expect((comp.entry ?? []).some((e) => e.search.mode === 'outcome')).toBe(false);
  });

  it('malformed values are 400, never a crash', async () => {
    await expect400(search('Patient', 'birthdate=not-a-date'), 'birthdate');
    await expect400(search('Patient', '_count=abc'), '_count');
    await expect400(search('RiskAssessment', 'probability=gt'), 'probability');
    await expect400(search('Observation', 'code=a|b|c'), 'code');
    await expect400(search('Patient', 'active:missing=maybe'));
    await expect400(search('Patient', 'gender:above=x'));
    await expect400(search('Observation', 'value-quantity=1|2'));
    await expect400(search('Patient', '_sort=birthdate&_total=sometimes'));
    await expect400(search('Patient', 'birthdate=ge'));
    await expect400(search('Patient', 'family.name=x'));
  });

  it('empty values are ignored', async () => {
    expect(matchIds(await search('Patient', 'family='))).toEqual(['p1', 'p2', 'p3']);
  });
});

describe('SearchService.searchJson', () => {
  it('gives the same bundle as search(), without re-serialising stored JSON', async () => {
    for (const query of ['family=mul', '_id=p1&_elements=gender', 'Cookie=1&_sort=-birthdate', '_id=o1&_include=Observation:subject&_revinclude=Provenance:target', '_summary=count', '_count=1']) {
      const type = query.includes('o1') ? 'Observation' : 'Patient';
      const params = [...new URLSearchParams(query)] as [string, string][];
      const request = { types: [type], params, baseUrl: BASE };
      const text = await service.searchJson(adapter, request);
      expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(await service.search(adapter, request))));
    }
  });
});

describe('SearchService.findMatches', () => {
  it('finds current matches with json, bounded by limit', async () => {
    const r = await service.findMatches(adapter, 'Patient', [['identifier', 'urn:mrn|A1']], { limit: 2 });
    expect(r.selective).toBe(true);
    expect(r.hits.map((h) => h.id)).toEqual(['p1']);
    expect(JSON.parse(r.hits[0]!.json!).id).toBe('p1');
    const two = await service.findMatches(adapter, 'Patient', [['gender', 'female'], ['_count', '1'], ['_sort', 'family']], { limit: 2 });
    expect(two.hits).toHaveLength(2);
  });

  it('is not selective without usable criteria', async () => {
    for (const params of [[], [['_tag', '']], [['Cookie', '1']], [['_count', '5']]] as [string, string][][]) {
      const r = await service.findMatches(adapter, 'Patient', params, { limit: 2 });
      expect(r.selective).toBe(false);
      expect(r.hits).toEqual([]);
    }
    const w = await service.findMatches(adapter, 'Patient', [['Cookie', '1']], { limit: 2 });
    expect(w.warnings).toHaveLength(1);
    await expect400(service.findMatches(adapter, 'Patient', [['Cookie', '1']], { limit: 2, strict: true }));
  });

  it('parallel gives the same answer as serial', async () => {
    const params: [string, string][] = [['subject:Patient.birthdate', '1987-02-20'], ['subject.name', 'anna'], ['status', 'final']];
    const s = await service.findMatches(adapter, 'Observation', params, { limit: 10 });
    const p = await service.findMatches(adapter, 'Observation', params, { limit: 10, parallel: true });
    expect(p.hits.map((h) => h.id)).toEqual(s.hits.map((h) => h.id));
    expect(s.hits.map((h) => h.id).sort()).toEqual(['o1', 'o3']);
  });
});
