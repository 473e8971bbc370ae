/**
 * The compartment table (generated from the R4 CompartmentDefinitions) and the membership entries the
 * extractor derives from it; the CapabilityStatement's compartments and operations.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { FhirEngine } from '../../src/engine.js';
import type { Resource } from '../../src/resource/resource.js';
import { COMPARTMENT_PARAM, CompartmentTable } from '../../src/search/compartments.js';
import { IndexExtractor } from '../../src/search/extract.js';
import { SearchParameterRegistry } from '../../src/search/registry.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const examples = dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));
const table = CompartmentTable.r4();
const extractor = new IndexExtractor(SearchParameterRegistry.r4());

const memberships = (resource: Resource): string[] =>
  extractor
    .extract(resource)
    .filter((e) => e.param === COMPARTMENT_PARAM)
    .map((e) => (e.kind === 'reference' ? `${e.targetType}/${e.targetId}` : '?'))
    .sort();

describe('src/search/compartments-r4.json', () => {
  it('is what the generator makes from hl7.fhir.r4.examples@4.0.1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'compartments-'));
    try {
      const output = join(dir, 'out.json');
      execFileSync(process.execPath, ['--import', 'tsx', join(root, 'scripts/generate-compartments.ts'), examples, output], { cwd: root, stdio: 'pipe' });
      expect(readFileSync(output, 'utf8') === readFileSync(join(root, 'src/search/compartments-r4.json'), 'utf8')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('holds the five R4 compartments with their member types and parameters', () => {
    expect(table.codes).toEqual(['Patient', 'Encounter', 'RelatedPerson', 'Practitioner', 'Device']);
    expect(table.codes.map((c) => table.memberTypes(c).length)).toEqual([66, 25, 32, 59, 32]);
    expect(table.url('Patient')).toBe('http://hl7.org/fhir/CompartmentDefinition/patient');
    expect(table.paramsOf('Patient', 'Observation')).toEqual(['subject', 'performer']);
    expect(table.paramsOf('Patient', 'Condition')).toEqual(['patient', 'asserter']);
    expect(table.paramsOf('Encounter', 'Encounter')).toEqual(['{def}']);
    expect(table.paramsOf('Patient', 'Practitioner')).toBeUndefined();
    expect(table.isCompartment('Observation')).toBe(false);
  });
});

describe('compartment membership entries', () => {
  it('one per compartment a reference of a compartment parameter puts the resource in', () => {
    const observation: Resource = {
      resourceType: 'Observation',
      id: 'o1',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: 'Patient/p1' },
      performer: [{ reference: 'Patient/p1' }, { reference: 'Practitioner/dr' }, { reference: 'Organization/org' }, { reference: 'RelatedPerson/rp' }],
      encounter: { reference: 'Encounter/e1' },
      device: { reference: 'Device/d1' },
      hasMember: [{ reference: 'Observation/o2' }],
    };
    expect(memberships(observation)).toEqual(['Device/d1', 'Encounter/e1', 'Patient/p1', 'Practitioner/dr', 'RelatedPerson/rp']);
    // A subject that is a Group or a Device: no Patient compartment.
    expect(memberships({ ...observation, subject: { reference: 'Group/g' }, performer: [], encounter: undefined, device: undefined })).toEqual([]);
    // Only the membership parameter: the same entries, derived from parameters that are not asked for.
    const only = extractor.extract(observation, new Set([COMPARTMENT_PARAM]));
    expect(only.every((e) => e.param === COMPARTMENT_PARAM)).toBe(true);
    expect(only).toHaveLength(5);
  });

  it('the {def} compartments hold their own resource; a Patient is in its own only through link', () => {
    expect(memberships({ resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/p1' } })).toEqual(['Encounter/e1', 'Patient/p1']);
    expect(memberships({ resourceType: 'Practitioner', id: 'dr' })).toEqual(['Practitioner/dr']);
    expect(memberships({ resourceType: 'Patient', id: 'p1' })).toEqual([]);
    expect(memberships({ resourceType: 'Patient', id: 'p3', link: [{ other: { reference: 'Patient/p1' }, type: 'seealso' }], generalPractitioner: [{ reference: 'Practitioner/dr' }] })).toEqual(['Patient/p1', 'Practitioner/dr']);
  });

  it('an extractor given no compartments indexes none', () => {
    const none = new IndexExtractor(SearchParameterRegistry.r4(), { compartments: new CompartmentTable({}) });
    expect(none.extract({ resourceType: 'Encounter', id: 'e1', subject: { reference: 'Patient/p1' } }).some((e) => e.param === COMPARTMENT_PARAM)).toBe(false);
  });
});

describe('CapabilityStatement', () => {
  it('lists the compartments, $everything and the $export operations; no _compartment search parameter', () => {
    const cs = new FhirEngine({ storage: new MemoryAdapter() }).capabilities() as Record<string, any>;
    const rest = cs.rest[0];
    expect(rest.compartment).toEqual([
      'http://hl7.org/fhir/CompartmentDefinition/patient',
      'http://hl7.org/fhir/CompartmentDefinition/encounter',
      'http://hl7.org/fhir/CompartmentDefinition/relatedPerson',
      'http://hl7.org/fhir/CompartmentDefinition/practitioner',
      'http://hl7.org/fhir/CompartmentDefinition/device',
    ]);
    expect(rest.operation.map((o: { name: string }) => o.name)).toContain('export');
    const byType = new Map<string, any>(rest.resource.map((r: { type: string }) => [r.type, r]));
    expect(byType.get('Patient').operation.map((o: { name: string }) => o.name)).toEqual(['validate', 'purge-history', 'everything', 'export']);
    expect(byType.get('Group').operation.map((o: { name: string }) => o.name)).toEqual(['validate', 'purge-history', 'export']);
    const params = rest.resource.flatMap((r: { searchParam: { name: string }[] }) => r.searchParam.map((p) => p.name));
    expect(params).not.toContain(COMPARTMENT_PARAM);
  });
});
