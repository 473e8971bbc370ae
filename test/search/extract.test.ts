import { describe, expect, it } from 'vitest';
import type { Resource } from '../../src/resource/resource.js';
import { IndexExtractor } from '../../src/search/extract.js';
import { SearchParameterRegistry } from '../../src/search/registry.js';
import type { IndexEntry } from '../../src/storage/index-entry.js';
import { allR4Examples, synthea } from '../support/corpora.js';

const registry = SearchParameterRegistry.r4();
const auto = new IndexExtractor(registry);
const viaFhirpath = new IndexExtractor(registry, { mode: 'fhirpath' });

function loadSynthea(): Resource[] {
  const out: Resource[] = [];
  for (const folder of ['synthea-v3-conditional', 'synthea-v2-simple']) {
    for (const f of synthea.files(folder)) {
      const bundle = synthea.json<{ entry?: { resource?: Resource }[] }>(`${folder}/${f}`);
      for (const e of bundle.entry ?? []) if (e.resource) out.push(e.resource);
    }
  }
  return out;
}

const canon = (entries: readonly IndexEntry[]): string[] =>
  entries.map((e) => JSON.stringify(e, (_k, v) => (v === Infinity ? 'inf' : v === -Infinity ? '-inf' : v))).sort();

describe('IndexExtractor: direct accessors vs fhirpath.js', () => {
  it('most parameters compile to direct accessors', () => {
    let direct = 0;
    let fp = 0;
    for (const type of registry.resourceTypes) {
      for (const p of auto.compiledFor(type)) for (const b of p.branches) (b.direct ? direct++ : fp++);
    }
    expect(direct).toBeGreaterThan(2000);
    expect(fp).toBeLessThan(20);
  });

  for (const [name, load, available, atLeast] of [
    ['5,305 R4 examples (npm, definitions and Bundles included)', allR4Examples, true, 5300],
    ['Synthea bundles (../shared)', loadSynthea, synthea.available, 5000],
  ] as const) {
    it.skipIf(!available)(`identical entries on every resource of the ${name}`, () => {
      const resources = load();
      expect(resources.length).toBeGreaterThan(atLeast);
      let total = 0;
      for (const r of resources) {
        const a = canon(auto.extract(r));
        const b = canon(viaFhirpath.extract(r));
        if (a.join('\n') !== b.join('\n')) expect({ id: `${r.resourceType}/${r.id}`, a }).toEqual({ id: `${r.resourceType}/${r.id}`, a: b });
        total += a.length;
      }
      expect(total).toBeGreaterThan(resources.length * 5);
    });
  }
});

