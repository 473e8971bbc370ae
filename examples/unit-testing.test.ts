/**
 * Unit-testing FHIR logic with fhir-engine: an in-memory engine, a fixed clock and sequential ids,
 * no server. Copy this file into your project and replace the relative imports with
 * `fhir-engine` and `fhir-engine/adapters/memory`.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryAdapter } from '../adapters/memory/index.js';
import { FhirEngine, FhirError, fixedClock, sequentialIds } from '../src/index.js';

/** The code under test: admits a patient unless one with the same MRN exists. */
async function admit(engine: FhirEngine, mrn: string, family: string): Promise<string> {
  const { resource } = await engine.create(
    { resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: mrn }], name: [{ family }] },
    { ifNoneExist: `identifier=urn:mrn|${mrn}` },
  );
  await engine.create({
    resourceType: 'Encounter',
    status: 'in-progress',
    class: { code: 'IMP' },
    subject: { reference: `Patient/${resource.id}` },
  });
  return resource.id!;
}

describe('admit()', () => {
  let engine: FhirEngine;
  beforeEach(() => {
    engine = new FhirEngine({
      storage: new MemoryAdapter(),
      clock: fixedClock('2026-01-01T08:00:00Z', 60_000), // one minute per reading
      ids: sequentialIds('id-'),
    });
  });

  it('creates the patient once and an encounter per admission', async () => {
    const first = await admit(engine, '42', 'Doe');
    const second = await admit(engine, '42', 'Doe');
    expect(second).toBe(first);
    const encounters = await engine.search('Encounter', `subject=Patient/${first}`);
    expect(encounters.entry).toHaveLength(2);
    const patient = await engine.read('Patient', first);
    expect(patient.meta?.lastUpdated).toBe('2026-01-01T08:00:00.000Z');
  });

  it('surfaces FHIR errors as FhirError with the HTTP status', async () => {
    await expect(engine.read('Patient', 'missing')).rejects.toBeInstanceOf(FhirError);
    await expect(engine.read('Patient', 'missing')).rejects.toMatchObject({ status: 404 });
  });
});
