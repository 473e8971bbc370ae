/**
 * Composite search parameters on one adapter, through `handle()`: R4 semantics (every part matched
 * within the same repetition, `$` between parts, prefixes on the value part, comma = OR), in
 * searches, conditional and bulk deletes; and every search parameter the CapabilityStatement
 * advertises answers a query (no "not supported"). Part of the adapter conformance suite: the core
 * resolves composites, so every adapter gives the same answers unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from './api.js';
import { fixedClock, sequentialIds } from '../clock.js';
import { FhirEngine } from '../engine.js';
import type { Resource } from '../resource/resource.js';
import type { StorageAdapter } from '../storage/storage-adapter.js';
import { client } from './engine-cases.js';

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const SYSTOLIC = { coding: [{ system: LOINC, code: '8480-6' }] };
const DIASTOLIC = { coding: [{ system: LOINC, code: '8462-4' }] };
const mmHg = (value: number) => ({ value, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' });

/** The resources the cases search; ids tell what each is for. */
function corpus(): Resource[] {
  return [
    { resourceType: 'Patient', id: 'p1' },
    { resourceType: 'Observation', id: 'sys150', status: 'final', code: SYSTOLIC, subject: { reference: 'Patient/p1' }, valueQuantity: mmHg(150) },
    { resourceType: 'Observation', id: 'sys130', status: 'final', code: SYSTOLIC, valueQuantity: mmHg(130) },
    {
      // Systolic 120 and diastolic 95: "diastolic > 100" must not match through the systolic part.
      resourceType: 'Observation',
      id: 'bp',
      status: 'final',
      code: { coding: [{ system: LOINC, code: '85354-9' }] },
      subject: { reference: 'Patient/p1' },
      component: [
        { code: SYSTOLIC, valueQuantity: mmHg(120) },
        { code: DIASTOLIC, valueQuantity: mmHg(95) },
      ],
    },
    {
      resourceType: 'Observation',
      id: 'concept',
      status: 'final',
      code: { coding: [{ system: LOINC, code: '94500-6' }] },
      valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '260385009' }] },
    },
    { resourceType: 'Observation', id: 'string', status: 'final', code: { coding: [{ code: 'note' }] }, valueString: 'cost $5, paid' },
    { resourceType: 'Observation', id: 'date', status: 'final', code: { coding: [{ code: 'onset' }] }, valueDateTime: '2024-03-05' },
    {
      resourceType: 'Group',
      id: 'women',
      type: 'person',
      actual: true,
      characteristic: [
        { code: { coding: [{ code: 'gender' }] }, valueCodeableConcept: { coding: [{ code: 'female' }] }, exclude: false },
        { code: { coding: [{ code: 'age' }] }, valueCodeableConcept: { coding: [{ code: 'adult' }] }, exclude: false },
      ],
    },
    {
      resourceType: 'ValueSet',
      id: 'vs',
      status: 'active',
      useContext: [
        { code: { system: 'http://terminology.hl7.org/CodeSystem/usage-context-type', code: 'focus' }, valueCodeableConcept: { coding: [{ code: 'diabetes' }] } },
        { code: { system: 'http://terminology.hl7.org/CodeSystem/usage-context-type', code: 'age' }, valueQuantity: { value: 65, code: 'a', system: UCUM } },
      ],
    },
    { resourceType: 'DocumentReference', id: 'd0', status: 'current', content: [{ attachment: { url: 'http://x/0' } }] },
    {
      resourceType: 'DocumentReference',
      id: 'd1',
      status: 'current',
      relatesTo: [{ code: 'replaces', target: { reference: 'DocumentReference/d0' } }],
      content: [{ attachment: { url: 'http://x/1' } }],
    },
    {
      resourceType: 'MolecularSequence',
      id: 'seq',
      coordinateSystem: 0,
      referenceSeq: { chromosome: { coding: [{ code: '1' }] }, referenceSeqId: { coding: [{ code: 'NC_000001.11' }] }, windowStart: 100, windowEnd: 200 },
      variant: [{ start: 10, end: 20 }, { start: 150, end: 160 }],
    },
  ];
}

