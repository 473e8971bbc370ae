/**
 * Request fuzzing (issue 16): arbitrary requests from a grammar of methods, paths, query strings,
 * headers and bodies (HL7 R4 examples and Synthea resources with random mutations, patches, bundles,
 * random JSON and bytes) through `handle()` on memory and SQLite. For every one: never a 5xx, every
 * 4xx carries an OperationOutcome, and a 4xx changes nothing in storage (every version of the
 * system history, JSON included, before and after).
 *
 * Runs: 800 per adapter and validation mode (strict, off), a fifth of that again with Synthea bodies.
 * `FUZZ_RUNS=20000 npx vitest run test/http/fuzz.test.ts` for a long run, `FUZZ_SEED=n` to replay a
 * seed fast-check printed, `FUZZ_STATS=1` to print the statuses seen. A request that ever failed is
 * kept below as a named regression case.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock, sequentialIds } from '../../src/clock.js';
import { FhirEngine } from '../../src/engine.js';
import type { FhirHttpRequest } from '../../src/http/request.js';
import type { ValidationMode } from '../../src/interactions/context.js';
import type { Resource } from '../../src/resource/resource.js';
import type { StorageAdapter } from '../../src/storage/storage-adapter.js';
import { ADAPTERS } from '../support/adapters.js';
import { r4Examples, synthea } from '../support/corpora.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 800);
const SEED = process.env['FUZZ_SEED'] === undefined ? undefined : Number(process.env['FUZZ_SEED']);

// ---------------------------------------------------------------------------------------------------
// Corpora

const SEED_TYPES = new Set(['Patient', 'Observation', 'Encounter', 'Organization', 'Practitioner', 'Condition', 'Basic', 'Group', 'MedicationRequest', 'DiagnosticReport']);
const examples = r4Examples();
/** The examples stored before fuzzing: several types that reference each other. */
const seeded = examples.filter((r) => SEED_TYPES.has(r.resourceType) && r.id !== undefined).slice(0, 60);
/** Bodies: a spread of every type of example. */
const bodies: Resource[] = examples.filter((_, i) => i % 4 === 0);

function syntheaResources(): Resource[] {
  if (!synthea.available) return [];
  const out: Resource[] = [];
  for (const file of synthea.files('synthea-v2-simple').slice(0, 2)) {
    const bundle = synthea.json<{ entry?: { resource: Resource }[] }>(`synthea-v2-simple/${file}`);
    for (const [i, e] of (bundle.entry ?? []).entries()) if (i % 10 === 0) out.push(e.resource);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The grammar

const TYPES = [...SEED_TYPES, 'Bundle', 'Binary', 'Parameters', 'OperationOutcome', 'Foo', 'patient', 'Resource', 'DomainResource'];
const IDS = [...new Set(seeded.map((r) => r.id!))].slice(0, 20);
const hostileSegment = fc.constantFrom('', '..', '.', '%', '%zz', '%2F', '%00', '__proto__', 'constructor', 'prototype', 'a b', 'x'.repeat(65), '$', '*', '😀', '%E0%A4%A', '\u0000');
const segment = fc.oneof(
  fc.constantFrom(...TYPES),
  fc.constantFrom(...IDS),
  fc.constantFrom('_history', '_search', 'metadata', '$validate', '$everything', '$purge-history', '$meta', '_operations', 'export', '1', '2', '0', '-1'),
  hostileSegment,
  fc.string({ maxLength: 8 }),
);
const path = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...TYPES), fc.option(fc.constantFrom(...IDS), { nil: undefined })).map(([t, id]) => (id === undefined ? [t] : [t, id])) },
  { weight: 2, arbitrary: fc.array(segment, { maxLength: 5 }) },
);
const pathPrefix = fc.constantFrom('/', '/', '/', '', '//', 'http://example.org/', 'http://[::1/', 'https://example.org/fhir/');

