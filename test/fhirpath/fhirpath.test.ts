import { describe, expect, it } from 'vitest';
import { compileFhirPath, type FhirPathDialect } from '../../src/fhirpath/compile.js';
import { r4Model } from '../../src/fhirpath/r4-model.js';

const VALUES: FhirPathDialect = { name: 'test-values', rewrite: (e) => e, nodes: false };
const NODES: FhirPathDialect = { name: 'test-nodes', rewrite: (e) => e, nodes: true };
const patient = { resourceType: 'Patient', id: 'p1', name: [{ family: 'Muller', given: ['Anna', 'Eva'] }] };

describe('the FHIRPath compile cache', () => {
  it('compiles once per expression and dialect', () => {
    const a = compileFhirPath('Patient.name.given', VALUES);
    expect(compileFhirPath('Patient.name.given', VALUES)).toBe(a);
    expect(a(patient)).toEqual(['Anna', 'Eva']);
    const nodes = compileFhirPath('Patient.name.given', NODES);
    expect(nodes).not.toBe(a);
    expect(nodes(patient).map((n) => (n as { data: unknown }).data)).toEqual(['Anna', 'Eva']);
  });

  it('applies the dialect rewrite before compiling', () => {
    const upper: FhirPathDialect = { name: 'test-rewrite', rewrite: (e) => e.replace('FAMILY', 'family'), nodes: false };
    expect(compileFhirPath('Patient.name.FAMILY', upper)(patient)).toEqual(['Muller']);
  });

  it('throws the compile error for an invalid expression, every time', () => {
    expect(() => compileFhirPath('Patient.name.(', VALUES)).toThrow();
    expect(() => compileFhirPath('Patient.name.(', VALUES)).toThrow();
  });

  it('is bounded: the oldest expressions are compiled again', () => {
    const first = compileFhirPath('Patient.id', { ...VALUES, name: 'test-bound' });
    for (let i = 0; i < 1000; i++) compileFhirPath(`Patient.id = '${i}'`, { ...VALUES, name: 'test-bound' });
    const again = compileFhirPath('Patient.id', { ...VALUES, name: 'test-bound' });
    expect(again).not.toBe(first);
    expect(again(patient)).toEqual(['p1']);
  });
});

describe('the R4 model', () => {
  it('types elements, resolves shared definitions and choice elements', () => {
    expect(r4Model.typeOf('Patient.name')).toBe('HumanName');
    expect(r4Model.definedAt('Bundle.entry.link')).toBe('Bundle.link');
    expect(r4Model.definedAt('Patient.name')).toBe('Patient.name');
    expect(r4Model.choiceTypes('Observation.value')).toContain('Quantity');
    expect(r4Model.repeats('Patient.name')).toBe(true);
    expect(r4Model.repeats('Patient.birthDate')).toBe(false);
    expect(r4Model.parentOf('Patient')).toBe('DomainResource');
    expect(r4Model.isType('HumanName')).toBe(true);
    expect(r4Model.knows('Patient.contact')).toBe(true);
  });

  it('finds a child element along the ancestors of a type or backbone element', () => {
    expect(r4Model.element('Patient', 'contact')).toEqual({ path: 'Patient.contact', type: 'BackboneElement', repeating: true });
    // SimpleQuantity has no elements of its own: they are Quantity's
    expect(r4Model.element('SimpleQuantity', 'code')).toEqual({ path: 'Quantity.code', type: 'code', repeating: false });
    expect(r4Model.element('Patient.contact', 'extension')).toEqual({ path: 'Patient.contact.extension', type: 'Extension', repeating: true });
    expect(r4Model.element('Patient', 'nope')).toBeUndefined();
    expect(r4Model.element('Observation', 'value')?.choiceTypes).toContain('CodeableConcept');
  });

  it('never answers from the prototype chain', () => {
    for (const name of ['constructor', '__proto__', 'toString']) {
      expect(r4Model.typeOf(name)).toBeUndefined();
      expect(r4Model.isType(name)).toBe(false);
      expect(r4Model.element('Patient', name)).toBeUndefined();
    }
  });
});
