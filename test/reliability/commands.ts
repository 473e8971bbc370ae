/**
 * The command language of the differential test: fast-check arbitraries for HTTP-shaped requests
 * (create, update with and without If-Match, both kinds of patch, soft and hard delete, conditional
 * create/update/delete, `$purge-history`, batch, transaction, search with sorting and paging, history).
 *
 * Requests draw ids, names and dates from small pools, so that sequences hit the interesting cases
 * often: updates of resources that exist and that do not, conditional matches of none, one and
 * several, ties in sort keys, If-Match right and wrong.
 */
import fc from 'fast-check';

import type { FhirHttpRequest } from '../../src/http/request.js';

/** One step: a request, or "follow the `next` link of the last search" (each engine follows its own). */
export type Step = { readonly kind: 'request'; readonly request: FhirHttpRequest } | { readonly kind: 'next' };

const FHIR_JSON = 'application/fhir+json';

/** Server-assigned ids are `1`, `2`…; client ids `p1`…; `zz` never exists. */
const id = fc.constantFrom('1', '2', '3', '4', '5', '6', 'p1', 'p2', 'p3', 'zz');
const clientId = fc.constantFrom('p1', 'p2', 'p3');
// Case, accents and spaces: where collations (JavaScript, SQLite, PostgreSQL's "C") could disagree.
// Fullwidth 'Ｚ' (U+FF3A) and an emoji (U+1F600) sort in opposite orders by UTF-16 code units and by UTF-8 bytes.
const family = fc.constantFrom('Smith', 'Jones', 'Brown', 'Smithson', 'smith', 'Ågren', 'Agren', 'van Dyke', 'Ｚed', '😀x', "O'Brien", 'Ærø');
const given = fc.constantFrom('Ann', 'Bob', 'Cy', 'Zoë', 'ann');
const birthDate = fc.constantFrom('1970-01-01', '1980-06-15', '1980-06-15', '1999-12-31', '2001', '2001-03', '2001-03-01');
const etag = fc.constantFrom('W/"1"', 'W/"2"', 'W/"3"', 'W/"4"', '"1"', 'W/"x"');
const prefer = fc.constantFrom(undefined, 'return=minimal', 'return=representation', 'return=OperationOutcome');

const patient = fc.record(
  {
    active: fc.boolean(),
    name: fc.array(fc.record({ family, given: fc.array(given, { minLength: 1, maxLength: 2 }) }), { minLength: 1, maxLength: 2 }),
    birthDate,
    gender: fc.constantFrom('male', 'female', 'other', 'unknown'),
    meta: fc.record({ tag: fc.array(fc.constantFrom({ system: 'urn:t', code: 'A' }, { system: 'urn:t', code: 'B' }), { minLength: 1, maxLength: 1 }) }),
  },
  { requiredKeys: ['name'] },
).map((p) => ({ resourceType: 'Patient', ...p }));

const observation = fc
  .record({
    subject: fc.constantFrom('Patient/1', 'Patient/2', 'Patient/p1', 'Patient/zz'),
    value: fc.constantFrom(0, 1, 1.0, 1.5, 1.50, 2, 10, 0.1, -3, 1e3),
    effective: fc.constantFrom('2026-01-01', '2026-01-01T10:00:00Z', '2026-01-01T10:00:00+02:00', '2025', '2026-01'),
  })
  .map(({ subject, value, effective }) => ({
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'count' },
    subject: { reference: subject },
    effectiveDateTime: effective,
    valueQuantity: { value, unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' },
  }));

/** A search query on Patient: criteria, a sort, a page size, sometimes a total or a summary. */
const patientQuery = fc
  .record(
    {
      criteria: fc.array(
        fc.oneof(
          family.map((f) => `family=${f}`),
          family.map((f) => `name:exact=${f}`),
          fc.constantFrom('name=ag', 'name:contains=mit', 'given=an', 'name=van%20d', 'family:missing=true', 'birthdate:missing=true'),
          fc.constantFrom('birthdate=ge1980', 'birthdate=lt1980-06-15', 'birthdate=2001', 'gender=female', 'active=true', 'active=false'),
          fc.constantFrom('_tag=urn:t|A', '_tag=B', '_id=1,2,p1', '_lastUpdated=gt2026-01-01T00:00:10Z'),
        ),
        { maxLength: 2 },
      ),
      sort: fc.constantFrom('family', '-family', 'birthdate,-_id', '-birthdate', '_lastUpdated', '-_lastUpdated', 'given,family', '_id'),
      count: fc.integer({ min: 1, max: 5 }),
      extra: fc.constantFrom('_total=accurate', '_summary=count', '_elements=name', '_revinclude=Observation:subject'),
    },
    { requiredKeys: ['criteria', 'count'] },
  )
  .map(({ criteria, sort, count, extra }) => [...criteria, ...(sort ? [`_sort=${sort}`] : []), `_count=${count}`, ...(extra ? [extra] : [])].join('&'));

