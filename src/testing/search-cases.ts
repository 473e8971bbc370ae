/**
 * Search conformance cases for a storage adapter: every predicate kind, modifier and prefix, `none`,
 * `missing`, `ids`, sorting, keyset paging under concurrent writes, `total`, `maxSeq`, tombstones, and a
 * differential test against brute-force `matchClause` over a corpus (the small one here, or one the caller
 * passes, such as the official R4 examples): on the bare adapter, on the adapter given the engine's
 * indexer, and through `FhirEngine.search` with query strings, for a fixed and a fresh seed.
 *
 * Usage: `registerSearchConformance('memory', async () => new MemoryAdapter())`.
 */
import { afterAll, beforeAll, describe, expect, it } from './api.js';
import { FhirEngine } from '../engine.js';
import type { Resource } from '../resource/resource.js';
import { IndexExtractor } from '../search/extract.js';
import { matchClause } from '../search/match.js';
import { SearchParameterRegistry } from '../search/registry.js';
import { sortValue, compareSortValues } from '../search/sort.js';
import type { Clause, Predicate, SearchHit, SortKey, StorageQuery } from '../storage/query.js';
import type { StorageAdapter } from '../storage/storage-adapter.js';
import { differentialSeeds, generateQueries, type CorpusEntry, type DiffQuery } from './differential.js';

/** The resources the differential test loads, e.g. the R4 examples. */
export interface DifferentialCorpus {
  readonly name: string;
  load(): Resource[];
}

let seedsOfThisRun: number[] | undefined;
/** One fresh seed per test file run, printed once. */
const seeds = (): number[] => (seedsOfThisRun ??= differentialSeeds());

const registry = SearchParameterRegistry.r4();
const extractor = new IndexExtractor(registry);

let clock = Date.UTC(2024, 0, 1);
function nextInstant(): string {
  clock += 1000;
  return new Date(clock).toISOString();
}

/** Writes (creates or updates) resources, one unit of work each; returns the seq of each write. */
export async function put(adapter: StorageAdapter, resources: readonly Resource[]): Promise<number[]> {
  const seqs: number[] = [];
  for (const r of resources) {
    const type = r.resourceType;
    const id = r.id as string;
    const seq = await adapter.transact(async (tx) => {
      const cur = await tx.readCurrent({ type, id });
      const versionId = String(cur ? Number(cur.versionId) + 1 : 1);
      const lastUpdated = nextInstant();
      const json = { ...r, meta: { ...(r.meta ?? {}), versionId, lastUpdated } };
      return tx.writeVersion({
        type,
        id,
        versionId,
        expect: cur ? { kind: 'current', versionId: cur.versionId } : { kind: 'absent' },
        lastUpdated,
        method: cur ? 'PUT' : 'POST',
        deleted: false,
        json: JSON.stringify(json),
        index: extractor.extract(json),
      });
    });
    seqs.push(seq);
  }
  return seqs;
}

/** Soft-deletes a resource (tombstone). */
export async function tombstone(adapter: StorageAdapter, type: string, id: string): Promise<void> {
  await adapter.transact(async (tx) => {
    const cur = await tx.readCurrent({ type, id });
    if (!cur) throw new Error('missing');
    const versionId = String(Number(cur.versionId) + 1);
    const lastUpdated = nextInstant();
    await tx.writeVersion({
      type,
      id,
      versionId,
      expect: { kind: 'current', versionId: cur.versionId },
      lastUpdated,
      method: 'DELETE',
      deleted: true,
      json: JSON.stringify({ resourceType: type, id, meta: { versionId, lastUpdated } }),
      index: [],
    });
  });
}

const q = (types: string[], where: Clause[], extra: Partial<StorageQuery> = {}): StorageQuery => ({
  types,
  where,
  sort: [],
  limit: 1000,
  ...extra,
});
const any = (param: string, ...of: Predicate[]): Clause => ({ kind: 'any', param, of });
const ids = (hits: readonly SearchHit[]): string[] => hits.map((h) => h.id).sort();