const PARAM_NAMES = [
  '_id', '_lastUpdated', '_tag', '_profile', '_security', '_source', '_text', '_content', '_list', '_has:Observation:patient:code', '_has:Foo:bar:baz',
  'name', 'family', 'given', 'birthdate', 'gender', 'identifier', 'address', 'telecom', 'active', 'general-practitioner', 'organization', 'link',
  'code', 'subject', 'patient', 'encounter', 'date', 'status', 'category', 'value-quantity', 'value-string', 'value-concept', 'code-value-quantity',
  'combo-code', 'component-code-value-quantity', 'performer', 'based-on', 'subject:Patient.name', 'subject.name', 'patient:Patient.organization.name',
  'member', 'characteristic-value', 'near', 'url', 'unknown-param', '', ' ', '__proto__', 'constructor', 'code.coding',
];
const CONTROL_NAMES = ['_count', '_sort', '_include', '_revinclude', '_include:iterate', '_revinclude:iterate', '_elements', '_summary', '_total', '_cursor', '_type', '_since', '_at', '_format', '_pretty', 'hardDelete', '_hardDelete', '_meta-history', '_contained', '_containedType'];
const MODIFIERS = ['', '', '', ':exact', ':contains', ':missing', ':not', ':text', ':above', ':below', ':in', ':not-in', ':of-type', ':identifier', ':Patient', ':iterate', ':bogus', ':'];
const PREFIXES = ['', '', 'eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap', 'zz'];
const VALUES = [
  '2020', '2020-01', '2020-01-01', '2020-01-01T00:00:00Z', '2020-01-01T10:00', '2020-13-45', '1900-02-29', '9999-12-31T23:59:59.999+14:00',
  '5.4', '0', '-0', '1e400', '1e-400', 'NaN', 'Infinity', '0.0000000000000000000001', '100000000000000000000000',
  'http://loinc.org|1234-5', '|x', 'x|', '|', 'http://x|', 'a,b,c', 'a\\,b', 'a$b', '5.4|http://unitsofmeasure.org|mg', '5.4||mg', 'Patient/1', 'Patient/example',
  'http://example.org/Patient/1', 'true', 'false', 'male', 'Observation:subject', 'Patient:general-practitioner', '*', 'Observation:subject:Patient', 'Foo:bar',
  '-birthdate', 'name,-_lastUpdated', '_id', 'id,meta,name', 'count', 'accurate', 'estimate', 'none', 'data', 'text', '["Patient","1"]', '[[[[', '{"a":1}',
];
const paramValue = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...PREFIXES), fc.constantFrom(...VALUES)).map(([p, v]) => p + v) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.nat({ max: 5000 }).map(String) },
);
const param = fc.tuple(
  fc.oneof(
    fc.tuple(fc.constantFrom(...PARAM_NAMES), fc.constantFrom(...MODIFIERS)).map(([n, m]) => n + m),
    fc.constantFrom(...CONTROL_NAMES),
    fc.string({ maxLength: 10 }),
  ),
  paramValue,
  fc.boolean(),
);
/** A query string: names and values encoded, or sent raw (`&`, `#`, `%` and all). */
const query = fc.array(param, { maxLength: 6 }).map((params) =>
  params.length === 0 ? '' : `?${params.map(([n, v, raw]) => (raw ? `${n}=${v}` : `${encodeURIComponent(n)}=${encodeURIComponent(v)}`)).join('&')}`,
);

const etag = fc.constantFrom('W/"1"', '"1"', 'W/"2"', '1', '*', 'W/"x"', 'W/""', '', 'W/"1", W/"2"', 'garbage');
const CONTENT_TYPES = ['application/fhir+json', 'application/json', 'application/fhir+json; charset=utf-8', 'application/json-patch+json', 'application/x-www-form-urlencoded', 'text/plain', 'application/xml', 'multipart/form-data; boundary=x', ';', 'application/fhir+json; fhirVersion=3.0'];
const headers = fc.record(
  {
    'if-match': etag,
    'if-none-exist': fc.oneof(query.map((q) => q.slice(1)), fc.constantFrom('identifier=http://x|1', 'Patient?_id=example', '', '&&', '_id=')),
    prefer: fc.constantFrom('return=minimal', 'return=representation', 'return=OperationOutcome', 'handling=strict', 'handling=lenient', 'handling=bogus', 'respond-async', 'return=minimal, handling=strict', '==;;,', '__proto__=1'),
    'content-type': fc.constantFrom(...CONTENT_TYPES),
    'x-bundle-processing-logic': fc.constantFrom('parallel', 'sequential', 'PARALLEL', 'garbage'),
    'x-conditionalquery-processing-logic': fc.constantFrom('parallel', 'sequential'),
  },
  { requiredKeys: [] },
);

// Bodies ---------------------------------------------------------------------------------------------