/** Criteria for conditional interactions: match none, one or several. */
const condition = fc.oneof(
  family.map((f) => `family=${f}`),
  fc.constantFrom('_id=1', '_id=p2', 'birthdate=1980-06-15', 'gender=male', '_tag=A'),
);

const headers = (h: Record<string, string | undefined>): Record<string, string> =>
  Object.fromEntries(Object.entries(h).filter((e): e is [string, string] => e[1] !== undefined));

const req = (request: FhirHttpRequest): Step => ({ kind: 'request', request });

const jsonPatch = fc.oneof(
  fc.boolean().map((b) => [{ op: 'replace', path: '/active', value: b }]),
  fc.boolean().map((b) => [{ op: 'add', path: '/active', value: b }]),
  family.map((f) => [{ op: 'add', path: '/name/-', value: { family: f } }]),
  fc.constant([{ op: 'remove', path: '/birthDate' }]),
  fc.constant([{ op: 'test', path: '/gender', value: 'male' }, { op: 'replace', path: '/gender', value: 'female' }]),
  fc.constant([{ op: 'replace', path: '/id', value: 'other' }]),
);

const fhirPathPatch = fc.oneof(
  fc.boolean().map((b) => ({ type: 'replace', path: 'Patient.active', value: { name: 'value', valueBoolean: b } })),
  birthDate.map((d) => ({ type: 'replace', path: 'Patient.birthDate', value: { name: 'value', valueDate: d } })),
  family.map((f) => ({ type: 'add', path: 'Patient', name: 'name', value: { name: 'value', valueHumanName: { family: f } } })),
  fc.constant({ type: 'delete', path: 'Patient.name[0]' }),
  fc.constant({ type: 'insert', path: 'Patient.name', index: 0, value: { name: 'value', valueHumanName: { family: 'Brown' } } }),
).map((op) => {
  const { type, path, value, ...rest } = op as { type: string; path: string; value?: { name: string } & Record<string, unknown> } & Record<string, unknown>;
  const parts: object[] = [{ name: 'type', valueCode: type }, { name: 'path', valueString: path }];
  if ('name' in rest) parts.push({ name: 'name', valueString: rest.name });
  if ('index' in rest) parts.push({ name: 'index', valueInteger: rest.index });
  if (value) parts.push(value);
  return { resourceType: 'Parameters', parameter: [{ name: 'operation', part: parts }] };
});

/** Requests that may go into a batch or a transaction, as Bundle entries. */
const entry = fc.oneof(
  fc.tuple(patient, fc.option(condition, { nil: undefined })).map(([resource, ifNoneExist]) => ({
    resource,
    request: { method: 'POST', url: 'Patient', ...(ifNoneExist && { ifNoneExist }) },
  })),
  fc.tuple(clientId, patient, fc.option(etag, { nil: undefined, freq: 2 })).map(([i, resource, ifMatch]) => ({
    resource: { ...resource, id: i },
    request: { method: 'PUT', url: `Patient/${i}`, ...(ifMatch && { ifMatch }) },
  })),
  fc.tuple(condition, patient).map(([c, resource]) => ({ resource, request: { method: 'PUT', url: `Patient?${c}` } })),
  id.map((i) => ({ request: { method: 'DELETE', url: `Patient/${i}` } })),
  condition.map((c) => ({ request: { method: 'DELETE', url: `Patient?${c}` } })),
  id.map((i) => ({ request: { method: 'GET', url: `Patient/${i}` } })),
  patientQuery.map((q) => ({ request: { method: 'GET', url: `Patient?${q}` } })),
  observation.map((resource) => ({ resource, request: { method: 'POST', url: 'Observation' } })),
);

/** A transaction that creates a Patient and an Observation pointing at it through a `urn:uuid:` fullUrl. */
const linkedPair = fc.tuple(patient, observation).map(([p, o]) => [
  { fullUrl: 'urn:uuid:4f9b4b8e-0000-4000-8000-000000000001', resource: p, request: { method: 'POST', url: 'Patient' } },
  {
    fullUrl: 'urn:uuid:4f9b4b8e-0000-4000-8000-000000000002',
    resource: { ...o, subject: { reference: 'urn:uuid:4f9b4b8e-0000-4000-8000-000000000001' } },
    request: { method: 'POST', url: 'Observation' },
  },
]);

const bundle = (type: 'batch' | 'transaction', entries: readonly object[]): Step =>
  req({ method: 'POST', url: '/', headers: { 'content-type': FHIR_JSON }, body: JSON.stringify({ resourceType: 'Bundle', type, entry: entries }) });