/** A small hand-made corpus with known values. */
export function smallCorpus(): Resource[] {
  return [
    {
      resourceType: 'Patient',
      id: 'p1',
      active: true,
      gender: 'female',
      birthDate: '1987-02-20',
      name: [{ family: 'Müller', given: ['Anna', 'Maria'] }],
      address: [{ city: 'Zürich', postalCode: '8001', line: ['Bahnhofstrasse 1'] }],
      identifier: [{ system: 'urn:mrn', value: 'A1', type: { text: 'Medical record' } }],
      telecom: [{ system: 'email', value: 'anna@example.org' }],
      generalPractitioner: [{ reference: 'Practitioner/dr1' }],
      managingOrganization: { reference: 'http://other.example/fhir/Organization/o9' },
      meta: { tag: [{ system: 'urn:tags', code: 'vip' }], profile: ['http://example.org/fhir/StructureDefinition/p'] },
    },
    {
      resourceType: 'Patient',
      id: 'p2',
      active: false,
      gender: 'male',
      birthDate: '1990',
      name: [{ family: 'Muller', given: ['Bob'] }],
      address: [{ city: 'Basel' }],
      identifier: [{ value: 'B2' }, { system: 'urn:mrn', value: 'B2x' }],
      generalPractitioner: [{ reference: 'Practitioner/dr2' }],
    },
    {
      resourceType: 'Patient',
      id: 'p3',
      gender: 'female',
      birthDate: '2001-07-04',
      name: [{ family: 'Smith', given: ['Carla'] }],
      address: [{ city: 'Bern' }],
      meta: { tag: [{ system: 'urn:tags', code: 'test' }] },
    },
    {
      resourceType: 'Observation',
      id: 'o1',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8480-6', display: 'Systolic blood pressure' }], text: 'BP sys' },
      subject: { reference: 'Patient/p1' },
      effectiveDateTime: '2020-05-01T10:00:00Z',
      valueQuantity: { value: 120, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
    },
    {
      resourceType: 'Observation',
      id: 'o2',
      status: 'preliminary',
      code: { coding: [{ system: 'http://loinc.org', code: '8310-5' }] },
      subject: { reference: 'Patient/p2' },
      effectivePeriod: { start: '2021-01-01', end: '2021-01-31' },
      valueQuantity: { value: 37.5, unit: 'Cel', system: 'http://unitsofmeasure.org', code: 'Cel' },
    },
    {
      resourceType: 'Observation',
      id: 'o3',
      status: 'final',
      code: { coding: [{ code: 'local-1' }] },
      subject: { reference: 'Patient/p1' },
      effectivePeriod: { start: '2022-03-01' },
      valueQuantity: { value: 0.5, unit: 'mg', code: 'mg' },
    },
    {
      resourceType: 'RiskAssessment',
      id: 'r1',
      status: 'final',
      subject: { reference: 'Patient/p1' },
      prediction: [{ probabilityDecimal: 0.25 }],
    },
    {
      resourceType: 'RiskAssessment',
      id: 'r2',
      status: 'final',
      subject: { reference: 'Patient/p2' },
      prediction: [{ probabilityRange: { low: { value: 0.1 }, high: { value: 0.4 } } }],
    },
    {
      resourceType: 'ValueSet',
      id: 'v1',
      status: 'active',
      url: 'http://example.org/fhir/ValueSet/a/b',
    },
    {
      resourceType: 'ValueSet',
      id: 'v2',
      status: 'active',
      url: 'http://example.org/fhir/ValueSet/a',
    },
  ];
}

/** Registers the search conformance cases for an adapter. */
export function registerSearchConformance(
  name: string,
  makeAdapter: () => Promise<StorageAdapter>,
  differentialCorpus: DifferentialCorpus = { name: 'the small corpus', load: smallCorpus },
): void {
  describe(`search conformance: ${name}`, () => {
    describe('predicates', () => {
      let a: StorageAdapter;
      beforeAll(async () => {
        a = await makeAdapter();
        await put(a, smallCorpus());
      });
      const run = async (types: string[], where: Clause[]) => ids((await a.search(q(types, where))).hits);

      it('token: code, system|code, |code, system|', async () => {
        expect(await run(['Patient'], [any('identifier', { kind: 'token', code: 'A1' })])).toEqual(['p1']);
        expect(await run(['Patient'], [any('identifier', { kind: 'token', system: 'urn:mrn', code: 'B2x' })])).toEqual(['p2']);
        expect(await run(['Patient'], [any('identifier', { kind: 'token', system: null, code: 'B2' })])).toEqual(['p2']);
        expect(await run(['Patient'], [any('identifier', { kind: 'token', system: null, code: 'A1' })])).toEqual([]);
        expect(await run(['Patient'], [any('identifier', { kind: 'token', system: 'urn:mrn' })])).toEqual(['p1', 'p2']);
        expect(await run(['Patient'], [any('gender', { kind: 'token', code: 'female' })])).toEqual(['p1', 'p3']);
        expect(await run(['Patient'], [any('active', { kind: 'token', code: 'true' })])).toEqual(['p1']);
        expect(await run(['Observation'], [any('code', { kind: 'token', system: 'http://loinc.org', code: '8480-6' }, { kind: 'token', code: 'local-1' })])).toEqual(['o1', 'o3']);
        expect(await run(['Patient'], [any('_tag', { kind: 'token', system: 'urn:tags', code: 'vip' })])).toEqual(['p1']);
        expect(await run(['Patient'], [any('_id', { kind: 'token', code: 'p2' })])).toEqual(['p2']);
      });

      it('token :not (none) includes resources without the parameter', async () => {
        expect(await run(['Patient'], [{ kind: 'none', param: 'gender', of: [{ kind: 'token', code: 'male' }] }])).toEqual(['p1', 'p3']);
        expect(await run(['Patient'], [{ kind: 'none', param: 'active', of: [{ kind: 'token', code: 'false' }] }])).toEqual(['p1', 'p3']);
      });

      it('text (:text)', async () => {
        expect(await run(['Observation'], [any('code', { kind: 'text', folded: 'systolic' })])).toEqual(['o1']);
        expect(await run(['Observation'], [any('code', { kind: 'text', folded: 'bp' })])).toEqual(['o1']);
        expect(await run(['Patient'], [any('identifier', { kind: 'text', folded: 'medical' })])).toEqual(['p1']);
      });

      it('string: prefix (accent/case-insensitive), contains, exact', async () => {
        const s = (match: 'prefix' | 'contains' | 'exact', folded: string, exact = folded): Predicate => ({ kind: 'string', match, folded, exact });
        expect(await run(['Patient'], [any('family', s('prefix', 'mul'))])).toEqual(['p1', 'p2']);
        expect(await run(['Patient'], [any('family', s('exact', 'muller', 'Müller'))])).toEqual(['p1']);
        expect(await run(['Patient'], [any('family', s('contains', 'ith'))])).toEqual(['p3']);
        expect(await run(['Patient'], [any('name', s('prefix', 'anna maria'))])).toEqual(['p1']);
        expect(await run(['Patient'], [any('address-city', s('prefix', 'zur'), s('prefix', 'bas'))])).toEqual(['p1', 'p2']);
        expect(await run(['Patient'], [any('address', s('prefix', 'bahnhof'))])).toEqual(['p1']);
        expect(await run(['Patient'], [any('family', s('prefix', 'x'))])).toEqual([]);
      });

      it('date: every prefix', async () => {
        const d = (op: Predicate & { kind: 'date' } extends infer P ? P extends { op: infer O } ? O : never : never, low: string, high: string): Predicate => ({
          kind: 'date',
          op,
          low: Date.parse(low),
          high: Date.parse(high),
        });
        const y1990 = ['1990-01-01T00:00:00.000Z', '1990-12-31T23:59:59.999Z'] as const;
        expect(await run(['Patient'], [any('birthdate', d('eq', ...y1990))])).toEqual(['p2']);
        expect(await run(['Patient'], [any('birthdate', d('ne', ...y1990))])).toEqual(['p1', 'p3']);
        expect(await run(['Patient'], [any('birthdate', d('gt', ...y1990))])).toEqual(['p3']);
        expect(await run(['Patient'], [any('birthdate', d('ge', ...y1990))])).toEqual(['p2', 'p3']);
        expect(await run(['Patient'], [any('birthdate', d('lt', ...y1990))])).toEqual(['p1']);
        expect(await run(['Patient'], [any('birthdate', d('le', ...y1990))])).toEqual(['p1', 'p2']);
        expect(await run(['Patient'], [any('birthdate', d('sa', ...y1990))])).toEqual(['p3']);
        expect(await run(['Patient'], [any('birthdate', d('eb', ...y1990))])).toEqual(['p1']);
        expect(await run(['Patient'], [any('birthdate', d('ap', '1986-06-01T00:00:00.000Z', '1988-01-01T00:00:00.000Z'))])).toEqual(['p1']);
        // periods, open end = +Infinity
        expect(await run(['Observation'], [any('date', d('eq', '2021-01-01T00:00:00.000Z', '2021-01-31T23:59:59.999Z'))])).toEqual(['o2']);
        expect(await run(['Observation'], [any('date', d('gt', '2030-01-01T00:00:00.000Z', '2030-12-31T23:59:59.999Z'))])).toEqual(['o3']);
        expect(await run(['Observation'], [any('date', d('sa', '2020-12-31T00:00:00.000Z', '2020-12-31T23:59:59.999Z'))])).toEqual(['o2', 'o3']);
      });

      it('number and quantity with prefixes and units', async () => {
        const n = (op: 'eq' | 'gt' | 'lt' | 'ge' | 'le' | 'ne' | 'sa' | 'eb' | 'ap', low: number, high: number): Predicate => ({ kind: 'number', op, low, high });
        expect(await run(['RiskAssessment'], [any('probability', n('eq', 0.245, 0.255))])).toEqual(['r1']);
        expect(await run(['RiskAssessment'], [any('probability', n('gt', 0.295, 0.305))])).toEqual(['r2']);
        expect(await run(['RiskAssessment'], [any('probability', n('lt', 0.045, 0.055))])).toEqual([]);
        expect(await run(['RiskAssessment'], [any('probability', n('lt', 0.095, 0.105))])).toEqual(['r2']);
        expect(await run(['RiskAssessment'], [any('probability', n('ne', 0.245, 0.255))])).toEqual(['r2']);
        const qty = (op: 'eq' | 'gt' | 'lt' | 'ge' | 'le' | 'ap', low: number, high: number, system?: string, code?: string): Predicate => ({
          kind: 'quantity',
          op,
          low,
          high,
          ...(system !== undefined ? { system } : {}),
          ...(code !== undefined ? { code } : {}),
        });
        expect(await run(['Observation'], [any('value-quantity', qty('eq', 119.5, 120.5))])).toEqual(['o1']);
        expect(await run(['Observation'], [any('value-quantity', qty('eq', 119.5, 120.5, 'http://unitsofmeasure.org', 'mm[Hg]'))])).toEqual(['o1']);
        expect(await run(['Observation'], [any('value-quantity', qty('eq', 119.5, 120.5, undefined, 'Cel'))])).toEqual([]);
        expect(await run(['Observation'], [any('value-quantity', qty('gt', 36.5, 37.5))])).toEqual(['o1', 'o2']);
        expect(await run(['Observation'], [any('value-quantity', qty('le', 0.45, 0.55, undefined, 'mg'))])).toEqual(['o3']);
        expect(await run(['Observation'], [any('value-quantity', qty('ap', 108, 132))])).toEqual(['o1']);
      });

      it('reference: Type/id, id, type only, url', async () => {
        expect(await run(['Observation'], [any('subject', { kind: 'reference', targetType: 'Patient', targetId: 'p1' })])).toEqual(['o1', 'o3']);
        expect(await run(['Observation'], [any('patient', { kind: 'reference', targetId: 'p2' })])).toEqual(['o2']);
        expect(await run(['Patient'], [any('general-practitioner', { kind: 'reference', targetType: 'Practitioner', targetId: 'dr2' })])).toEqual(['p2']);
        expect(await run(['Patient'], [any('organization', { kind: 'reference', url: 'http://other.example/fhir/Organization/o9' })])).toEqual(['p1']);
        expect(await run(['Patient'], [any('organization', { kind: 'reference', targetType: 'Organization', targetId: 'o9' })])).toEqual(['p1']);
        expect(await run(['Patient'], [any('general-practitioner', { kind: 'reference', targetType: 'Practitioner' })])).toEqual(['p1', 'p2']);
      });

      it('uri: exact, below, above', async () => {
        const u = (match: 'exact' | 'above' | 'below', value: string): Predicate => ({ kind: 'uri', match, value });
        expect(await run(['ValueSet'], [any('url', u('exact', 'http://example.org/fhir/ValueSet/a'))])).toEqual(['v2']);
        expect(await run(['ValueSet'], [any('url', u('below', 'http://example.org/fhir/ValueSet/a'))])).toEqual(['v1', 'v2']);
        expect(await run(['ValueSet'], [any('url', u('below', 'http://example.org/fhir/ValueSet/a/b'))])).toEqual(['v1']);
        expect(await run(['ValueSet'], [any('url', u('above', 'http://example.org/fhir/ValueSet/a/b/c'))])).toEqual(['v1', 'v2']);
        // Whole path segments only: `…/ValueSe` is no parent of `…/ValueSet/a`, nor `…/a/b` of `…/a/bc`.
        expect(await run(['ValueSet'], [any('url', u('below', 'http://example.org/fhir/ValueSe'))])).toEqual([]);
        expect(await run(['ValueSet'], [any('url', u('above', 'http://example.org/fhir/ValueSet/a/bc'))])).toEqual(['v2']);
        expect(await run(['Patient'], [any('_profile', u('exact', 'http://example.org/fhir/StructureDefinition/p'))])).toEqual(['p1']);
      });

      it('missing, ids, AND of clauses, several types, empty OR', async () => {
        expect(await run(['Patient'], [{ kind: 'missing', param: 'active', missing: true }])).toEqual(['p3']);
        expect(await run(['Patient'], [{ kind: 'missing', param: 'active', missing: false }])).toEqual(['p1', 'p2']);
        expect(await run(['Patient'], [{ kind: 'ids', ids: ['p1', 'p3', 'nope', 'p1'] }])).toEqual(['p1', 'p3']);
        expect(await run(['Patient'], [{ kind: 'ids', ids: [] }])).toEqual([]);
        expect(await run(['Patient'], [any('gender', { kind: 'token', code: 'female' }), any('family', { kind: 'string', match: 'prefix', folded: 'sm', exact: 'sm' })])).toEqual(['p3']);
        expect(await run(['Patient', 'Observation'], [any('_id', { kind: 'token', code: 'p1' }, { kind: 'token', code: 'o1' })])).toEqual(['o1', 'p1']);
        expect(await run(['Patient'], [any('gender')])).toEqual([]);
        expect(await run(['Patient'], [])).toEqual(['p1', 'p2', 'p3']);
      });

      it('total ignores limit and after', async () => {
        const r = await a.search(q(['Patient'], [], { limit: 1, total: true }));
        expect(r.hits.length).toBe(1);
        expect(r.total).toBe(3);
        const r2 = await a.search(q(['Patient'], [], { limit: 1, total: true, after: r.hits[0]!.position }));
        expect(r2.total).toBe(3);
        expect(r2.hits[0]!.id).not.toBe(r.hits[0]!.id);
        const r0 = await a.search(q(['Patient'], [], { limit: 0, total: true }));
        expect(r0.hits).toEqual([]);
        expect(r0.total).toBe(3);
      });

      it('hits carry the current version and its json (unless keysOnly)', async () => {
        const r = await a.search(q(['Patient'], [any('_id', { kind: 'token', code: 'p1' })]));
        const hit = r.hits[0]!;
        expect(hit.type).toBe('Patient');
        expect(hit.deleted).toBe(false);
        expect(JSON.parse(hit.json!).id).toBe('p1');
        expect(typeof hit.position).toBe('string');
      });

      it('sort: asc/desc, multi-key, missing values last', async () => {
        const sorted = async (sort: SortKey[], types = ['Patient']) => (await a.search(q(types, [], { sort }))).hits.map((h) => h.id);
        expect(await sorted([{ param: 'birthdate', descending: false }])).toEqual(['p1', 'p2', 'p3']);
        expect(await sorted([{ param: 'birthdate', descending: true }])).toEqual(['p3', 'p2', 'p1']);
        expect(await sorted([{ param: 'family', descending: false }])).toEqual(['p1', 'p2', 'p3']);
        expect(await sorted([{ param: 'gender', descending: false }, { param: 'birthdate', descending: true }])).toEqual(['p3', 'p1', 'p2']);
        expect(await sorted([{ param: 'active', descending: false }])).toEqual(['p2', 'p1', 'p3']);
        expect(await sorted([{ param: 'active', descending: true }])).toEqual(['p1', 'p2', 'p3']);
        expect(await sorted([{ param: '_id', descending: true }])).toEqual(['p3', 'p2', 'p1']);
      });
    });

    describe('lifecycle', () => {
      it('tombstones and hard deletes are not returned; updates replace entries', async () => {
        const a = await makeAdapter();
        await put(a, smallCorpus().filter((r) => r.resourceType === 'Patient'));
        await tombstone(a, 'Patient', 'p2');
        expect(ids((await a.search(q(['Patient'], []))).hits)).toEqual(['p1', 'p3']);
        expect(ids((await a.search(q(['Patient'], [any('family', { kind: 'string', match: 'prefix', folded: 'mul', exact: 'mul' })]))).hits)).toEqual(['p1']);
        await put(a, [{ resourceType: 'Patient', id: 'p1', name: [{ family: 'Other' }] }]);
        expect(ids((await a.search(q(['Patient'], [any('family', { kind: 'string', match: 'prefix', folded: 'mul', exact: 'mul' })]))).hits)).toEqual([]);
        expect(ids((await a.search(q(['Patient'], [any('family', { kind: 'string', match: 'prefix', folded: 'oth', exact: 'oth' })]))).hits)).toEqual(['p1']);
        await a.transact((tx) => tx.purge({ type: 'Patient', id: 'p3' }, 'none'));
        expect(ids((await a.search(q(['Patient'], []))).hits)).toEqual(['p1']);
        // a resurrected resource is searchable again
        await put(a, [{ resourceType: 'Patient', id: 'p2', gender: 'other' }]);
        expect(ids((await a.search(q(['Patient'], [any('gender', { kind: 'token', code: 'other' })]))).hits)).toEqual(['p2']);
      });

      it('maxSeq hides later writes', async () => {
        const a = await makeAdapter();
        const seqs = await put(a, [
          { resourceType: 'Patient', id: 'a' },
          { resourceType: 'Patient', id: 'b' },
          { resourceType: 'Patient', id: 'c' },
        ]);
        expect(ids((await a.search(q(['Patient'], [], { maxSeq: seqs[1] }))).hits)).toEqual(['a', 'b']);
        await put(a, [{ resourceType: 'Patient', id: 'a', gender: 'male' }]);
        expect(ids((await a.search(q(['Patient'], [], { maxSeq: seqs[2] }))).hits)).toEqual(['b', 'c']);
      });

      it('paging with after visits every match exactly once, even with writes between pages', async () => {
        const a = await makeAdapter();
        const n = 57;
        const patients: Resource[] = [];
        for (let i = 0; i < n; i++) {
          patients.push({ resourceType: 'Patient', id: `pg${String(i).padStart(3, '0')}`, gender: i % 2 ? 'male' : 'female', birthDate: `19${50 + (i % 40)}-01-0${1 + (i % 9)}` });
        }
        await put(a, patients);
        for (const sort of [[], [{ param: 'birthdate', descending: false }], [{ param: 'birthdate', descending: true }, { param: 'gender', descending: false }]] as SortKey[][]) {
          const seen: string[] = [];
          let after: string | undefined;
          let round = 0;
          for (;;) {
            const r = await a.search(q(['Patient'], [], { sort, limit: 10, ...(after ? { after } : {}) }));
            seen.push(...r.hits.map((h) => h.id));
            if (r.hits.length < 10) break;
            after = r.hits[r.hits.length - 1]!.position;
            // concurrent writes: an update of a visited resource (same sort values), a new resource
            round++;
            await put(a, [{ ...(patients[round] as Resource), active: true }, { resourceType: 'Patient', id: `new${sort.length}${round}`, birthDate: '1800' }]);
          }
          const original = seen.filter((id) => id.startsWith('pg'));
          expect(original.sort()).toEqual(patients.map((p) => p.id).sort());
          expect(new Set(seen).size).toBe(seen.length);
        }
      });
    });

    describe(`differential: adapter vs brute-force matchClause over ${differentialCorpus.name}`, () => {
      let a: StorageAdapter;
      let lazy: StorageAdapter;
      let engine: FhirEngine;
      const corpus: CorpusEntry[] = [];
      const queries = new Map<number, DiffQuery[]>();
      beforeAll(async () => {
        const resources = differentialCorpus.load();
        const startedAt = clock;
        a = await makeAdapter();
        await put(a, resources);
        for (const r of resources) {
          const hit = await a.readCurrent({ type: r.resourceType, id: r.id as string });
          corpus.push({ type: r.resourceType, id: r.id as string, entries: extractor.extract(JSON.parse(hit!.json!) as Resource) });
        }
        for (const seed of seeds()) queries.set(seed, generateQueries(corpus, seed));
        // As in production: the engine hands its indexer over before anything is written (the memory
        // adapter then indexes each parameter on its first search, from the stored JSON).
        lazy = await makeAdapter();
        engine = new FhirEngine({ storage: lazy });
        clock = startedAt; // the same meta.lastUpdated as in `a`, which the oracle's entries come from
        await put(lazy, resources);
      }, 120_000);
      afterAll(async () => {
        await a?.close();
        await engine?.close();
      });

      const expected = (query: DiffQuery): string[] =>
        corpus
          .filter((c) => c.type === query.type && query.where.every((cl) => matchClause(c.entries, cl, c.id)))
          .map((c) => c.id)
          .sort();

      /**
       * Runs every `stride`th query of every seed through `search`; fails on the first difference, naming
       * seed and query. Returns how many ran (`search` answers undefined for a query it cannot run).
       */
      const compare = async (search: (query: DiffQuery) => Promise<string[] | undefined>, stride = 1): Promise<number> => {
        let run = 0;
        for (const [seed, all] of queries) {
          const list = all.filter((_, i) => i % stride === 0);
          let nonEmpty = 0;
          for (const query of list) {
            const got = await search(query);
            if (got === undefined) continue;
            run++;
            const want = expected(query);
            if (JSON.stringify(got) !== JSON.stringify(want)) {
              const shown = JSON.stringify(query);
              expect({ seed, query: shown, got }).toEqual({ seed, query: shown, got: want });
            }
            if (want.length > 0) nonEmpty++;
          }
          expect(nonEmpty).toBeGreaterThan(list.length / 4);
        }
        return run;
      };

      // Over the 641 R4 examples these are many thousand queries (about 1,500 compartment memberships):
      // about a minute on PostgreSQL when the machine is busy, hence the longer timeout.
      it('generated queries (single values, ORs, :not, :missing, ANDs, _id lists) give the same ids', async () => {
        expect([...queries.values()].every((l) => l.length > Math.min(2000, corpus.length * 3))).toBe(true);
        await compare(async (query) => ids((await a.search(q([query.type], [...query.where], { limit: 100_000 }))).hits));
      }, 180_000);

      // Every other query is enough to reach every parameter through the two production paths below.
      it("… and the same through the engine's indexer (the lazy index path, where the adapter has one)", async () => {
        await compare(async (query) => ids((await lazy.search(q([query.type], [...query.where], { limit: 100_000 }))).hits), 2);
      });

      it('… and the same as query strings through FhirEngine.search', async () => {
        const run = await compare(async (query) => {
          if (query.qs === undefined) return undefined;
          const bundle = await engine.search(query.type, `${query.qs}&_count=1000`);
          return (bundle.entry ?? []).map((e) => e.resource!.id!).sort();
        }, 2);
        expect(run).toBeGreaterThan([...queries.values()].reduce((n, l) => n + l.length, 0) / 6);
      });

      it('paging (small limits, several sorts) returns the full result in the same order', async () => {
        const cases: { type: string; where: Clause[] }[] = [
          { type: 'Observation', where: [] },
          { type: 'Observation', where: [{ kind: 'any', param: 'status', of: [{ kind: 'token', code: 'final' }] }] },
          { type: 'Observation', where: [{ kind: 'any', param: 'date', of: [{ kind: 'date', op: 'ge', low: Date.UTC(2012, 0, 1), high: Date.UTC(2013, 0, 1) - 1 }] }] },
          { type: 'Observation', where: [{ kind: 'none', param: 'code', of: [{ kind: 'token', system: 'http://loinc.org' }] }] },
          { type: 'Patient', where: [{ kind: 'missing', param: 'birthdate', missing: false }] },
          { type: 'MedicationRequest', where: [] },
        ];
        const sorts: SortKey[][] = [
          [],
          [{ param: 'date', descending: false }],
          [{ param: 'date', descending: true }],
          [{ param: '_lastUpdated', descending: true }],
          [{ param: 'birthdate', descending: false }],
          [{ param: 'authoredon', descending: true }, { param: '_id', descending: false }],
          [{ param: 'code', descending: false }],
        ];
        for (const c of cases) {
          for (const sort of sorts) {
            const full = (await a.search(q([c.type], c.where, { sort, limit: 100_000, total: true }))).hits.map((h) => h.id);
            for (const limit of [1, 3, 7]) {
              const paged: string[] = [];
              let after: string | undefined;
              for (let guard = 0; guard < 1000; guard++) {
                const r = await a.search(q([c.type], c.where, { sort, limit, ...(after ? { after } : {}) }));
                paged.push(...r.hits.map((h) => h.id));
                if (r.hits.length < limit) break;
                after = r.hits[r.hits.length - 1]!.position;
              }
              expect({ c, sort, limit, paged }).toEqual({ c, sort, limit, paged: full });
            }
          }
        }
      });

      it('sorted results agree with sortValue', async () => {
        for (const [type, param] of [['Observation', 'date'], ['Patient', 'family'], ['Observation', 'code'], ['MedicationRequest', 'authoredon']] as const) {
          for (const descending of [false, true]) {
            const key = { param, descending };
            const got = (await a.search(q([type], [], { sort: [key], limit: 100_000 }))).hits.map((h) => h.id);
            const expected = corpus
              .filter((c) => c.type === type)
              .map((c) => ({ id: c.id, v: sortValue(c.entries, key) }))
              .sort((x, y) => compareSortValues(x.v, y.v, descending) || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
              .map((x) => x.id);
            expect(got).toEqual(expected);
          }
        }
      });
    });
  });
}
