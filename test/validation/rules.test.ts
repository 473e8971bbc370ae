/**
 * One rule at a time: exact issue codes and FHIRPath expressions of `validateResource`, the helpers that
 * turn issues into the engine's answers, and `mandatoryElements`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FhirError } from '../../src/errors.js';
import {
  assertValidResource,
  invalidResourceError,
  mandatoryElements,
  validateResource,
  validationOutcome,
  type ValidationOptions,
} from '../../src/validation/index.js';

/** `[code, expression]` of each issue, in order. */
const problems = (resource: unknown, options?: ValidationOptions): [string, string | undefined][] =>
  validateResource(resource, options).map((i) => [i.code, i.expression?.[0]]);

const patient = (extra: Record<string, unknown>) => ({ resourceType: 'Patient', ...extra });
const observation = (extra: Record<string, unknown>) => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, ...extra });

describe("the issue's two requests", () => {
  it('names every problem of the first, each with its code and location', () => {
    const body = JSON.parse('{"resourceType":"Patient","birthDate":"garbage","gender":42,"name":"notalist","foo":"bar","active":"yes"}');
    expect(validateResource(body)).toEqual([
      { severity: 'error', code: 'value', diagnostics: 'Invalid date: "garbage"', expression: ['Patient.birthDate'] },
      { severity: 'error', code: 'structure', diagnostics: 'Expected a JSON string for code, found number', expression: ['Patient.gender'] },
      { severity: 'error', code: 'structure', diagnostics: 'name repeats (max *): expected an array, found string', expression: ['Patient.name'] },
      { severity: 'error', code: 'structure', diagnostics: 'Unknown element "foo"', expression: ['Patient.foo'] },
      { severity: 'error', code: 'structure', diagnostics: 'Expected a JSON boolean for boolean, found string', expression: ['Patient.active'] },
    ]);
  });

  it('reports __proto__ and constructor (own keys from JSON.parse) as unknown elements and touches no prototype', () => {
    const body = JSON.parse('{"resourceType":"Patient","__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}');
    expect(Object.keys(body)).toEqual(['resourceType', '__proto__', 'constructor']);
    expect(validateResource(body)).toEqual([
      { severity: 'error', code: 'structure', diagnostics: 'Unknown element "__proto__"', expression: ['Patient.__proto__'] },
      { severity: 'error', code: 'structure', diagnostics: 'Unknown element "constructor"', expression: ['Patient.constructor'] },
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(problems(JSON.parse('{"resourceType":"Patient","name":[{"prototype":{"x":1},"family":"Doe"}]}'))).toEqual([
      ['structure', 'Patient.name[0].prototype'],
    ]);
  });

  it('reads only own keys: inherited properties are neither elements nor a resourceType', () => {
    const inherited = Object.assign(Object.create({ foo: 'bar', birthDate: 'garbage' }), { resourceType: 'Patient', active: true });
    expect(problems(inherited)).toEqual([]);
    expect(validateResource(Object.create({ resourceType: 'Patient' }))).toEqual([
      { severity: 'error', code: 'invalid', diagnostics: 'The resource has no resourceType' },
    ]);
  });

  it('ignores enumerable keys someone else put on Object.prototype', () => {
    const prototype = Object.prototype as Record<string, unknown>;
    prototype.pollutedKey = 'x';
    try {
      expect(problems(patient({ name: [{ family: 'Doe' }] }))).toEqual([]);
      expect(problems(patient({ name: [{}] }))).toEqual([['structure', 'Patient.name[0]']]);
    } finally {
      delete prototype.pollutedKey;
    }
  });
});

describe('resourceType', () => {
  it.each([
    [null, 'A resource must be a JSON object, not null'],
    [[], 'A resource must be a JSON object, not array'],
    ['Patient', 'A resource must be a JSON object, not string'],
    [{ id: '1' }, 'The resource has no resourceType'],
    [{ resourceType: 7 }, 'Unknown resourceType 7: not an R4 resource type'],
    [{ resourceType: 'Patients' }, 'Unknown resourceType "Patients": not an R4 resource type'],
    [{ resourceType: 'DomainResource' }, 'Unknown resourceType "DomainResource": not an R4 resource type'],
    [{ resourceType: 'HumanName' }, 'Unknown resourceType "HumanName": not an R4 resource type'],
  ])('%j is not a resource', (body, diagnostics) => {
    expect(validateResource(body)).toEqual([{ severity: 'error', code: 'invalid', diagnostics }]);
  });

  it('accepts every R4 type, e.g. Binary (a Resource, not a DomainResource) and Parameters', () => {
    expect(problems({ resourceType: 'Binary', contentType: 'text/plain', data: 'aGVsbG8=' })).toEqual([]);
    expect(problems({ resourceType: 'Parameters', parameter: [{ name: 'a', valueString: 'b' }] })).toEqual([]);
    expect(problems({ resourceType: 'Binary', contentType: 'text/plain', text: { status: 'generated', div: '<div/>' } })).toEqual([
      ['structure', 'Binary.text'],
    ]);
  });
});

describe('elements and JSON types', () => {
  it('reports unknown elements at any depth, including in backbone elements and datatypes', () => {
    expect(
      problems(patient({ name: [{ family: 'Doe', nickname: 'D' }], contact: [{ gender: 'male', ssn: '1' }], meta: { versionId: '1', etag: 'x' } })),
    ).toEqual([
      ['structure', 'Patient.name[0].nickname'],
      ['structure', 'Patient.contact[0].ssn'],
      ['structure', 'Patient.meta.etag'],
    ]);
  });

  it('checks the JSON type of primitives and complex values', () => {
    expect(
      problems(patient({ active: 'true', birthDate: 19800101, maritalStatus: 'M', name: [{ given: [1, 'Ann'] }], deceasedBoolean: null })),
    ).toEqual([
      ['structure', 'Patient.active'],
      ['structure', 'Patient.birthDate'],
      ['structure', 'Patient.maritalStatus'],
      ['structure', 'Patient.name[0].given[0]'],
      ['structure', 'Patient.deceasedBoolean'],
    ]);
  });

  it('wants arrays exactly where max is *', () => {
    expect(
      problems(patient({ name: { family: 'Doe' }, birthDate: ['1980-01-01'], telecom: [{ system: 'phone', value: '1' }], maritalStatus: [{ text: 'M' }] })),
    ).toEqual([
      ['structure', 'Patient.name'],
      ['structure', 'Patient.birthDate'],
      ['structure', 'Patient.maritalStatus'],
    ]);
  });

  it('refuses empty strings, objects and arrays', () => {
    expect(validateResource(patient({ name: [], maritalStatus: {}, gender: '', identifier: [{}] }))).toEqual([
      { severity: 'error', code: 'structure', diagnostics: 'An array must have at least one item (json.html)', expression: ['Patient.name'] },
      { severity: 'error', code: 'structure', diagnostics: 'An object must have at least one property (json.html)', expression: ['Patient.maritalStatus'] },
      { severity: 'error', code: 'value', diagnostics: 'Invalid code: the empty string is not a value (json.html)', expression: ['Patient.gender'] },
      { severity: 'error', code: 'structure', diagnostics: 'An object must have at least one property (json.html)', expression: ['Patient.identifier[0]'] },
    ]);
  });
});

describe('cardinality', () => {
  it('reports each missing required element (min 1), in backbone elements too', () => {
    expect(validateResource({ resourceType: 'Observation', component: [{ valueString: 'x' }] })).toEqual([
      { severity: 'error', code: 'required', diagnostics: 'Missing required element code (min 1)', expression: ['Observation.component[0].code'] },
      { severity: 'error', code: 'required', diagnostics: 'Missing required element status (min 1)', expression: ['Observation.status'] },
      { severity: 'error', code: 'required', diagnostics: 'Missing required element code (min 1)', expression: ['Observation.code'] },
    ]);
  });

  it('names a missing required choice element with [x]', () => {
    const event = { resourceType: 'AuditEvent', type: { code: 'rest' }, recorded: '2020-01-01T00:00:00Z', agent: [{ requestor: true }], source: { observer: { display: 'x' } } };
    expect(problems({ ...event, entity: [{ detail: [{ type: 'a' }] }] })).toEqual([['required', 'AuditEvent.entity[0].detail[0].value[x]']]);
    expect(problems({ ...event, entity: [{ detail: [{ type: 'a', valueBase64Binary: 'YWJj' }] }] })).toEqual([]);
  });

  it('counts a primitive present through its extensions only (_status) as present', () => {
    const absent = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] };
    expect(problems({ resourceType: 'Observation', _status: absent, code: { text: 'x' } })).toEqual([]);
  });

  it('follows content references (Questionnaire.item.item has the definition of Questionnaire.item)', () => {
    expect(
      problems({ resourceType: 'Questionnaire', status: 'active', item: [{ linkId: '1', type: 'group', item: [{ type: 'string', answer: 1 }] }] }),
    ).toEqual([
      ['structure', 'Questionnaire.item[0].item[0].answer'],
      ['required', 'Questionnaire.item[0].item[0].linkId'],
    ]);
  });
});