/** One step of a sequence. Weights favour writes, so that sequences build up state. */
export const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(patient, prefer).map(([p, pr]) => req({ method: 'POST', url: 'Patient', headers: headers({ 'content-type': FHIR_JSON, prefer: pr }), body: JSON.stringify(p) })) },
  { weight: 2, arbitrary: observation.map((o) => req({ method: 'POST', url: 'Observation', headers: { 'content-type': FHIR_JSON }, body: JSON.stringify(o) })) },
  {
    weight: 5,
    arbitrary: fc.tuple(id, patient, fc.option(etag, { nil: undefined, freq: 2 }), prefer).map(([i, p, ifMatch, pr]) =>
      req({ method: 'PUT', url: `Patient/${i}`, headers: headers({ 'content-type': FHIR_JSON, 'if-match': ifMatch, prefer: pr }), body: JSON.stringify({ ...p, id: i }) }),
    ),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(id, jsonPatch, fc.option(etag, { nil: undefined, freq: 2 })).map(([i, ops, ifMatch]) =>
      req({ method: 'PATCH', url: `Patient/${i}`, headers: headers({ 'content-type': 'application/json-patch+json', 'if-match': ifMatch }), body: JSON.stringify(ops) }),
    ),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(id, fhirPathPatch, fc.option(etag, { nil: undefined, freq: 2 })).map(([i, params, ifMatch]) =>
      req({ method: 'PATCH', url: `Patient/${i}`, headers: headers({ 'content-type': FHIR_JSON, 'if-match': ifMatch }), body: JSON.stringify(params) }),
    ),
  },
  { weight: 2, arbitrary: fc.tuple(id, fc.boolean()).map(([i, hard]) => req({ method: 'DELETE', url: `Patient/${i}${hard ? '?_hardDelete=true' : ''}` })) },
  {
    weight: 2,
    arbitrary: fc.tuple(patient, condition).map(([p, c]) => req({ method: 'POST', url: 'Patient', headers: { 'content-type': FHIR_JSON, 'if-none-exist': c }, body: JSON.stringify(p) })),
  },
  { weight: 2, arbitrary: fc.tuple(patient, condition).map(([p, c]) => req({ method: 'PUT', url: `Patient?${c}`, headers: { 'content-type': FHIR_JSON }, body: JSON.stringify(p) })) },
  {
    weight: 1,
    arbitrary: fc.tuple(condition, fc.boolean(), fc.constantFrom('', '&_count=5')).map(([c, hard, count]) =>
      req({ method: 'DELETE', url: `Patient?${c}${hard ? '&_hardDelete=true' : ''}${count}` }),
    ),
  },
  { weight: 1, arbitrary: id.map((i) => req({ method: 'DELETE', url: `Patient/${i}/$purge-history` })) },
  { weight: 2, arbitrary: fc.array(entry, { minLength: 1, maxLength: 5 }).map((e) => bundle('batch', e)) },
  {
    weight: 2,
    arbitrary: fc.oneof(fc.array(entry, { minLength: 1, maxLength: 5 }), linkedPair).map((e) => bundle('transaction', e)),
  },
  { weight: 3, arbitrary: id.map((i) => req({ method: 'GET', url: `Patient/${i}` })) },
  { weight: 1, arbitrary: fc.tuple(id, fc.constantFrom('1', '2', '3')).map(([i, v]) => req({ method: 'GET', url: `Patient/${i}/_history/${v}` })) },
  { weight: 5, arbitrary: patientQuery.map((q) => req({ method: 'GET', url: `Patient?${q}` })) },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(
        'Observation?subject=Patient/1&_include=Observation:subject',
        'Observation?_sort=-_lastUpdated&_count=2',
        'Observation?value-quantity=gt1&_sort=date',
        'Observation?value-quantity=1&_count=3',
        'Observation?value-quantity=le1.5|http://unitsofmeasure.org|mg&_sort=-date,_id',
        'Observation?date=2026-01-01&_sort=date&_count=2',
        'Observation?date=ge2026-01-01T09:00:00Z&_sort=-date',
        'Observation?subject:Patient.family=Smith&_include=Observation:subject',
        'Observation?subject.name=smi&_count=2',
        'Patient?_has:Observation:subject:value-quantity=gt1&_sort=_id',
        'Patient?_revinclude=Observation:subject&_sort=-_id&_count=2',
        'Observation?_summary=count',
        'Patient?_summary=true&_sort=family&_count=3',
        'Patient?_count=0&_total=accurate',
      )
      .map((url) => req({ method: 'GET', url })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(condition, jsonPatch).map(([c, ops]) => req({ method: 'PATCH', url: `Patient?${c}`, headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify(ops) })),
  },
  { weight: 3, arbitrary: fc.constant<Step>({ kind: 'next' }) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom('Patient/1/_history', 'Patient/p1/_history', 'Patient/_history', '_history', 'Observation/_history'), fc.constantFrom('', '?_count=2', '?_since=2026-01-01T00:00:05Z', '?_count=3&_sort=_lastUpdated'))
      .map(([path, q]) => req({ method: 'GET', url: `${path}${q}` })),
  },
);

/** A sequence of up to `max` steps. */
export const sequence = (max: number): fc.Arbitrary<Step[]> => fc.array(step, { minLength: 1, maxLength: max, size: 'max' });
