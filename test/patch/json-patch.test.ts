import { describe, expect, it } from 'vitest';
import { FhirError } from '../../src/errors.js';
import type { Resource } from '../../src/resource/resource.js';
import {
  applyJsonPatch,
  applyJsonPatchToDocument,
  jsonPatchFromBinary,
  parseJsonPatch,
} from '../../src/patch/index.js';
import { jsonPatchHead, jsonPatchSuite, type JsonPatchRecord } from '../support/corpora.js';


function expectFhirError(fn: () => unknown, status = 400): FhirError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FhirError);
    expect((error as FhirError).status).toBe(status);
    return error as FhirError;
  }
  throw new Error('expected a FhirError to be thrown');
}

/*
 * Records marked `disabled` upstream are run too, as upstream intends them:
 * - "Toplevel scalar values OK?" (RFC 8259 allows scalar documents) → expected "bar";
 * - "Whole document" test op on "" → applies without error;
 * - "duplicate ops" / "A.13 Invalid JSON Patch Document": the source text has two `op` members; once
 *   parsed, the operation carries a member that belongs to another operation (`value` on move/remove),
 *   which parseJsonPatch refuses → error, as the records expect.
 */
const suites: [string, boolean, () => JsonPatchRecord[]][] = [
  ['tests.json (npm json-patch-test-suite)', true, () => jsonPatchSuite('tests.json')],
  ['spec_tests.json (npm json-patch-test-suite)', true, () => jsonPatchSuite('spec_tests.json')],
  ['tests.json (GitHub HEAD, ../shared)', jsonPatchHead.available, () => jsonPatchHead.json('tests.json')],
  ["FHIR's fhir-r4-json-patch-tests.json (../shared)", jsonPatchHead.available, () => jsonPatchHead.json('fhir-r4-json-patch-tests.json')],
];
for (const [file, available, load] of suites) {
  describe.skipIf(!available)(`RFC 6902 suite: ${file}`, () => {
    const records = available ? load() : [];
    records.forEach((record, i) => {
      const title = `#${i} ${record.comment ?? JSON.stringify(record.patch).slice(0, 80)}${record.disabled ? ' (disabled upstream)' : ''}`;
      it(title, () => {
        const docBefore = structuredClone(record.doc);
        const patchBefore = structuredClone(record.patch);
        if (record.error !== undefined) {
          expectFhirError(() => applyJsonPatchToDocument(record.doc, record.patch));
        } else {
          const result = applyJsonPatchToDocument(record.doc, record.patch);
          if (Object.hasOwn(record, 'expected')) expect(result).toEqual(record.expected);
        }
        expect(record.doc).toEqual(docBefore);
        expect(record.patch).toEqual(patchBefore);
      });
    });
  });
}

const patient = (): Resource => ({
  resourceType: 'Patient',
  id: 'p1',
  meta: { versionId: '3', lastUpdated: '2024-01-01T00:00:00Z', tag: [{ system: 's', code: 'a' }] },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' },
  name: [{ family: 'Doe', given: ['Jane'] }],
  gender: 'female',
  birthDate: '1970-01-01',
});

