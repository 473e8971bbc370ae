import { describe, expect, it } from 'vitest';
import { dateRange, fold, numberRange, parseReference } from '../../src/search/normalize.js';
import { SearchParameterRegistry, splitUnion, branchesFor } from '../../src/search/registry.js';

const isType = (t: string) => SearchParameterRegistry.r4().resourceTypes.has(t);

describe('normalisation', () => {
  it('folds strings', () => {
    expect(fold('Müller')).toBe('muller');
    expect(fold('ÅNGSTRÖM Éé')).toBe('angstrom ee');
    expect(fold('abc')).toBe('abc');
  });

  it('dates by precision, UTC when no zone', () => {
    expect(dateRange('2020')).toEqual([Date.UTC(2020, 0, 1), Date.UTC(2021, 0, 1) - 1]);
    expect(dateRange('2020-02')).toEqual([Date.UTC(2020, 1, 1), Date.UTC(2020, 2, 1) - 1]);
    expect(dateRange('2020-02-29')).toEqual([Date.UTC(2020, 1, 29), Date.UTC(2020, 2, 1) - 1]);
    expect(dateRange('2020-02-29T10:00')).toEqual([Date.UTC(2020, 1, 29, 10), Date.UTC(2020, 1, 29, 10, 1) - 1]);
    expect(dateRange('2020-02-29T10:00:05Z')).toEqual([Date.UTC(2020, 1, 29, 10, 0, 5), Date.UTC(2020, 1, 29, 10, 0, 5, 999)]);
    expect(dateRange('2020-02-29T10:00:05+02:00')).toEqual([Date.UTC(2020, 1, 29, 8, 0, 5), Date.UTC(2020, 1, 29, 8, 0, 5, 999)]);
    expect(dateRange('2020-02-29T10:00:05.123Z')).toEqual([Date.UTC(2020, 1, 29, 10, 0, 5, 123), Date.UTC(2020, 1, 29, 10, 0, 5, 123)]);
    for (const bad of ['not-a-date', '2020-13', '2020-01-32', '20', '2020-1-1', '']) expect(dateRange(bad)).toBeUndefined();
  });

  it('numbers by implicit precision', () => {
    expect(numberRange('100')).toEqual([99.5, 100.5]);
    const r = numberRange('1.50')!;
    expect(r[0]).toBeCloseTo(1.495, 10);
    expect(r[1]).toBeCloseTo(1.505, 10);
    expect(numberRange('1e2')).toEqual([50, 150]);
    for (const bad of ['', 'abc', '1.2.3', 'gt']) expect(numberRange(bad)).toBeUndefined();
  });

  it('references', () => {
    expect(parseReference('Patient/1', isType)).toEqual({ targetType: 'Patient', targetId: '1', url: null });
    expect(parseReference('Patient/1/_history/3', isType)).toEqual({ targetType: 'Patient', targetId: '1', url: null });
    expect(parseReference('http://a/fhir/Patient/1/_history/3', isType)).toEqual({ targetType: 'Patient', targetId: '1', url: 'http://a/fhir/Patient/1' });
    expect(parseReference('http://a/fhir/ValueSet/x|1.0', isType)).toEqual({ targetType: null, targetId: null, url: 'http://a/fhir/ValueSet/x|1.0' });
    expect(parseReference('#c1', isType)).toBeUndefined();
  });
});

describe('registry', () => {
  const reg = SearchParameterRegistry.r4();
  it('has the R4 table', () => {
    expect(reg.resourceTypes.size).toBeGreaterThanOrEqual(145);
    expect(reg.resourceTypes.has('Patient')).toBe(true);
    expect(reg.resourceTypes.has('Resource')).toBe(false);
    const patient = reg.forType('Patient');
    for (const c of ['_id', '_lastUpdated', '_tag', '_profile', '_security', '_source', 'birthdate', 'identifier', 'name', 'address-city']) {
      expect(patient.has(c)).toBe(true);
    }
    expect(reg.get('Observation', 'subject')?.type).toBe('reference');
    expect(reg.get('Observation', 'subject')?.target).toContain('Patient');
    expect(reg.forType('NotAType').size).toBe(0);
  });

  it('accepts custom definitions', () => {
    const custom = SearchParameterRegistry.r4([
      { code: 'eye-colour', type: 'token', base: ['Patient'], expression: "Patient.extension.where(url='http://x/eye').value" },
    ]);
    expect(custom.get('Patient', 'eye-colour')?.type).toBe('token');
    expect(SearchParameterRegistry.r4().get('Patient', 'eye-colour')).toBeUndefined();
  });

  it('splits unions by base type', () => {
    expect(splitUnion("a.where(x='|') | (b as C) | c")).toEqual(["a.where(x='|')", '(b as C)', 'c']);
    const def = reg.get('Observation', 'patient')!;
    expect(branchesFor(def, 'Observation')).toEqual([{ expression: 'Observation.subject', targetType: 'Patient' }]);
  });
});