/** One edit of a JSON value: at node `at` (in walk order), remove it, replace it, add a key, wrap it, or nest it `depth` levels down. */
const mutation = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('remove', 'replace', 'add-key', 'wrap', 'duplicate', 'retype', 'deepen'),
  depth: fc.integer({ min: 50, max: 20_000 }),
  key: fc.oneof(fc.constantFrom('id', 'resourceType', 'meta', 'extension', 'value', 'url', 'reference', '__proto__', 'constructor', 'div', 'text', 'valueString', 'contained'), fc.string({ maxLength: 6 })),
  value: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom<unknown>('Patient/1', '#x', 'urn:uuid:1', 'urn:uuid:2', { reference: 'urn:uuid:2' }, { reference: 'Patient?identifier=http://x|1' }, { reference: 'Patient?' }, '', null, -1, 1e308, '<div>x</div>', '2020-01-01', [], {})),
});

const DEEP_MARK = '\u0001deep:';

/** JSON text of a value, its deep markers expanded into `depth` nested arrays and objects. */
function textOf(value: unknown): string {
  const text = JSON.stringify(value) ?? '';
  if (!text.includes('\\u0001deep:')) return text;
  return text.replace(/"\\u0001deep:(\d+)"/g, (_, n: string) => {
    const half = Math.ceil(Number(n) / 2);
    return `${'{"a":['.repeat(half)}1${']}'.repeat(half)}`;
  });
}

/** Applies `edits` to a deep copy of `value`. Iterative: the walk never recurses. */
function mutate(value: unknown, edits: readonly { at: number; kind: string; depth: number; key: string; value: unknown }[]): unknown {
  const root = { v: structuredClone(value) } as Record<string, unknown>;
  for (const { value: shared, ...edit } of edits) {
    // A copy: constants of the grammar (`{}`, `[]`) are shared by every run, and edits must not link them into cycles.
    const value = structuredClone(shared);
    const slots: [Record<string, unknown> | unknown[], string | number][] = [];
    const stack: unknown[] = [root];
    while (stack.length > 0 && slots.length < 2000) {
      const node = stack.pop();
      if (Array.isArray(node)) node.forEach((child, i) => (slots.push([node, i]), stack.push(child)));
      else if (typeof node === 'object' && node !== null) for (const [k, child] of Object.entries(node)) (slots.push([node as Record<string, unknown>, k]), stack.push(child));
    }
    const [parent, key] = slots[edit.at % slots.length]!;
    const current = (parent as Record<string | number, unknown>)[key];
    const set = (v: unknown): void => {
      (parent as Record<string | number, unknown>)[key] = v;
    };
    switch (edit.kind) {
      case 'remove':
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else if (parent !== root) delete parent[key as string];
        break;
      case 'replace':
        set(value);
        break;
      case 'add-key':
        if (typeof current === 'object' && current !== null && !Array.isArray(current)) Object.defineProperty(current, edit.key, { value, enumerable: true, writable: true, configurable: true });
        else set({ [edit.key]: value });
        break;
      case 'wrap':
        set([current]);
        break;
      case 'duplicate':
        set(Array.isArray(current) ? [...current, ...current] : current);
        break;
      case 'deepen':
        // A marker that textOf() expands: a value that deep would overflow JSON.stringify here, and fast-check's printing.
        set(`${DEEP_MARK}${edit.depth}`);
        break;
      case 'retype':
        set(typeof current === 'string' ? Number(current) || current.length : typeof current === 'number' ? String(current) : typeof current === 'boolean' ? String(current) : current);
        break;
    }
  }
  return root['v'];
}

const resourceFrom = (pool: readonly Resource[]): fc.Arbitrary<unknown> =>
  fc.tuple(fc.constantFrom(...pool), fc.array(mutation, { maxLength: 3 })).map(([r, edits]) => (edits.length === 0 ? r : mutate(r, edits)));