describe('choice types', () => {
  it('allows one variant of an allowed type', () => {
    expect(problems(observation({ valueQuantity: { value: 1 } }))).toEqual([]);
    expect(validateResource(observation({ valueQuantity: { value: 1 }, valueString: 'one' }))).toEqual([
      { severity: 'error', code: 'structure', diagnostics: 'Only one type of value[x] is allowed: found valueString and valueQuantity', expression: ['Observation.valueString'] },
    ]);
    expect(validateResource(patient({ deceasedString: 'yes' }))).toEqual([
      { severity: 'error', code: 'structure', diagnostics: 'String is not an allowed type of deceased[x]', expression: ['Patient.deceasedString'] },
    ]);
  });

  it('takes _x of the same variant as part of it, of another variant as a second variant', () => {
    const ext = { extension: [{ url: 'http://e.org/x', valueBoolean: true }] };
    expect(problems(observation({ valueString: 'a', _valueString: ext }))).toEqual([]);
    expect(problems(observation({ valueString: 'a', _valueBoolean: ext }))).toEqual([['structure', 'Observation._valueBoolean']]);
  });
});

describe('primitive formats (through extension values, which take every type)', () => {
  const withValue = (key: string, value: unknown) => patient({ extension: [{ url: 'http://example.org/x', [key]: value }] });
  const cases: [string, unknown[], unknown[]][] = [
    ['valueId', ['a-B.1', 'x'.repeat(64)], ['a_b', 'x'.repeat(65), 'a b']],
    ['valueDate', ['2020', '2020-02', '2024-02-29', '2000-02-29'], ['2020-13', '2020-1-1', '2023-02-29', '1900-02-29', '2020-04-31', '20200101', '2020-01-01T00:00:00Z']],
    ['valueDateTime', ['2020', '2020-01-02', '2020-01-02T03:04:05Z', '2020-01-02T03:04:05.123+14:00'], ['2020-01-02T03:04:05', '2020-01-02T03:04Z', '2020-01-02T24:00:00Z', '2021-02-29T00:00:00Z']],
    ['valueInstant', ['2020-01-02T03:04:05Z', '2020-01-02T03:04:05.5-05:00'], ['2020-01-02', '2020-01-02T03:04:05']],
    ['valueTime', ['00:00:00', '23:59:60.5'], ['24:00:00', '10:00', '10:00:00Z']],
    ['valueUri', ['http://a/b', 'urn:x', 'relative/path', `http://example.org/${'a'.repeat(40)}`], ['has space', 'tab\there', `http://example.org/${'a'.repeat(40)} x`, 'a\u0000']],
    ['valueUrl', ['https://example.org/a?b=c'], ['https://example.org/a b']],
    ['valueCanonical', ['http://hl7.org/fhir/StructureDefinition/Patient|4.0.1'], ['http://a b']],
    ['valueCode', ['a', 'a b', 'x-y.z', 'a\tb', `${'a'.repeat(40)} b`], [' a', 'a ', 'a  b', 'a \tb', 'a\u0000', `${'a'.repeat(40)}  b`, `${'a'.repeat(40)} `, 'a\ud800']],
    ['valueOid', ['urn:oid:1.2.3'], ['1.2.3', 'urn:oid:3.1', 'urn:oid:1.02']],
    ['valueUuid', ['urn:uuid:c757873d-ec9a-4326-a141-556f43239520'], ['c757873d-ec9a-4326-a141-556f43239520', 'urn:uuid:C757873D-EC9A-4326-A141-556F43239520']],
    ['valueBase64Binary', ['aGVsbG8=', 'aGVs bG8=', ' aGVs\nbG8= '], ['aGVsbG8', 'aG Vs', 'aGV*']],
    ['valueString', ['x', ' ', 'a\u00a0b', 'tab\tcr\rlf\n', '\u007f', '😀'], ['', 'nul\u0000', '\u0001', 'esc\u001b', 'vt\u000b', '\ud800', 'lone \udc00 low']],
    ['valueMarkdown', ['# x'], ['', '# \u0000']],
    ['valueInteger', [0, -2147483648, 2147483647], [1.5, 2147483648, -2147483649]],
    ['valuePositiveInt', [1, 2147483647], [0, -1, 1.5]],
    ['valueUnsignedInt', [0, 7], [-1, 2.5, 2147483648]],
    ['valueDecimal', [0, -1.5, 1e-7], [Number.NaN, Number.POSITIVE_INFINITY]],
    ['valueBoolean', [true, false], []],
  ];
  it.each(cases)('%s accepts its valid values and refuses the others with a value issue', (key, valid, invalid) => {
    for (const value of valid) expect(problems(withValue(key, value)), JSON.stringify(value)).toEqual([]);
    for (const value of invalid) expect(problems(withValue(key, value)), JSON.stringify(value)).toEqual([['value', `Patient.extension[0].${key}`]]);
  });

  it('refuses a string longer than 1 MB, but not base64Binary', () => {
    const long = 'x'.repeat(1024 * 1024 + 1);
    expect(problems(withValue('valueString', long))).toEqual([['value', 'Patient.extension[0].valueString']]);
    expect(problems(withValue('valueBase64Binary', 'aGVs'.repeat(300_000)))).toEqual([]);
  });

  it('checks a long invalid base64Binary in linear time (the spec regex backtracks exponentially)', () => {
    expect(problems(withValue('valueBase64Binary', `${'AAAA '.repeat(5000)}!`))).toEqual([['value', 'Patient.extension[0].valueBase64Binary']]);
  });
});

