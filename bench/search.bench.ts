/**
 * Search benchmarks (memory): `npx tsx bench/search.bench.ts`. Prints one JSON line per benchmark.
 * 20k synthetic Patients with every R4 Patient parameter indexed.
 */
import { MemoryIndex } from '../adapters/memory/memory-index.js';
import type { Resource } from '../src/resource/resource.js';
import { IndexExtractor } from '../src/search/extract.js';
import { SearchParameterRegistry } from '../src/search/registry.js';
import { SearchService } from '../src/search/service.js';
import type { StorageAdapter } from '../src/storage/storage-adapter.js';
import { MemoryAdapter } from '../adapters/memory/index.js';

const N = Number(process.env.BENCH_PATIENTS ?? 20_000);
const registry = SearchParameterRegistry.r4();
const extractor = new IndexExtractor(registry);

const FAMILIES = ['Müller', 'Smith', 'García', 'Nguyen', 'Johansson', 'Okafor', 'Rossi', 'Kowalski', 'Dubois', 'Tanaka'];
const GIVEN = ['Anna', 'Ben', 'Chloé', 'David', 'Eva', 'Farid', 'Greta', 'Hiro', 'Ines', 'Jonas'];
const CITIES = Array.from({ length: 200 }, (_, i) => `City${i}${i % 3 === 0 ? 'é' : ''}`);

function patient(i: number): Resource {
  const d = new Date(Date.UTC(1930, 0, 1) + ((i * 7919) % 30_000) * 86_400_000);
  return {
    resourceType: 'Patient',
    id: `pat-${i}`,
    meta: { versionId: '1', lastUpdated: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString(), tag: [{ system: 'urn:bench', code: `t${i % 5}` }] },
    active: i % 7 !== 0,
    identifier: [
      { system: 'urn:oid:1.2.3.4', value: `MRN${i}`, type: { text: 'Medical record number' } },
      { system: 'http://hl7.org/fhir/sid/us-ssn', value: `999-${String(i).padStart(6, '0')}` },
    ],
    name: [{ use: 'official', family: FAMILIES[i % FAMILIES.length], given: [GIVEN[i % GIVEN.length] as string, GIVEN[(i * 3) % GIVEN.length] as string] }],
    telecom: [
      { system: 'phone', value: `555-${i}`, use: 'home' },
      { system: 'email', value: `p${i}@example.org` },
    ],
    gender: i % 2 ? 'male' : 'female',
    birthDate: d.toISOString().slice(0, 10),
    address: [{ use: 'home', line: [`${i} Main St`], city: CITIES[i % CITIES.length], state: 'MA', postalCode: String(10000 + (i % 900)), country: 'US' }],
    generalPractitioner: [{ reference: `Practitioner/pr-${i % 100}` }],
    managingOrganization: { reference: `Organization/org-${i % 20}` },
    communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'en-US' }] } }],
  };
}

function report(bench: string, ops: number, ms: number, extra: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ bench, opsPerSec: Math.round((ops / ms) * 1000), ops, ms: Math.round(ms), ...extra }));
}

async function makeAdapter(): Promise<{ adapter: StorageAdapter; kind: string }> {
  return { adapter: new MemoryAdapter(), kind: 'MemoryAdapter' };
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** Runs `n` queries per round; reports the best round (the machine may be shared) and the median. */
async function timeQueries(name: string, n: number, fn: (i: number) => Promise<unknown> | unknown, extra: Record<string, unknown> = {}) {
  for (let i = 0; i < Math.min(200, n); i++) await fn(i); // warm-up
  const times: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) await fn(i + r * n);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)] as number;
  report(name, n, times[0] as number, { medianOpsPerSec: Math.round((n / median) * 1000), ...extra });
}

