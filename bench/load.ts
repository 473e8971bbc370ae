/**
 * Loading bench data fast: resources written straight through an adapter in large units of work, as
 * version 1 (`meta` included), with index entries from the core's extractor.
 */
import type { Resource } from '../src/resource/resource.js';
import { IndexExtractor } from '../src/search/extract.js';
import { SearchParameterRegistry } from '../src/search/registry.js';
import type { StorageAdapter } from '../src/storage/storage-adapter.js';

const extractor = new IndexExtractor(SearchParameterRegistry.r4([]));

const FAMILIES = ['Smith', 'Jones', 'Müller', 'García', 'Nguyen', 'Kowalski', 'Rossi', 'Dubois'];

/** Patient `p<i>` as version 1 of `lastUpdated`, with the identifier, name, birthDate and address the benches search. */
export function benchPatient(i: number, lastUpdated: string, tag?: { system: string; code: string }): Resource {
  return {
    resourceType: 'Patient',
    id: `p${i}`,
    meta: { versionId: '1', lastUpdated, ...(tag && { tag: [tag] }) },
    identifier: [{ system: 'http://example.org/mrn', value: String(i) }],
    name: [{ family: FAMILIES[i % FAMILIES.length], given: ['Anna', 'B'] }],
    gender: i % 2 ? 'female' : 'male',
    birthDate: `19${String(50 + (i % 50)).padStart(2, '0')}-01-0${1 + (i % 9)}`,
    address: [{ city: 'Berlin', postalCode: String(10000 + (i % 999)) }],
  };
}

/** Writes the resources `make(i)` gives for i in [0, n), `unit` indexes per unit of work; returns the seconds taken. */
export async function loadThroughAdapter(storage: StorageAdapter, n: number, make: (i: number) => readonly Resource[], unit = 10_000): Promise<number> {
  const started = performance.now();
  for (let from = 0; from < n; from += unit) {
    await storage.transact(async (tx) => {
      for (let i = from; i < Math.min(n, from + unit); i++) {
        for (const resource of make(i)) {
          const lastUpdated = resource.meta!.lastUpdated!;
          await tx.writeVersion({
            type: resource.resourceType,
            id: resource.id!,
            versionId: '1',
            expect: { kind: 'absent' },
            lastUpdated,
            method: 'POST',
            deleted: false,
            json: JSON.stringify(resource),
            index: extractor.extract(resource),
          });
        }
      }
    });
  }
  return (performance.now() - started) / 1000;
}