describe('primitive extensions (_x)', () => {
  const ext = { extension: [{ url: 'http://example.org/x', valueString: 'y' }] };
  it('are allowed where the primitive is, with or without its value', () => {
    expect(problems(patient({ birthDate: '1980', _birthDate: ext }))).toEqual([]);
    expect(problems(patient({ _birthDate: { id: 'b1' } }))).toEqual([]);
    expect(problems(patient({ _birthDate: 'x', _name: ext, _foo: ext, text: { status: 'generated', div: '<div/>', _div: ext } }))).toEqual([
      ['structure', 'Patient.birthDate'],
      ['structure', 'Patient._name'],
      ['structure', 'Patient._foo'],
      ['structure', 'Patient.text._div'],
    ]);
  });

  it('validate their content at the FHIRPath of the primitive', () => {
    expect(problems(patient({ _birthDate: { extension: [{ valueString: 'y' }], foo: 1 } }))).toEqual([
      ['required', 'Patient.birthDate.extension[0].url'],
      ['structure', 'Patient.birthDate.foo'],
    ]);
  });

  it('align with a repeating primitive: null only where the other array has something', () => {
    expect(problems(patient({ name: [{ given: ['a', null, 'c'], _given: [null, ext, null] }] }))).toEqual([]);
    expect(problems(patient({ name: [{ _given: [ext, ext] }] }))).toEqual([]);
    expect(problems(patient({ name: [{ given: ['a', null] }] }))).toEqual([['structure', 'Patient.name[0].given[1]']]);
    expect(problems(patient({ name: [{ given: ['a', null], _given: [ext, null] }] }))).toEqual([['structure', 'Patient.name[0].given[1]']]);
    expect(problems(patient({ name: [{ given: ['a'], _given: [null, ext] }] }))).toEqual([['structure', 'Patient.name[0].given']]);
    expect(problems(patient({ name: [{ _given: [null] }] }))).toEqual([['structure', 'Patient.name[0].given[0]']]);
    expect(problems(patient({ name: [{ given: ['a'], _given: ext }] }))).toEqual([['structure', 'Patient.name[0].given']]);
    expect(problems(patient({ name: [{ given: ['a', 'b'], _given: [ext, 'x'] }] }))).toEqual([['structure', 'Patient.name[0].given[1]']]);
  });
});

