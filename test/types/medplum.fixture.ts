/**
 * The typed API with `@medplum/fhirtypes`: compiled by `types.test.ts` (and the type check); every
 * `@ts-expect-error` must meet an error, or the compile fails.
 */
import type { Bundle, CodeableConcept, HumanName, Patient, Quantity, Resource } from '@medplum/fhirtypes';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { FhirEngine } from '../../src/index.js';

const patient: Patient = { resourceType: 'Patient', name: [{ family: 'Doe' }], birthDate: '1970-01-01' };

/** An untyped engine takes Medplum's resources as they are and returns them when asked. */
export async function untyped(): Promise<void> {
  const engine = new FhirEngine({ storage: new MemoryAdapter() });
  const created = await engine.create(patient);
  const names: HumanName[] | undefined = created.resource.name;
  const read = await engine.read<Patient>('Patient', created.resource.id);
  const birthDate: string | undefined = read.birthDate;
  const bundle = await engine.search<Patient>('Patient', 'family=doe');
  const first: Patient | undefined = bundle.entry?.[0]?.resource;
  const history = await engine.history<Patient>({ level: 'type', type: 'Patient' });
  const historyResource: Patient | undefined = history.entry?.[0]?.resource;
  const batch: Bundle = { resourceType: 'Bundle', type: 'batch', entry: [] };
  await engine.batch(batch);
  void [names, birthDate, first, historyResource];
}

/** Given Medplum's union, types come from the resource type name, and misspelt names do not compile. */
export async function typed(): Promise<void> {
  const engine = new FhirEngine<Resource>({ storage: new MemoryAdapter() });
  const read = await engine.read('Patient', 'x');
  const gender: Patient['gender'] = read.gender;
  const observations = await engine.search('Observation', 'code=x');
  const quantity: Quantity | undefined = observations.entry?.[0]?.resource?.valueQuantity;
  const created = await engine.create({ resourceType: 'Observation', status: 'final', code: { text: 'x' } });
  const code: CodeableConcept = created.resource.code;
  // @ts-expect-error a misspelt resource type name
  await engine.read('Patinet', 'x');
  // @ts-expect-error a misspelt resourceType in a body
  await engine.create({ resourceType: 'Patinet' });
  // @ts-expect-error a misspelt resource type name
  await engine.conditionalDelete('Patinet', 'x=y');
  void [gender, quantity, code];
}