const jsonPatchOp = fc.record(
  {
    op: fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test', 'bogus'),
    path: fc.constantFrom('/name', '/name/0', '/name/-', '/name/0/family', '/id', '/meta/versionId', '/text/div', '/gender', '/active', '/', '', '/__proto__/x', '/a~1b', '/~2', '/extension/99', '/status'),
    from: fc.constantFrom('/name', '/name/0', '/gender', '/x', '/'),
    value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom<unknown>('female', [{ family: 'X' }], true, 'final')),
  },
  { requiredKeys: ['op'] },
);
const fhirPathPatchOp = fc.record({
  type: fc.constantFrom('add', 'insert', 'delete', 'replace', 'move', 'bogus'),
  path: fc.constantFrom('Patient', 'Patient.name', 'Patient.name[0]', 'Patient.name.where(use = \'official\')', 'Observation.status', 'Patient.birthDate', 'Resource.meta', 'Patient.name.given.first()', '%resource', '(((', 'Patient.name.matches(\'a\')', 'Patient.id', 'Patient.text.div'),
  name: fc.constantFrom('given', 'family', 'gender', 'active', 'name', 'extension', '__proto__', 'x'),
  value: fc.oneof(
    fc.constantFrom<object>({ valueString: 'x' }, { valueBoolean: true }, { valueCode: 'female' }, { valueHumanName: { family: 'Y' } }, { valueInteger: 1 }, {}),
    fc.jsonValue({ maxDepth: 2 }).map((v) => ({ valueString: v })),
  ),
  index: fc.oneof(fc.nat({ max: 3 }), fc.constant(-1)),
});
const fhirPathPatch = fc.array(fhirPathPatchOp, { minLength: 1, maxLength: 3 }).map((ops) => ({
  resourceType: 'Parameters',
  parameter: ops.map((op) => ({
    name: 'operation',
    part: [
      { name: 'type', valueCode: op.type },
      { name: 'path', valueString: op.path },
      { name: 'name', valueString: op.name },
      { name: 'value', ...op.value },
      { name: 'index', valueInteger: op.index },
      { name: 'source', valueInteger: 0 },
      { name: 'destination', valueInteger: 1 },
    ].filter((_, i) => i < 2 || (op.type !== 'delete' && !(i === 2 && op.type === 'replace'))),
  })),
}));

function bundleOf(resources: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const entry = fc.record(
    {
      fullUrl: fc.constantFrom('urn:uuid:1', 'urn:uuid:2', 'Patient/1', 'http://example.org/Patient/1', '__proto__', ''),
      resource: resources,
      request: fc.record(
        {
          method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'bogus'),
          url: fc.tuple(path, query).map(([p, q]) => p.join('/') + q),
          ifMatch: etag,
          ifNoneExist: fc.constantFrom('identifier=http://x|1', '_id=example', ''),
        },
        { requiredKeys: ['method', 'url'] },
      ),
    },
    { requiredKeys: ['request'] },
  );
  return fc.record({
    resourceType: fc.constant('Bundle'),
    type: fc.constantFrom('batch', 'transaction', 'collection', 'bogus'),
    entry: fc.array(entry, { maxLength: 4 }),
  });
}

/** A resource with an element nested 50 to 20,000 levels deep, as text. */
const deepBody = fc
  .tuple(fc.integer({ min: 50, max: 20_000 }), fc.constantFrom('{"a":', '[', '{"extension":['), fc.constantFrom('Basic', 'Patient', 'Bundle', 'Parameters'))
  .map(([n, open, type]) => {
    const close = open === '[' ? ']' : open === '{"a":' ? '}' : ']}';
    return `{"resourceType":"${type}","extension":[{"url":"http://x","valueString":"v","x":${open.repeat(n)}1${close.repeat(n)}}]}`;
  });

/** A body: nothing, text, bytes or an already-parsed value. */
function bodyOf(resources: fc.Arbitrary<unknown>): fc.Arbitrary<FhirHttpRequest['body']> {
  const value = fc.oneof(
    { weight: 4, arbitrary: resources },
    { weight: 2, arbitrary: fc.array(jsonPatchOp, { maxLength: 4 }) },
    { weight: 2, arbitrary: fhirPathPatch },
    { weight: 2, arbitrary: bundleOf(resources) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  );
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 6, arbitrary: value.map(textOf) },
    { weight: 1, arbitrary: value.map((v) => (typeof v === 'object' && v !== null ? v : textOf(v))) as fc.Arbitrary<FhirHttpRequest['body']> },
    { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('{', '[1,', '{"resourceType":"Patient"', 'name=x&_count=1', '\uFEFF{}', '  ', 'null', '"x"', '1e999')) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }) },
    { weight: 1, arbitrary: deepBody },
  ) as fc.Arbitrary<FhirHttpRequest['body']>;
}

