import { describe, expect, it } from 'vitest';
import { FhirError } from '../../src/errors.js';
import type { Resource } from '../../src/resource/resource.js';
import { applyFhirPathPatch, applyFhirPathPatchUnguarded } from '../../src/patch/index.js';
import { fhirpathPatch } from '../support/corpora.js';

interface PatchCase {
  source: string;
  name: string;
  mode: string;
  kind: 'success' | 'error';
  input: Resource;
  patch: unknown;
  output?: Resource;
  error?: string;
}

const corpus: PatchCase[] = fhirpathPatch.available ? fhirpathPatch.json('fhir-patch-tests.json') : [];

function expectFhirError(fn: () => unknown, status = 400): FhirError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FhirError);
    expect((error as FhirError).status).toBe(status);
    expect((error as FhirError).toOperationOutcome().issue[0]?.diagnostics).toBeTruthy();
    return error as FhirError;
  }
  throw new Error('expected a FhirError to be thrown');
}

const touchesImmutable = (c: PatchCase): boolean => JSON.stringify(c.patch).includes('text.div');

describe.skipIf(!fhirpathPatch.available)('HL7 FHIRPath Patch corpus (fhir-patch-tests.json, ../shared)', () => {
  it('has the 36 documented cases', () => {
    expect(corpus).toHaveLength(36);
  });

  for (const c of corpus) {
    it(`${c.source}: ${c.name}`, () => {
      const inputBefore = structuredClone(c.input);
      const patchBefore = structuredClone(c.patch);
      if (c.kind === 'error') {
        const error = expectFhirError(() => applyFhirPathPatchUnguarded(c.input, c.patch));
        // The corpus text comes from HAPI/HL7 Java ("... when adding"); match loosely.
        expect(error.message).toContain('No content found at');
        expect(error.message).toContain(String(c.error).split(' when ')[0]);
        expectFhirError(() => applyFhirPathPatch(c.input, c.patch));
      } else {
        expect(applyFhirPathPatchUnguarded(c.input, c.patch)).toEqual(c.output);
        if (touchesImmutable(c)) {
          // "Full Resource" replaces Patient.text.div, which this engine (like Microsoft's FHIR
          // service) treats as immutable: the guarded entry point refuses it.
          const error = expectFhirError(() => applyFhirPathPatch(c.input, c.patch));
          expect(error.message).toBe('Patching immutable properties is not allowed.');
        } else {
          expect(applyFhirPathPatch(c.input, c.patch)).toEqual(c.output);
        }
      }
      expect(c.input).toEqual(inputBefore);
      expect(c.patch).toEqual(patchBefore);
    });
  }
});

type Part = Record<string, unknown>;
const op = (...parts: Part[]): Part => ({ name: 'operation', part: parts });
const params = (...ops: Part[]): Record<string, unknown> => ({ resourceType: 'Parameters', parameter: ops });
const type = (t: string): Part => ({ name: 'type', valueCode: t });
const path = (p: string): Part => ({ name: 'path', valueString: p });
const name = (n: string): Part => ({ name: 'name', valueString: n });
const int = (n: string, v: number): Part => ({ name: n, valueInteger: v });
const value = (v: Record<string, unknown>): Part => ({ name: 'value', ...v });

const patient = (): Resource => ({
  resourceType: 'Patient',
  id: 'p1',
  meta: { versionId: '2', lastUpdated: '2024-01-01T00:00:00Z' },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' },
  identifier: [
    { use: 'official', system: 's', value: '1' },
    { use: 'usual', system: 's', value: '2' },
  ],
  name: [{ family: 'Doe', given: ['Jane', 'Ann'], _given: [null, { extension: [{ url: 'u', valueString: 'e' }] }] }],
  birthDate: '1970-01-01',
  _birthDate: { extension: [{ url: 'http://example.org/x', valueString: 'y' }] },
  deceasedBoolean: false,
  address: [{ use: 'home', city: 'A' }, { use: 'work', city: 'B' }],
});

