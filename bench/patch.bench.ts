/**
 * Patch throughput through handle() on the memory adapter: 5,000 JSON Patches and 5,000 FHIRPath
 * Patches, each on its own Patient (each writes a new version).
 */
import { MemoryAdapter } from '../adapters/memory/index.js';
import { FhirEngine } from '../src/index.js';

const N = 5000;
const engine = new FhirEngine({ storage: new MemoryAdapter() });
const ids: string[] = [];
for (let i = 0; i < 2 * N + 1000; i++) {
  const { resource } = await engine.create({
    resourceType: 'Patient',
    active: true,
    name: [{ family: `Family${i}`, given: ['Anna'] }],
    birthDate: '1980-01-01',
  });
  ids.push(resource.id);
}

const jsonPatch = (i: number) =>
  JSON.stringify([
    { op: 'test', path: '/active', value: true },
    { op: 'replace', path: '/birthDate', value: `19${50 + (i % 50)}-02-03` },
    { op: 'add', path: '/name/0/given/-', value: 'Maria' },
  ]);
const fhirPathPatch = (i: number) =>
  JSON.stringify({
    resourceType: 'Parameters',
    parameter: [
      { name: 'operation', part: [{ name: 'type', valueCode: 'replace' }, { name: 'path', valueString: 'Patient.birthDate' }, { name: 'value', valueDate: `19${50 + (i % 50)}-02-03` }] },
      { name: 'operation', part: [{ name: 'type', valueCode: 'add' }, { name: 'path', valueString: 'Patient' }, { name: 'name', valueString: 'gender' }, { name: 'value', valueCode: 'female' }] },
    ],
  });

async function run(bench: string, offset: number, contentType: string, body: (i: number) => string): Promise<void> {
  // Warm-up on patients the measured loop does not touch.
  for (let i = 0; i < 500; i++) {
    await engine.handle({ method: 'PATCH', url: `/Patient/${ids[2 * N + i + (offset ? 500 : 0)]}`, headers: { 'content-type': contentType }, body: body(i) });
  }
  const start = performance.now();
  for (let i = 0; i < N; i++) {
    const res = await engine.handle({ method: 'PATCH', url: `/Patient/${ids[offset + i]}`, headers: { 'content-type': contentType }, body: body(i) });
    if (res.status !== 200) throw new Error(`${bench}: ${res.status} ${res.body}`);
  }
  const ms = performance.now() - start;
  console.log(JSON.stringify({ bench, ops: N, ms: Math.round(ms), opsPerSec: Math.round((N / ms) * 1000) }));
}

await run('patch.json-patch', 0, 'application/json-patch+json', jsonPatch);
await run('patch.fhirpath-patch', N, 'application/fhir+json', fhirPathPatch);