describe('required bindings on code elements', () => {
  it('refuses a code outside a small required value set', () => {
    expect(validateResource(patient({ gender: 'mal' }))).toEqual([
      {
        severity: 'error',
        code: 'value',
        diagnostics: '"mal" is not a code of the required value set administrative-gender (male | female | other | unknown)',
        expression: ['Patient.gender'],
      },
    ]);
    expect(problems(observation({ status: 'done' }))).toEqual([['value', 'Observation.status']]);
    expect(problems({ resourceType: 'Bundle', type: 'pile' })).toEqual([['value', 'Bundle.type']]);
    expect(problems({ resourceType: 'AllergyIntolerance', patient: { reference: 'Patient/1' }, category: ['food', 'dust'] })).toEqual([
      ['value', 'AllergyIntolerance.category[1]'],
    ]);
  });

  it('leaves codes alone where the binding is not required or not enumerable', () => {
    expect(problems(patient({ language: 'tlh' }))).toEqual([]); // preferred binding
    expect(problems({ resourceType: 'Binary', contentType: 'application/x-anything' })).toEqual([]); // BCP-13, not enumerable
  });
});

describe('Reference.reference', () => {
  const ref = (reference: string) => patient({ managingOrganization: { reference } });
  it.each([
    'Organization/1',
    'Organization/a.b-C/_history/2',
    'http://example.org/fhir/Organization/1',
    'https://example.org/anything',
    '#org1',
    '#',
    'urn:uuid:c757873d-ec9a-4326-a141-556f43239520',
    'urn:oid:1.2.3.4',
    'Organization?identifier=http://x|1',
  ])('accepts %s', (reference) => {
    expect(problems(ref(reference))).toEqual([]);
  });

  it.each(['Organization/', 'Organization/1 2', 'Organisation/1', 'organization/1', 'Organization/a_b', 'Organization/1/_history/', '#a b', 'urn:uuid:1234', 'urn:oid:x', 'just words', '/Organization/1'])(
    'refuses %s',
    (reference) => {
      expect(problems(ref(reference))).toEqual([['value', 'Patient.managingOrganization.reference']]);
    },
  );
});