describe('applyJsonPatch', () => {
  it('applies add / replace / remove / copy / move / test to a resource', () => {
    const input = patient();
    const result = applyJsonPatch(input, [
      { op: 'test', path: '/gender', value: 'female' },
      { op: 'replace', path: '/gender', value: 'male' },
      { op: 'add', path: '/name/0/given/-', value: 'Mary' },
      { op: 'copy', from: '/name/0', path: '/name/-' },
      { op: 'move', from: '/birthDate', path: '/_birthDate_moved' },
      { op: 'remove', path: '/_birthDate_moved' },
      { op: 'add', path: '/meta/tag/-', value: { system: 's', code: 'b' } },
    ]);
    expect(result.gender).toBe('male');
    expect(result['name']).toEqual([
      { family: 'Doe', given: ['Jane', 'Mary'] },
      { family: 'Doe', given: ['Jane', 'Mary'] },
    ]);
    expect(result['birthDate']).toBeUndefined();
    expect(result.meta?.tag).toHaveLength(2);
  });

  it('does not mutate the input resource or the patch', () => {
    const input = patient();
    const before = structuredClone(input);
    const ops = [
      { op: 'add', path: '/name/0/given/-', value: 'X' },
      { op: 'add', path: '/address', value: [{ city: 'A' }] },
      { op: 'replace', path: '/address/0/city', value: 'B' },
    ];
    const opsBefore = structuredClone(ops);
    const result = applyJsonPatch(input, ops);
    expect(input).toEqual(before);
    expect(ops).toEqual(opsBefore);
    expect(result['address']).toEqual([{ city: 'B' }]);
  });

  it('returns a deep-equal resource for a no-op patch', () => {
    const input = patient();
    expect(applyJsonPatch(input, [])).toEqual(input);
    expect(applyJsonPatch(input, [{ op: 'test', path: '/id', value: 'p1' }])).toEqual(input);
    expect(applyJsonPatch(input, [{ op: 'replace', path: '/gender', value: 'female' }])).toEqual(input);
    expect(applyJsonPatch(input, [])).not.toBe(input);
  });

  it.each([
    ['/id', { op: 'replace', path: '/id', value: 'other' }],
    ['/id (remove)', { op: 'remove', path: '/id' }],
    ['/meta/versionId', { op: 'replace', path: '/meta/versionId', value: '9' }],
    ['/meta/lastUpdated', { op: 'replace', path: '/meta/lastUpdated', value: '2030-01-01T00:00:00Z' }],
    ['/meta (remove)', { op: 'remove', path: '/meta' }],
    ['/resourceType', { op: 'replace', path: '/resourceType', value: 'Observation' }],
    ['/text/div', { op: 'replace', path: '/text/div', value: '<div xmlns="http://www.w3.org/1999/xhtml">y</div>' }],
    ['/text/status', { op: 'replace', path: '/text/status', value: 'additional' }],
    ['/text (remove)', { op: 'remove', path: '/text' }],
  ])('refuses changing immutable %s', (_name, op) => {
    const error = expectFhirError(() => applyJsonPatch(patient(), [op]));
    expect(error.issues[0]?.code).toBe('invalid');
    expect(error.message).toBe('Patching immutable properties is not allowed.');
  });

  it('allows patching meta.tag / meta.security / meta.profile', () => {
    const result = applyJsonPatch(patient(), [
      { op: 'replace', path: '/meta/tag', value: [{ code: 'z' }] },
      { op: 'add', path: '/meta/security', value: [{ code: 'R' }] },
      { op: 'add', path: '/meta/profile', value: ['http://example.org/p'] },
    ]);
    expect(result.meta).toMatchObject({ versionId: '3', tag: [{ code: 'z' }], security: [{ code: 'R' }] });
  });

  it('refuses a patch that leaves something that is not a resource', () => {
    expectFhirError(() => applyJsonPatch(patient(), [{ op: 'replace', path: '', value: [1] }]));
  });

  it.each([
    [{ op: 'add', path: '/__proto__/polluted', value: 'yes' }],
    [{ op: 'add', path: '/constructor/prototype/polluted', value: 'yes' }],
    [{ op: 'add', path: '/constructor/prototype/x', value: 'yes' }],
    [{ op: 'replace', path: '/name/0/__proto__', value: { polluted: 'yes' } }],
    [{ op: 'copy', from: '/__proto__', path: '/x' }],
    [{ op: 'add', path: '/x', value: JSON.parse('{"__proto__": {"polluted": "yes"}}') as unknown }],
  ])('refuses prototype pollution %j without side effects', (op) => {
    expectFhirError(() => applyJsonPatch(patient(), [op]));
    expectFhirError(() => applyJsonPatchToDocument({}, [op]));
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('reports a failing test op as 400 processing', () => {
    const error = expectFhirError(() => applyJsonPatch(patient(), [{ op: 'test', path: '/gender', value: 'male' }]));
    expect(error.issues[0]?.code).toBe('processing');
  });

  it.each([
    ['remove', { op: 'remove', path: '/maritalStatus' }],
    ['replace', { op: 'replace', path: '/maritalStatus', value: { text: 'x' } }],
    ['add under a missing parent', { op: 'add', path: '/contact/0/gender', value: 'male' }],
    ['move from a missing path', { op: 'move', from: '/nope', path: '/x' }],
    ['array index out of range', { op: 'add', path: '/name/5', value: { text: 'x' } }],
  ])('reports path-not-found (%s) as 400 processing', (_name, op) => {
    const error = expectFhirError(() => applyJsonPatch(patient(), [op]));
    expect(error.issues[0]?.code).toBe('processing');
  });

  it.each([
    ['not an array', { op: 'add', path: '/x', value: 1 }],
    ['null', null],
    ['unknown op', [{ op: 'coo', path: '/x', value: 1 }]],
    ['missing path', [{ op: 'add', value: 1 }]],
    ['empty op', [{}]],
    ['missing value', [{ op: 'add', path: '/x' }]],
    ['missing from', [{ op: 'move', path: '/x' }]],
    ['pointer without /', [{ op: 'add', path: 'x', value: 1 }]],
    ['operation not an object', ['add']],
  ])('reports a malformed patch document (%s) as 400 invalid', (_name, doc) => {
    const error = expectFhirError(() => applyJsonPatch(patient(), doc));
    expect(error.issues[0]?.code).toBe('invalid');
    expect(error.message.length).toBeGreaterThan(10);
  });

  it('parseJsonPatch returns validated copies', () => {
    const value = { a: 1 };
    const ops = parseJsonPatch([{ op: 'add', path: '/x', value, comment: 'ignored' }]);
    expect(ops).toEqual([{ op: 'add', path: '/x', value: { a: 1 } }]);
    expect(ops[0]?.value).not.toBe(value);
  });
});

describe('jsonPatchFromBinary', () => {
  const ops = [{ op: 'replace', path: '/gender', value: 'male' }];
  const data = Buffer.from(JSON.stringify(ops), 'utf8').toString('base64');

  it('decodes a base64 JSON Patch (content type case-insensitive)', () => {
    expect(jsonPatchFromBinary({ resourceType: 'Binary', contentType: 'Application/JSON-Patch+JSON', data })).toEqual(ops);
    const patched = applyJsonPatch(patient(), jsonPatchFromBinary({ resourceType: 'Binary', contentType: 'application/json-patch+json; charset=utf-8', data }));
    expect(patched.gender).toBe('male');
  });

  it.each([
    ['wrong content type', { resourceType: 'Binary', contentType: 'application/json', data }],
    ['not a Binary', { resourceType: 'Patient', contentType: 'application/json-patch+json', data }],
    ['no data', { resourceType: 'Binary', contentType: 'application/json-patch+json' }],
    ['not JSON', { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from('nope').toString('base64') }],
  ])('refuses %s with 400', (_name, binary) => {
    expectFhirError(() => jsonPatchFromBinary(binary as Resource));
  });
});