export function registerCompositeConformance(name: string, makeAdapter: () => Promise<StorageAdapter>): void {
  describe(`composite search parameters: ${name}`, () => {
    let engine: FhirEngine;
    let http: ReturnType<typeof client>;
    beforeAll(async () => {
      engine = new FhirEngine({ storage: await makeAdapter(), clock: fixedClock('2026-01-01T00:00:00Z', 1000), ids: sequentialIds() });
      http = client(engine);
      for (const r of corpus()) {
        const res = await http('PUT', `/${r.resourceType}/${r.id}`, r);
        expect(res.status, `${r.resourceType}/${r.id}`).toBe(201);
      }
    });
    afterAll(async () => {
      await engine.close();
    });

    /** The ids a search matches (outcome entries left out), and its outcome issues. */
    const search = async (path: string, headers: Record<string, string> = {}) => {
      const res = await http('GET', path, undefined, headers);
      expect(res.status, `${path}: ${res.body}`).toBe(200);
      const entries: any[] = res.json?.entry ?? [];
      return {
        ids: entries.filter((e) => e.search?.mode === 'match').map((e) => e.resource.id).sort(),
        issues: entries.filter((e) => e.search?.mode === 'outcome').flatMap((e) => e.resource.issue.map((i: any) => i.diagnostics)),
      };
    };
    const ids = async (path: string) => (await search(path)).ids;

    const cases: readonly (readonly [string, string, readonly string[]])[] = [
      ['code and value in the resource, with a prefix', `/Observation?code-value-quantity=${LOINC}|8480-6$gt140`, ['sys150']],
      ['the value with system and code', `/Observation?code-value-quantity=${LOINC}|8480-6$150|${UCUM}|mm[Hg]`, ['sys150']],
      ['a unit that differs', `/Observation?code-value-quantity=${LOINC}|8480-6$150|${UCUM}|kPa`, []],
      ['comma is OR between values', `/Observation?code-value-quantity=${LOINC}|8480-6$gt140,${LOINC}|8480-6$lt135`, ['sys130', 'sys150']],
      ['components: systolic > 100', `/Observation?component-code-value-quantity=${LOINC}|8480-6$gt100`, ['bp']],
      ['components: diastolic > 100 is not the systolic of the same resource', `/Observation?component-code-value-quantity=${LOINC}|8462-4$gt100`, []],
      ['components: diastolic < 100', `/Observation?component-code-value-quantity=8462-4$lt100`, ['bp']],
      ['combo: the resource or a component', `/Observation?combo-code-value-quantity=${LOINC}|8480-6$gt110`, ['bp', 'sys130', 'sys150']],
      ['combo with ne', `/Observation?combo-code-value-quantity=${LOINC}|8480-6$ne130`, ['bp', 'sys150']],
      ['code and concept', `/Observation?code-value-concept=${LOINC}|94500-6$http://snomed.info/sct|260385009`, ['concept']],
      ['code and string, an escaped $ and , in the value', '/Observation?code-value-string=note$cost \\$5\\, paid', ['string']],
      ['code and date with a prefix', '/Observation?code-value-date=onset$ge2024-03', ['date']],
      ['AND with another parameter', `/Observation?subject=Patient/p1&combo-code-value-quantity=${LOINC}|8480-6$gt110`, ['bp', 'sys150']],
      ['two composites AND-ed', `/Observation?combo-code-value-quantity=${LOINC}|8480-6$gt110&combo-code-value-quantity=${LOINC}|8462-4$gt90`, ['bp']],
      ['Group characteristic and value in one characteristic', '/Group?characteristic-value=gender$female', ['women']],
      ['… not across two characteristics', '/Group?characteristic-value=gender$adult', []],
      ['useContext type and concept', '/ValueSet?context-type-value=focus$diabetes', ['vs']],
      ['useContext type and quantity', '/ValueSet?context-type-quantity=age$ge60', ['vs']],
      ['… of another useContext', '/ValueSet?context-type-quantity=focus$ge60', []],
      ['DocumentReference relation and target', '/DocumentReference?relationship=replaces$DocumentReference/d0', ['d1']],
      ['variant coordinates of one variant, chromosome from the resource', '/MolecularSequence?chromosome-variant-coordinate=1$ge150$le160', ['seq']],
      ['… not the start of one and the end of another', '/MolecularSequence?chromosome-variant-coordinate=1$ge150$le20', []],
      ['window coordinates', '/MolecularSequence?referenceseqid-window-coordinate=NC_000001.11$100$200', ['seq']],
    ];
    for (const [label, path, expected] of cases) it(label, async () => {
      const { ids: got, issues } = await search(path, { prefer: 'handling=strict' });
      expect(got).toEqual(expected);
      expect(issues).toEqual([]);
    });

    it('a composite keeps paging, totals and the self link of any other parameter', async () => {
      const res = await http('GET', `/Observation?combo-code-value-quantity=${LOINC}|8480-6$gt110&_count=2&_total=accurate`);
      expect(res.json?.total).toBe(3);
      expect(res.json?.entry).toHaveLength(2);
      expect(res.json?.link.find((l: any) => l.relation === 'self').url).toContain('combo-code-value-quantity=');
      const next = res.json?.link.find((l: any) => l.relation === 'next').url as string;
      const rest = await http('GET', next);
      expect(rest.json?.entry).toHaveLength(1);
    });

    it('malformed composite values and modifiers are a 400', async () => {
      for (const path of [
        `/Observation?code-value-quantity=${LOINC}|8480-6`,
        `/Observation?code-value-quantity=${LOINC}|8480-6$1$2`,
        `/Observation?code-value-quantity=${LOINC}|8480-6$gtabc`,
        `/Observation?code-value-quantity:missing=true`,
        `/Observation?code-value-date=onset$notadate`,
      ]) {
        const res = await http('GET', path);
        expect(res.status, path).toBe(400);
        expect(res.json?.resourceType).toBe('OperationOutcome');
      }
    });

    it('conditional delete and $bulk-delete take composite criteria', async () => {
      const own = new FhirEngine({ storage: await makeAdapter(), clock: fixedClock('2026-01-01T00:00:00Z', 1000), ids: sequentialIds() });
      try {
        const h = client(own);
        for (const r of corpus()) await h('PUT', `/${r.resourceType}/${r.id}`, r);
        const one = await h('DELETE', `/Observation?component-code-value-quantity=${LOINC}|8462-4$lt100`);
        expect(one.status).toBe(204);
        expect((await h('GET', '/Observation/bp')).status).toBe(410);
        expect((await h('GET', '/Observation/sys150')).status).toBe(200);
        const kick = await own.handle({ method: 'DELETE', url: `/Observation/$bulk-delete?code-value-quantity=${LOINC}|8480-6$gt100`, headers: { prefer: 'respond-async' } });
        expect(kick.status).toBe(202);
        const job = await own.jobs.settled(kick.headers['content-location']!.split('/').pop()!);
        expect(job.progress.byType).toEqual({ Observation: 2 });
        expect((await h('GET', '/Observation/sys130')).status).toBe(410);
        expect((await h('GET', '/Observation/concept')).status).toBe(200);
      } finally {
        await own.close();
      }
    });

    it('every search parameter the CapabilityStatement advertises answers a query, none "not supported"', async () => {
      const metadata = await http('GET', '/metadata');
      const resources: { type: string; searchParam: { name: string; type: string }[] }[] = metadata.json?.rest[0].resource;
      let queries = 0;
      const failures: string[] = [];
      for (const { type, searchParam } of resources) {
        for (const { name: param, type: kind } of searchParam) {
          const path = `/${type}?${param}=${encodeURIComponent(plausibleValue(kind, param))}`;
          const res = await http('GET', path, undefined, { prefer: 'handling=strict' });
          queries++;
          const outcome = (res.json?.entry ?? []).find((e: any) => e.search?.mode === 'outcome');
          if (res.status !== 200 || outcome) failures.push(`${path} → ${res.status} ${res.status === 200 ? JSON.stringify(outcome.resource) : res.body}`);
        }
      }
      expect(failures).toEqual([]);
      expect(queries).toBeGreaterThan(1000);
      const advertised = (type: string) => resources.find((r) => r.type === type)!.searchParam.map((p) => p.name);
      for (const code of ['code-value-quantity', 'component-code-value-quantity', 'combo-code-value-quantity']) expect(advertised('Observation')).toContain(code);
      // Not evaluated, so not advertised: full text, named queries, geographic distance.
      expect(advertised('Location')).not.toContain('near');
      expect(advertised('Patient')).not.toContain('_text');
      expect(advertised('Patient')).not.toContain('_content');
    });
  });
}

/** A value each parameter type accepts (not one that matches anything in particular). */
function plausibleValue(kind: string, param: string): string {
  switch (kind) {
    case 'number':
      return 'gt1';
    case 'date':
      return 'ge2020-01-01';
    case 'string':
      return 'a';
    case 'token':
      return 'http://example.org|a';
    case 'reference':
      return 'Patient/p1';
    case 'quantity':
      return 'gt5|http://unitsofmeasure.org|mg';
    case 'uri':
      return 'http://example.org/a';
    case 'composite':
      return compositeValue(param);
    case 'special':
      return param === 'near' ? '42.256|-83.694|11.2|km' : 'a';
    default:
      throw new Error(`no plausible value for a ${kind} parameter (${param})`);
  }
}

/** The R4 composites, part by part. */
function compositeValue(param: string): string {
  if (param.includes('coordinate')) return '1$gt1$lt9';
  if (param.endsWith('-quantity')) return 'a$gt5';
  if (param.endsWith('-date')) return 'a$ge2020';
  if (param === 'relationship') return 'replaces$DocumentReference/1';
  return 'a$b';
}