describe('resources inside resources', () => {
  it('validates contained resources at their FHIRPath', () => {
    expect(
      problems(patient({ contained: [{ resourceType: 'Organization', id: 'o', name: 7 }, { resourceType: 'Foo' }, { id: 'x' }], managingOrganization: { reference: '#o' } })),
    ).toEqual([
      ['structure', 'Patient.contained[0].name'],
      ['invalid', 'Patient.contained[1]'],
      ['invalid', 'Patient.contained[2]'],
    ]);
  });

  it('validates Bundle entries and Parameters resources recursively', () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:c757873d-ec9a-4326-a141-556f43239520', resource: patient({ gender: 'male' }), request: { method: 'POST', url: 'Patient' } },
        { resource: observation({ valueQuantity: { value: '1' } }), request: { method: 'PUSH', url: 'Observation' } },
        { resource: { resourceType: 'Bundle', type: 'collection', entry: [{ resource: patient({ birthDate: 'x' }) }] } },
      ],
    };
    expect(problems(bundle)).toEqual([
      ['structure', 'Bundle.entry[1].resource.valueQuantity.value'],
      ['value', 'Bundle.entry[1].request.method'],
      ['value', 'Bundle.entry[2].resource.entry[0].resource.birthDate'],
    ]);
    expect(problems({ resourceType: 'Parameters', parameter: [{ name: 'r', resource: patient({ foo: 1 }) }] })).toEqual([
      ['structure', 'Parameters.parameter[0].resource.foo'],
    ]);
  });
});

describe('limits', () => {
  const nested = (depth: number) => {
    let extension: Record<string, unknown> = { url: 'http://example.org/x', valueString: 'leaf' };
    for (let i = 0; i < depth; i++) extension = { url: 'http://example.org/x', extension: [extension] };
    return patient({ extension: [extension] });
  };

  it('answers a 20,000-deep body with one too-costly issue instead of overflowing the stack', () => {
    const issues = validateResource(nested(20_000));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ severity: 'error', code: 'too-costly', diagnostics: 'Nested deeper than 100 objects' });
    expect(issues[0]!.expression![0]).toBe(`Patient${'.extension[0]'.repeat(100)}`);
  });

  it('answers 20,000 nested arrays with one issue, without walking them', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 20_000; i++) deep = [deep];
    expect(problems(patient({ name: [deep] }))).toEqual([['structure', 'Patient.name[0]']]);
  });

  it('walks nesting up to maxDepth', () => {
    expect(problems(nested(98))).toEqual([]);
    expect(problems(nested(99))).toEqual([['too-costly', `Patient${'.extension[0]'.repeat(100)}`]]);
    expect(problems(nested(3), { maxDepth: 3 })).toEqual([['too-costly', 'Patient.extension[0].extension[0].extension[0]']]);
  });

  it('stops after maxIssues, saying so', () => {
    const many = patient(Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`x${i}`, i])));
    const issues = validateResource(many);
    expect(issues).toHaveLength(1001);
    expect(issues[1000]).toEqual({ severity: 'error', code: 'too-costly', diagnostics: 'Stopped after 1000 issues' });
    expect(problems(many, { maxIssues: 2 })).toEqual([
      ['structure', 'Patient.x0'],
      ['structure', 'Patient.x1'],
      ['too-costly', undefined],
    ]);
  });

  it('never throws, not even on a getter that does, and changes nothing', () => {
    const hostile = { resourceType: 'Patient', get active(): boolean { throw new Error('boom'); } };
    expect(validateResource(hostile)).toEqual([{ severity: 'error', code: 'invalid', diagnostics: 'The resource could not be validated: boom' }]);
    const frozen = Object.freeze(patient({ name: Object.freeze([Object.freeze({ family: 'Doe', given: Object.freeze(['A']) })]) }));
    expect(problems(frozen)).toEqual([]);
  });
});