/** An arbitrary request: freeform, or shaped like a write of one of `pool` (its type and id in the path). */
function requestOf(pool: readonly Resource[]): fc.Arbitrary<FhirHttpRequest> {
  const method = fc.constantFrom('GET', 'GET', 'HEAD', 'POST', 'POST', 'PUT', 'PUT', 'PATCH', 'PATCH', 'DELETE', 'OPTIONS', 'get', 'FOO', '');
  const freeform = fc.record({ method, prefix: pathPrefix, path, query, headers, body: bodyOf(resourceFrom(pool)) });
  const write = fc
    .tuple(fc.constantFrom('POST', 'PUT', 'PUT', 'DELETE'), fc.constantFrom(...pool), fc.array(mutation, { maxLength: 2 }), query, headers)
    .map(([m, r, edits, q, h]) => ({
      method: m,
      prefix: '/',
      path: m === 'POST' ? [r.resourceType] : [r.resourceType, r.id ?? 'x'],
      query: m === 'POST' ? '' : q,
      headers: { ...h, 'content-type': 'application/fhir+json' },
      body: m === 'DELETE' ? undefined : textOf(edits.length === 0 ? r : mutate(r, edits)),
    }));
  const validParam = fc.tuple(fc.constantFrom(...PARAM_NAMES.slice(0, 40), ...CONTROL_NAMES.slice(0, 8)), fc.constantFrom(...MODIFIERS.slice(0, 4)), fc.constantFrom(...PREFIXES.slice(0, 3)), fc.constantFrom(...VALUES));
  const search = fc
    .tuple(fc.constantFrom('GET', 'GET', 'HEAD'), fc.constantFrom(...SEED_TYPES, ''), fc.array(validParam, { maxLength: 3 }), headers)
    .map(([m, type, params, h]) => ({
      method: m,
      prefix: '/',
      path: type === '' ? [] : [type],
      query: params.length === 0 ? '' : `?${params.map(([n, mod, p, v]) => `${n}${n.startsWith('_') ? '' : mod}=${encodeURIComponent(p + v)}`).join('&')}`,
      headers: h,
      body: undefined,
    }));
  const read = fc
    .tuple(fc.constantFrom(...seeded), fc.constantFrom('', '/_history', '/_history/1', '/_history/2', '/$everything', '/*', '/Observation'))
    .map(([r, rest]) => ({ method: 'GET', prefix: '/', path: [r.resourceType, r.id! + rest], query: '', headers: {}, body: undefined }));
  return fc.oneof({ weight: 3, arbitrary: freeform }, { weight: 2, arbitrary: write }, { weight: 2, arbitrary: search }, { weight: 1, arbitrary: read }).map(({ method: m, prefix, path: p, query: q, headers: h, body }) => ({
    method: m,
    url: prefix + p.join('/') + q,
    headers: h,
    ...(body !== undefined && { body }),
  }));
}

// ---------------------------------------------------------------------------------------------------
// The property

/** Every version in storage, newest first, JSON included: what a 4xx must leave as it was. */
async function snapshot(engine: FhirEngine): Promise<string> {
  const { items } = await engine.storage.readHistory({ level: 'system' }, { count: 1_000_000 });
  return items.map((v) => `${v.seq} ${v.type}/${v.id}/${v.versionId} ${v.deleted ? 'deleted' : ''} ${v.json ?? ''}`).join('\n');
}

/** Checks one request: its status, and a description of what went wrong, if anything did. */
async function check(engine: FhirEngine, request: FhirHttpRequest, before: string): Promise<{ status: number; problem?: string }> {
  const res = await engine.handle(request);
  const { status } = res;
  if (status >= 500) return { status, problem: `status ${status}: ${res.body?.slice(0, 300)}` };
  if (status >= 400) {
    if (request.method.toUpperCase() !== 'HEAD') {
      let body: { resourceType?: string } | undefined;
      try {
        body = JSON.parse(res.body ?? 'null') as { resourceType?: string };
      } catch {
        return { status, problem: `status ${status} with a body that is not JSON: ${res.body?.slice(0, 200)}` };
      }
      if (body?.resourceType !== 'OperationOutcome') return { status, problem: `status ${status} without an OperationOutcome: ${res.body?.slice(0, 200)}` };
    }
    if ((await snapshot(engine)) !== before) return { status, problem: `status ${status} changed storage` };
  }
  return { status };
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

async function seededEngine(makeAdapter: () => StorageAdapter, validation: ValidationMode, unexpected: unknown[]): Promise<FhirEngine> {
  const engine = new FhirEngine({
    storage: makeAdapter(),
    validation,
    clock: fixedClock('2026-01-01T00:00:00Z', 1000),
    ids: sequentialIds(),
    onError: (error) => unexpected.push(error),
  });
  for (const r of seeded) await engine.handle({ method: 'PUT', url: `/${r.resourceType}/${r.id}`, body: r });
  return engine;
}

/** Runs the property on `engine`; the snapshot is taken again only when a request may have written. */
async function fuzz(engine: FhirEngine, arbitrary: fc.Arbitrary<FhirHttpRequest>, numRuns: number): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let before = await snapshot(engine);
  await fc.assert(
    fc.asyncProperty(arbitrary, async (request) => {
      const { status, problem } = await check(engine, request, before);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      // Only a success of a method that may write changes storage (and a failure of the property).
      if (problem !== undefined || (status < 400 && !READS.has(request.method.toUpperCase()))) before = await snapshot(engine);
      expect(problem, JSON.stringify(request).slice(0, 2000)).toBeUndefined();
    }),
    { numRuns, ...(SEED !== undefined && { seed: SEED }) },
  );
  if (process.env['FUZZ_STATS']) console.log([...statuses].sort(([a], [b]) => a - b).map(([k, v]) => `${k}: ${v}`).join(', '));
  return statuses;
}

