/**
 * The typed API with `@types/fhir` (R4): compiled by `types.test.ts` (and the type check); every
 * `@ts-expect-error` must meet an error, or the compile fails.
 */
import type * as fhir4 from 'fhir/r4';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { FhirEngine } from '../../src/index.js';

const patient: fhir4.Patient = { resourceType: 'Patient', name: [{ family: 'Doe' }], birthDate: '1970-01-01' };

/** An untyped engine takes @types/fhir resources as they are and returns them when asked. */
export async function untyped(): Promise<void> {
  const engine = new FhirEngine({ storage: new MemoryAdapter() });
  const created = await engine.create(patient);
  const names: fhir4.HumanName[] | undefined = created.resource.name;
  const id: string = created.resource.id;
  const read = await engine.read<fhir4.Patient>('Patient', id);
  const birthDate: string | undefined = read.birthDate;
  const version = await engine.vread<fhir4.Patient>('Patient', id, '1');
  const updated = await engine.update({ ...version, active: true }, { ifMatch: created.etag });
  const active: boolean | undefined = updated.resource.active;
  const patched = await engine.patch<fhir4.Patient>('Patient', id, { jsonPatch: [{ op: 'add', path: '/gender', value: 'other' }] });
  const gender: fhir4.Patient['gender'] = patched.resource.gender;
  const bundle = await engine.search<fhir4.Patient>('Patient', 'family=doe');
  const first: fhir4.Patient | undefined = bundle.entry?.[0]?.resource;
  const asBundle: fhir4.Bundle = bundle;
  const history = await engine.history<fhir4.Patient>({ level: 'instance', type: 'Patient', id });
  const status: string | undefined = history.entry?.[0]?.response.status;
  const historyResource: fhir4.Patient | undefined = history.entry?.[0]?.resource;
  const capabilities = engine.capabilities();
  const fhirVersion: string = capabilities.fhirVersion;
  const batch: fhir4.Bundle = { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Patient' } }] };
  const response = await engine.batch(batch);
  const entryStatus: string = response.entry[0]!.response.status;
  await engine.transaction({ resourceType: 'Bundle', type: 'transaction', entry: [] } satisfies fhir4.Bundle);
  void [names, birthDate, active, gender, first, asBundle, status, historyResource, fhirVersion, entryStatus];
}

/** Given the R4 union, types come from the resource type name, and misspelt names do not compile. */
export async function typed(): Promise<void> {
  const engine = new FhirEngine<fhir4.FhirResource>({ storage: new MemoryAdapter() });
  const read = await engine.read('Patient', 'x');
  const gender: fhir4.Patient['gender'] = read.gender;
  const observations = await engine.search('Observation', 'code=x');
  const quantity: fhir4.Quantity | undefined = observations.entry?.[0]?.resource?.valueQuantity;
  const created = await engine.create({ resourceType: 'Observation', status: 'final', code: { text: 'x' } });
  const code: fhir4.CodeableConcept = created.resource.code;
  const patched = await engine.patch('Patient', 'x', { jsonPatch: [] });
  const birthDate: string | undefined = patched.resource.birthDate;
  // @ts-expect-error a misspelt resource type name
  await engine.read('Patinet', 'x');
  // @ts-expect-error a misspelt resourceType in a body
  await engine.create({ resourceType: 'Patinet' });
  // @ts-expect-error a misspelt resource type name
  await engine.delete('Patinet', 'x');
  // @ts-expect-error a misspelt resource type name
  await engine.search('Patinet');
  // @ts-expect-error Observation.status is required
  await engine.create({ resourceType: 'Observation', code: { text: 'x' } });
  // @ts-expect-error the query is a string
  await engine.search('Patient', { family: 'doe' });
  void [gender, quantity, code, birthDate];
}