describe('IndexExtractor: normalisation', () => {
  const patient: Resource = {
    resourceType: 'Patient',
    id: 'p1',
    meta: { lastUpdated: '2024-01-02T03:04:05.678Z', tag: [{ system: 's', code: 'c' }], profile: ['http://p'], security: [{ code: 'R' }], source: 'http://src#1' },
    name: [{ family: 'Müller', given: ['Hans', 'Peter'], prefix: ['Dr'], text: 'Dr. Hans Müller' }],
    birthDate: '1987-02-20',
    deceasedBoolean: false,
    address: [{ line: ['Bahnhofstr 1'], city: 'Zürich', district: 'ZH', state: 'ZH', postalCode: '8001', country: 'CH', text: 'Bahnhofstr 1, Zürich' }],
    telecom: [{ system: 'email', value: 'a@b.c' }, { system: 'phone', value: '555' }],
    identifier: [{ system: 'urn:x', value: '123', type: { text: 'MRN' } }],
    generalPractitioner: [{ reference: 'Practitioner/9/_history/2' }, { reference: 'http://x.org/fhir/Organization/7' }, { reference: '#contained' }],
    managingOrganization: { reference: 'urn:uuid:1234' },
  };
  const entries = auto.extract(patient);
  const of = (param: string) => entries.filter((e) => e.param === param);

  it('common parameters', () => {
    expect(of('_id')).toEqual([{ param: '_id', kind: 'token', system: null, code: 'p1' }]);
    const t = Date.parse('2024-01-02T03:04:05.678Z');
    expect(of('_lastUpdated')).toEqual([{ param: '_lastUpdated', kind: 'date', low: t, high: t }]);
    expect(of('_tag')).toEqual([{ param: '_tag', kind: 'token', system: 's', code: 'c' }]);
    expect(of('_profile')).toEqual([{ param: '_profile', kind: 'uri', value: 'http://p' }]);
    expect(of('_security')).toEqual([{ param: '_security', kind: 'token', system: null, code: 'R' }]);
    expect(of('_source')).toEqual([{ param: '_source', kind: 'uri', value: 'http://src#1' }]);
  });

  it('HumanName and Address parts, folded strings', () => {
    const name = of('name').map((e) => (e.kind === 'string' ? e.folded : ''));
    expect(name).toEqual(expect.arrayContaining(['dr', 'hans', 'peter', 'muller', 'dr. hans muller', 'dr hans peter muller']));
    expect(of('family')).toEqual([{ param: 'family', kind: 'string', folded: 'muller', exact: 'Müller' }]);
    const addr = of('address').map((e) => (e.kind === 'string' ? e.exact : ''));
    expect(addr).toEqual(expect.arrayContaining(['Bahnhofstr 1', 'Zürich', 'ZH', '8001', 'CH', 'Bahnhofstr 1, Zürich']));
    expect(of('address-city')).toEqual([{ param: 'address-city', kind: 'string', folded: 'zurich', exact: 'Zürich' }]);
  });

  it('tokens, text, dates, references', () => {
    expect(of('identifier')).toEqual([
      { param: 'identifier', kind: 'token', system: 'urn:x', code: '123' },
      { param: 'identifier', kind: 'text', folded: 'mrn' },
    ]);
    expect(of('email')).toEqual([{ param: 'email', kind: 'token', system: 'email', code: 'a@b.c' }]);
    expect(of('phone')).toEqual([{ param: 'phone', kind: 'token', system: 'phone', code: '555' }]);
    expect(of('deceased')).toEqual([{ param: 'deceased', kind: 'token', system: null, code: 'false' }]);
    expect(of('birthdate')).toEqual([{ param: 'birthdate', kind: 'date', low: Date.UTC(1987, 1, 20), high: Date.UTC(1987, 1, 21) - 1 }]);
    expect(of('general-practitioner')).toEqual([
      { param: 'general-practitioner', kind: 'reference', targetType: 'Practitioner', targetId: '9', url: null },
      { param: 'general-practitioner', kind: 'reference', targetType: 'Organization', targetId: '7', url: 'http://x.org/fhir/Organization/7' },
    ]);
    expect(of('organization')).toEqual([{ param: 'organization', kind: 'reference', targetType: null, targetId: null, url: 'urn:uuid:1234' }]);
  });

  it('where(resolve() is X) keeps only references to X', () => {
    const obs: Resource = { resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'x' }, subject: { reference: 'Group/g1' } };
    const e = auto.extract(obs);
    expect(e.filter((x) => x.param === 'patient')).toEqual([]);
    expect(e.filter((x) => x.param === 'subject')).toHaveLength(1);
    const obs2 = { ...obs, subject: { reference: 'Patient/p1' } };
    expect(auto.extract(obs2).filter((x) => x.param === 'patient')).toEqual([
      { param: 'patient', kind: 'reference', targetType: 'Patient', targetId: 'p1', url: null },
    ]);
  });

  it('periods, quantities, numbers, choice types', () => {
    const obs: Resource = {
      resourceType: 'Observation',
      id: 'o',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '1-8', display: 'Thing' }] },
      effectivePeriod: { start: '2020-01' },
      valueQuantity: { value: 1.5, system: 'http://unitsofmeasure.org', code: 'mg' },
    };
    const e = auto.extract(obs);
    expect(e.filter((x) => x.param === 'date')).toEqual([{ param: 'date', kind: 'date', low: Date.UTC(2020, 0, 1), high: Infinity }]);
    const vq = e.filter((x) => x.param === 'value-quantity');
    expect(vq).toHaveLength(1);
    expect(vq[0]).toMatchObject({ kind: 'quantity', system: 'http://unitsofmeasure.org', code: 'mg' });
    expect((vq[0] as { low: number }).low).toBeCloseTo(1.45);
    expect((vq[0] as { high: number }).high).toBeCloseTo(1.55);
    expect(e.filter((x) => x.param === 'code')).toEqual([
      { param: 'code', kind: 'token', system: 'http://loinc.org', code: '1-8' },
      { param: 'code', kind: 'text', folded: 'thing' },
    ]);
  });

  it('does not throw on malformed values', () => {
    const bad: Resource = { resourceType: 'Patient', id: 'x', birthDate: 'not-a-date', name: 'oops', address: [null, 5], identifier: {} };
    expect(() => auto.extract(bad)).not.toThrow();
    expect(auto.extract(bad).filter((e) => e.param === 'birthdate')).toEqual([]);
  });
});