/** The grammar reaches the engine: a fair share of the requests succeed, a fair share fail. */
function expectSpread(statuses: Map<number, number>): void {
  const share = (from: number, to: number): number => [...statuses].filter(([k]) => k >= from && k < to).reduce((n, [, v]) => n + v, 0) / [...statuses.values()].reduce((a, b) => a + b, 0);
  expect(share(200, 300)).toBeGreaterThan(0.1);
  expect(share(400, 500)).toBeGreaterThan(0.3);
}

/** Each adapter with strict validation (the default) and with validation off (arbitrary JSON reaches the indexer and storage). */
const ENGINES = ADAPTERS.flatMap(([name, make]) => (['strict', 'off'] as const).map((validation) => [`${name}, validation ${validation}`, make, validation] as const));

/**
 * Requests the fuzzer found failing (shrunk counterexamples, run on the code before the fixes),
 * each kept as a named case: what it was, what it did.
 */
const REGRESSIONS: readonly (readonly [string, FhirHttpRequest])[] = [
  ['a malformed absolute URL (was 500: ERR_INVALID_URL)', { method: 'GET', url: 'http://[::1/', headers: {} }],
  ["'//' with '://' in the query (was 500: parsed as a host)", { method: 'GET', url: '//?_count=http://loinc.org|1234-5', headers: {}, body: '[]' }],
  ["'//' and a broken percent-encoding (was 500)", { method: 'GET', url: '//%E0%A4%A', headers: {}, body: 'false' }],
  ["'//' and an encoded slash (was 500)", { method: 'GET', url: '//%2F', headers: {} }],
  [
    'a create nested 2,000 levels deep, validation off (was 500: stack overflow)',
    { method: 'POST', url: '/Account', headers: { 'content-type': 'application/fhir+json' }, body: `{"resourceType":"Account","text":${'{"a":['.repeat(1000)}1${']}'.repeat(1000)}}` },
  ],
];

describe.each(ENGINES)('request fuzzing on %s', (_name, makeAdapter, validation) => {
  let engine: FhirEngine;
  /** What the engine reported as unexpected (the errors behind 500s). */
  const unexpected: unknown[] = [];
  beforeAll(async () => {
    engine = await seededEngine(makeAdapter, validation, unexpected);
  });
  afterAll(() => engine.close());

  it.each(REGRESSIONS)('regression: %s', async (_what, request) => {
    const { status, problem } = await check(engine, request, await snapshot(engine));
    expect(problem).toBeUndefined();
    expect(status).toBeGreaterThanOrEqual(400);
    expect(unexpected).toEqual([]);
  });

  it(`${RUNS} arbitrary requests (HL7 examples, patches, bundles, random JSON): never 5xx, 4xx with an OperationOutcome and no change`, { timeout: Math.max(60_000, RUNS * 60) }, async () => {
    expectSpread(await fuzz(engine, requestOf(bodies), RUNS));
    expect(unexpected).toEqual([]);
  });

  describe.skipIf(!synthea.available)('with Synthea resources', () => {
    it(`${Math.ceil(RUNS / 5)} arbitrary requests with Synthea bodies`, { timeout: Math.max(60_000, RUNS * 20) }, async () => {
      await fuzz(engine, requestOf(syntheaResources()), Math.ceil(RUNS / 5));
      expect(unexpected).toEqual([]);
    });
  });
});