describe('answers for the engine', () => {
  const bad = patient({ birthDate: 'garbage', foo: 1 });

  it('invalidResourceError is a 400 whose OperationOutcome lists every issue', () => {
    const error = invalidResourceError(validateResource(bad));
    expect(error).toBeInstanceOf(FhirError);
    expect(error.status).toBe(400);
    expect(error.toOperationOutcome()).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        { severity: 'error', code: 'value', diagnostics: 'Invalid date: "garbage"', expression: ['Patient.birthDate'] },
        { severity: 'error', code: 'structure', diagnostics: 'Unknown element "foo"', expression: ['Patient.foo'] },
      ],
    });
    expect(() => invalidResourceError([])).toThrow(TypeError);
  });

  it('assertValidResource throws that error, and nothing for a valid resource', () => {
    expect(() => assertValidResource(bad)).toThrow(FhirError);
    expect(() => assertValidResource(patient({ birthDate: '1980' }))).not.toThrow();
  });

  it('validationOutcome says All OK when there are no issues', () => {
    expect(validationOutcome([])).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'information', code: 'informational', diagnostics: 'All OK' }],
    });
    expect(validationOutcome(validateResource(bad)).issue).toHaveLength(2);
  });

  it('mandatoryElements gives the min-1 elements of a resource type', () => {
    expect(mandatoryElements('Observation')).toEqual(['status', 'code']);
    expect(mandatoryElements('Patient')).toEqual([]);
    expect(mandatoryElements('AuditEvent')).toEqual(['type', 'recorded', 'agent', 'source']);
    expect(mandatoryElements('HumanName')).toBeUndefined();
    expect(mandatoryElements('Nope')).toBeUndefined();
  });
});

describe('base64Binary', () => {
  // The R4 pattern, which the validator checks by a scan of its own (the regex is slow on long values).
  const pattern = /^(?:[ \t\n\r]*(?:[0-9a-zA-Z+/=]{4}[ \t\n\r]*)+)$/;
  const valid = (data: string): boolean => validateResource({ resourceType: 'Binary', contentType: 'text/plain', data }).length === 0;

  it('accepts exactly what the R4 pattern accepts', () => {
    for (const data of ['AAAA', 'AAAA BBBB', ' AAAA\n', 'QUJD\r\nREVG', 'AA==', 'AAA', 'AA AA', 'AAAA=', 'AAAA!', 'A\tAAA', '    ', 'AAAAAAA A']) {
      expect(valid(data)).toBe(pattern.test(data));
    }
    fc.assert(
      fc.property(fc.array(fc.constantFrom('A', 'z', '0', '+', '/', '=', ' ', '\n', '\t', '-', '_', 'é'), { minLength: 1, maxLength: 24 }), (chars) => {
        const data = chars.join('');
        expect(valid(data)).toBe(pattern.test(data));
      }),
      { numRuns: 2000 },
    );
  });

  it('names a long invalid value by its start only', () => {
    const [issue] = validateResource({ resourceType: 'Binary', contentType: 'text/plain', data: `${'A'.repeat(1 << 20)}!` });
    expect(issue).toMatchObject({ code: 'value', expression: ['Binary.data'] });
    expect(issue!.diagnostics.length).toBeLessThan(120);
  });
});