describe('applyFhirPathPatch', () => {
  it('does not mutate its input and returns a deep-equal copy for an empty patch', () => {
    const input = patient();
    const before = structuredClone(input);
    const result = applyFhirPathPatch(input, { resourceType: 'Parameters' });
    expect(result).toEqual(input);
    expect(result).not.toBe(input);
    applyFhirPathPatch(input, params(op(type('replace'), path('Patient.name[0].family'), value({ valueString: 'X' }))));
    expect(input).toEqual(before);
  });

  it('returns a deep-equal resource for a replace with the same value', () => {
    const input = patient();
    const result = applyFhirPathPatch(input, params(op(type('replace'), path('Patient.birthDate'), value({ valueDate: '1970-01-01' }))));
    // replacing a primitive replaces the whole element (its extensions go with it)
    const expected = structuredClone(input);
    delete expected['_birthDate'];
    expect(result).toEqual(expected);
    expect(applyFhirPathPatch(input, params(op(type('delete'), path('Patient.maritalStatus'))))).toEqual(input);
  });

  it('works with FHIRPath filters', () => {
    const result = applyFhirPathPatch(patient(), params(op(type('replace'), path("Patient.address.where(use = 'home').city"), value({ valueString: 'Z' }))));
    expect(result['address']).toEqual([{ use: 'home', city: 'Z' }, { use: 'work', city: 'B' }]);
  });

  it('replaces a choice element with another type', () => {
    const result = applyFhirPathPatch(patient(), params(op(type('replace'), path('Patient.deceased'), value({ valueDateTime: '2020-01-01' }))));
    expect(result['deceasedBoolean']).toBeUndefined();
    expect(result['deceasedDateTime']).toBe('2020-01-01');
  });

  it('adds a choice element named by its base name (value + valueString → valueString)', () => {
    const obs: Resource = { resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'c' } };
    const result = applyFhirPathPatch(obs, params(op(type('add'), path('Observation'), name('value'), value({ valueString: 'hi' }))));
    expect(result['valueString']).toBe('hi');
    const ext = applyFhirPathPatch(obs, params(op(type('add'), path('Observation'), name('extension'), value({ part: [{ name: 'url', valueUri: 'http://x' }, { name: 'value', valueBoolean: true }] }))));
    expect(ext['extension']).toEqual([{ url: 'http://x', valueBoolean: true }]);
  });

  it('keeps primitive extensions aligned on list operations', () => {
    const deleted = applyFhirPathPatch(patient(), params(op(type('delete'), path('Patient.name[0].given[0]'))));
    expect(deleted['name']).toEqual([{ family: 'Doe', given: ['Ann'], _given: [{ extension: [{ url: 'u', valueString: 'e' }] }] }]);
    const moved = applyFhirPathPatch(patient(), params(op(type('move'), path('Patient.name[0].given'), int('source', 1), int('destination', 0))));
    expect(moved['name']).toEqual([{ family: 'Doe', given: ['Ann', 'Jane'], _given: [{ extension: [{ url: 'u', valueString: 'e' }] }, null] }]);
  });

  it('adds an extension to a primitive (into its _x companion)', () => {
    const result = applyFhirPathPatch(patient(), params(op(type('add'), path('Patient.birthDate'), name('extension'), value({ part: [{ name: 'url', valueUri: 'http://z' }, { name: 'value', valueCode: 'c' }] }))));
    expect(result['birthDate']).toBe('1970-01-01');
    expect((result['_birthDate'] as { extension: unknown[] }).extension).toHaveLength(2);
  });

  it('inserts into an empty list via its parent', () => {
    const input: Resource = { resourceType: 'Patient', id: 'p' };
    const result = applyFhirPathPatch(input, params(op(type('insert'), path('Patient.identifier'), int('index', 0), value({ valueIdentifier: { value: 'x' } }))));
    expect(result['identifier']).toEqual([{ value: 'x' }]);
    expectFhirError(() => applyFhirPathPatch(input, params(op(type('insert'), path('Patient.identifier'), int('index', 1), value({ valueIdentifier: { value: 'x' } })))));
  });

  it('may patch meta.tag but not meta.versionId / lastUpdated / id / text', () => {
    const tagged = applyFhirPathPatch(patient(), params(op(type('add'), path('Patient.meta'), name('tag'), value({ valueCoding: { code: 't' } }))));
    expect(tagged.meta?.tag).toEqual([{ code: 't' }]);
    for (const [p, v] of [
      ['Patient.id', { valueId: 'other' }],
      ['Patient.meta.versionId', { valueId: '9' }],
      ['Patient.meta.lastUpdated', { valueInstant: '2030-01-01T00:00:00Z' }],
      ['Patient.text.div', { valueString: '<div xmlns="http://www.w3.org/1999/xhtml">y</div>' }],
      ['Patient.text.status', { valueCode: 'empty' }],
    ] as const) {
      const error = expectFhirError(() => applyFhirPathPatch(patient(), params(op(type('replace'), path(p), value(v)))));
      expect(error.message).toBe('Patching immutable properties is not allowed.');
      expect(error.issues[0]?.code).toBe('invalid');
    }
    expectFhirError(() => applyFhirPathPatch(patient(), params(op(type('delete'), path('Patient.id')))));
    expectFhirError(() => applyFhirPathPatch(patient(), params(op(type('delete'), path('Patient.text')))));
  });

  describe('errors (all FhirError 400 with an OperationOutcome issue)', () => {
    const cases: [string, unknown, string][] = [
      ['not a Parameters resource', { resourceType: 'Patient' }, 'Parameters'],
      ['parameter not an array', { resourceType: 'Parameters', parameter: {} }, 'array'],
      ['unknown parameter name', params({ name: 'op', part: [type('delete'), path('Patient.id')] }), "'operation'"],
      ['unknown operation type', params(op(type('coo'), path('Patient.birthDate'))), "Invalid patch operation type: 'coo'"],
      ['upsert is not R4', params(op(type('upsert'), path('Patient.birthDate'), value({ valueDate: '2000-01-01' }))), 'Invalid patch operation type'],
      ['missing type', params(op(path('Patient.birthDate'))), "'type' part"],
      ['missing path', params(op(type('delete'))), "Patch delete operations must have the 'path' part."],
      ['missing name', params(op(type('add'), path('Patient'), value({ valueDate: '2000-01-01' }))), "Patch add operations must have the 'name' part."],
      ['missing value (add)', params(op(type('add'), path('Patient'), name('gender'))), "Patch add operations must have the 'value' part."],
      ['missing value (replace)', params(op(type('replace'), path('Patient.birthDate'))), "Patch replace operations must have the 'value' part."],
      ['missing value (insert)', params(op(type('insert'), path('Patient.identifier'), int('index', 0))), "Patch insert operations must have the 'value' part."],
      ['value part without value', params(op(type('replace'), path('Patient.birthDate'), { name: 'value' })), "'value' part"],
      ['missing index', params(op(type('insert'), path('Patient.identifier'), value({ valueIdentifier: { value: 'x' } }))), "'index' part"],
      ['missing source', params(op(type('move'), path('Patient.identifier'), int('destination', 0))), "'source' part"],
      ['missing destination', params(op(type('move'), path('Patient.identifier'), int('source', 0))), "'destination' part"],
      ['negative index', params(op(type('insert'), path('Patient.identifier'), int('index', -1), value({ valueIdentifier: { value: 'x' } }))), 'non-negative integer'],
      ['replace matching more than one element', params(op(type('replace'), path('Patient.identifier.value'), value({ valueString: 'x' }))), 'Multiple elements found at Patient.identifier.value when processing patch replace operation.'],
      ['delete matching more than one element', params(op(type('delete'), path('Patient.identifier'))), 'Multiple elements found'],
      ['add at a path matching more than one', params(op(type('add'), path('Patient.identifier'), name('period'), value({ valuePeriod: { start: '2000' } }))), 'Multiple elements found'],
      ['replace matching nothing', params(op(type('replace'), path('Patient.maritalStatus'), value({ valueCodeableConcept: { text: 'x' } }))), 'No content found at Patient.maritalStatus'],
      ['insert index out of range', params(op(type('insert'), path('Patient.identifier'), int('index', 3), value({ valueIdentifier: { value: 'x' } }))), 'Index 3 out of bounds when processing patch insert operation.'],
      ['move source out of range', params(op(type('move'), path('Patient.identifier'), int('source', 2), int('destination', 0))), 'Source 2 out of bounds when processing patch move operation.'],
      ['move destination out of range', params(op(type('move'), path('Patient.identifier'), int('source', 0), int('destination', 5))), 'Destination 5 out of bounds when processing patch move operation.'],
      ['insert on a collection spanning lists', params(op(type('insert'), path('Patient.name.given | Patient.identifier'), int('index', 0), value({ valueString: 'x' }))), 'Multiple elements or collection found'],
      ['add of an unknown element', params(op(type('add'), path('Patient'), name('dummyProperty'), value({ valueString: 'x' }))), 'Element dummyProperty not found at Patient when processing patch add operation.'],
      ['add of an existing single element', params(op(type('add'), path('Patient'), name('deceased'), value({ valueDateTime: '2020' }))), 'Existing element deceased found at Patient when processing patch add operation.'],
      ['add with a wrong choice type', params(op(type('add'), path('Patient'), name('multipleBirth'), value({ valueString: 'x' }))), 'Invalid input for multipleBirth'],
      ['replace with a complex value into a primitive', params(op(type('replace'), path('Patient.birthDate'), value({ valueCodeableConcept: { text: 'x' } }))), 'Invalid input for birthDate'],
      ['invalid FHIRPath syntax', params(op(type('delete'), path('Patient.name[('))), 'Invalid FHIRPath expression'],
      ['path not selecting elements', params(op(type('replace'), path("'a' + 'b'"), value({ valueString: 'x' }))), ''],
      ['replace of the root', params(op(type('replace'), path('Patient'), value({ valueString: 'x' }))), 'Cannot replace'],
      ['duplicate parts', params(op(type('delete'), path('Patient.id'), path('Patient.gender'))), "only one 'path' part"],
    ];
    it.each(cases)('%s', (_label, patch, text) => {
      const input = patient();
      const before = structuredClone(input);
      const error = expectFhirError(() => applyFhirPathPatch(input, patch));
      expect(error.message).toContain(text);
      // Microsoft's FHIR service answers every FHIRPath Patch error, validation or runtime, 400 `invalid`.
      expect(error.issues[0]?.code).toBe('invalid');
      expect(input).toEqual(before);
    });
  });

  it('deleting a path that matches nothing is a no-op', () => {
    const input = patient();
    expect(applyFhirPathPatch(input, params(op(type('delete'), path("Patient.identifier.where(use = 'temp')"))))).toEqual(input);
  });

  it.each([
    ['Patient.__proto__', 'add', 'polluted'],
    ['Patient.constructor.prototype', 'add', 'polluted'],
    ['Patient.`__proto__`', 'add', 'polluted'],
    ['Patient', 'add', '__proto__'],
    ['Patient', 'add', 'constructor'],
    ['Patient.name[0].__proto__', 'replace', ''],
  ])('refuses prototype pollution (path %s, %s %s) without effect', (p, t, n) => {
    const parts: Part[] = [type(t), path(p)];
    if (n) parts.push(name(n));
    parts.push(value({ valueString: 'yes' }));
    expectFhirError(() => applyFhirPathPatch(patient(), params(op(...parts))));
    expectFhirError(() => applyFhirPathPatchUnguarded(patient(), params(op(...parts))));
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(Object.prototype).not.toHaveProperty('yes');
  });

  it('refuses prototype keys inside nested parts and values', () => {
    expectFhirError(() =>
      applyFhirPathPatch(patient(), params(op(type('add'), path('Patient'), name('contact'), value({ part: [{ name: '__proto__', valueString: 'x' }] })))),
    );
    expectFhirError(() =>
      applyFhirPathPatch(patient(), params(op(type('add'), path('Patient'), name('maritalStatus'), value({ valueCodeableConcept: JSON.parse('{"__proto__":{"polluted":1}}') as unknown })))),
    );
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('compiles each expression once (cache) and still evaluates against each resource', () => {
    const a = applyFhirPathPatch(patient(), params(op(type('replace'), path('Patient.name[0].family'), value({ valueString: 'A' }))));
    const b = applyFhirPathPatch(patient(), params(op(type('replace'), path('Patient.name[0].family'), value({ valueString: 'B' }))));
    expect((a['name'] as { family: string }[])[0]?.family).toBe('A');
    expect((b['name'] as { family: string }[])[0]?.family).toBe('B');
  });
});