async function main(): Promise<void> {
  const patients = Array.from({ length: N }, (_, i) => patient(i));
  // warm-up the compiled extractors and the index code (a throwaway index)
  const warm = new MemoryIndex();
  for (let i = 0; i < 3000; i++) warm.replace('Patient', `w${i}`, extractor.extract(patient(N + i)));

  // 1. extraction + index per create (extractor + MemoryIndex directly)
  let index = new MemoryIndex();
  let entries = 0;
  const createTimes: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    index = new MemoryIndex();
    entries = 0;
    const t0 = performance.now();
    for (const p of patients) {
      const e = extractor.extract(p);
      entries += e.length;
      index.replace('Patient', p.id as string, e);
    }
    createTimes.push(performance.now() - t0);
  }
  createTimes.sort((a, b) => a - b);
  report('search.extract+index', N, createTimes[0] as number, {
    medianOpsPerSec: Math.round((N / (createTimes[Math.floor(createTimes.length / 2)] as number)) * 1000),
    entriesPerResource: Math.round(entries / N),
  });

  let t = performance.now();
  for (const p of patients) extractor.extract(p);
  report('search.extract', N, performance.now() - t);

  // 2. the adapter, filled through transact/writeVersion
  const { adapter, kind } = await makeAdapter();
  t = performance.now();
  const BATCH = 500;
  for (let s = 0; s < N; s += BATCH) {
    await adapter.transact(async (tx) => {
      for (const p of patients.slice(s, s + BATCH)) {
        await tx.writeVersion({
          type: 'Patient',
          id: p.id as string,
          versionId: '1',
          expect: { kind: 'absent' },
          lastUpdated: p.meta?.lastUpdated as string,
          method: 'POST',
          deleted: false,
          json: JSON.stringify(p),
          index: extractor.extract(p),
        });
      }
    });
  }
  report('search.create(adapter)', N, performance.now() - t, { adapter: kind });

  const service = new SearchService(registry, extractor);
  const current = (type: string, id: string) => ({ type, id, versionId: '1', seq: 1, lastUpdated: '', method: 'POST' as const, deleted: false, json: '{}' });

  await timeQueries('search.token(MemoryIndex)', 50_000, (i) =>
    index.search({ types: ['Patient'], where: [{ kind: 'any', param: 'identifier', of: [{ kind: 'token', system: 'urn:oid:1.2.3.4', code: `MRN${(i * 13) % N}` }] }], sort: [], limit: 21 }, current),
  );
  await timeQueries('search.token', 20_000, (i) =>
    service.search(adapter, { types: ['Patient'], params: [['identifier', `urn:oid:1.2.3.4|MRN${(i * 13) % N}`]], baseUrl: 'http://localhost:8080' }),
  );
  await timeQueries('search.findMatches.token', 20_000, (i) =>
    service.findMatches(adapter, 'Patient', [['identifier', `urn:oid:1.2.3.4|MRN${(i * 13) % N}`]], { limit: 2 }),
  );
  let hits = 0;
  await timeQueries('search.string.address-city', 5_000, async (i) => {
    const b = (await service.search(adapter, { types: ['Patient'], params: [['address-city', `city${(i * 7) % 200}`]], baseUrl: 'http://localhost:8080' })) as { entry?: unknown[] };
    hits += b.entry?.length ?? 0;
  });
  await timeQueries('search.date.birthdate-ge.count50', 5_000, (i) =>
    service.search(adapter, { types: ['Patient'], params: [['birthdate', `ge${1940 + (i % 60)}-01-01`], ['_count', '50']], baseUrl: 'http://localhost:8080' }),
  );
  await timeQueries('search.date.birthdate-ge.count50.searchJson', 5_000, (i) =>
    service.searchJson(adapter, { types: ['Patient'], params: [['birthdate', `ge${1940 + (i % 60)}-01-01`], ['_count', '50']], baseUrl: 'http://localhost:8080' }),
  );
  await timeQueries('search.string.address-city.searchJson', 5_000, (i) =>
    service.searchJson(adapter, { types: ['Patient'], params: [['address-city', `city${(i * 7) % 200}`]], baseUrl: 'http://localhost:8080' }),
  );
  await timeQueries('search.date.birthdate-ge.count50.sorted', 500, (i) =>
    service.search(adapter, { types: ['Patient'], params: [['birthdate', `ge${1940 + (i % 60)}-01-01`], ['_count', '50'], ['_sort', 'birthdate']], baseUrl: 'http://localhost:8080' }),
  );
  await timeQueries('search.string.family+gender.total', 2_000, (i) =>
    service.search(adapter, { types: ['Patient'], params: [['family', FAMILIES[i % 10] as string], ['gender', 'male'], ['_total', 'accurate']], baseUrl: 'http://localhost:8080' }),
  );
  await adapter.close();
  if (hits === 0) throw new Error('address-city search found nothing');
}

await main();
