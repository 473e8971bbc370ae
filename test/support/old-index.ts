/**
 * Data as an engine before compartment indexing wrote it: versions whose index entries have no
 * `_compartment` entries. For the upgrade tests of the SQL adapters.
 */
import type { Resource } from '../../src/resource/resource.js';
import { CompartmentTable } from '../../src/search/compartments.js';
import { IndexExtractor } from '../../src/search/extract.js';
import { SearchParameterRegistry } from '../../src/search/registry.js';
import type { StorageAdapter, VersionWrite } from '../../src/storage/storage-adapter.js';

/** The extractor of an engine that indexed no compartment. */
export const oldExtractor = new IndexExtractor(SearchParameterRegistry.r4(), { compartments: new CompartmentTable({}) });

/** A version 1 of `resource` (which has an id), indexed the old way. */
export function oldWrite(resource: Resource & { id: string }): VersionWrite {
  const lastUpdated = '2025-01-01T00:00:00.000Z';
  const stored = { ...resource, meta: { versionId: '1', lastUpdated } };
  return {
    type: resource.resourceType,
    id: resource.id,
    versionId: '1',
    expect: { kind: 'absent' },
    lastUpdated,
    method: 'PUT',
    deleted: false,
    json: JSON.stringify(stored),
    index: oldExtractor.extract(stored),
  };
}

/**
 * The old data set: Patients p1 and p2, an Encounter e1 of p1, `n` Observations of p1 (subject), one
 * with p1 as performer (`perf`), one of p2 (`other`), and `gone`, an Observation of p1 deleted since.
 */
export async function writeOldData(storage: StorageAdapter, n: number): Promise<void> {
  const ref = (r: string) => ({ reference: r });
  await storage.transact(async (tx) => {
    await tx.writeVersion(oldWrite({ resourceType: 'Patient', id: 'p1' }));
    await tx.writeVersion(oldWrite({ resourceType: 'Patient', id: 'p2' }));
    await tx.writeVersion(oldWrite({ resourceType: 'Encounter', id: 'e1', status: 'finished', subject: ref('Patient/p1') }));
    for (let i = 0; i < n; i++) {
      await tx.writeVersion(oldWrite({ resourceType: 'Observation', id: `o${i}`, status: 'final', subject: ref('Patient/p1'), encounter: ref('Encounter/e1') }));
    }
    await tx.writeVersion(oldWrite({ resourceType: 'Observation', id: 'perf', status: 'final', subject: ref('Patient/p2'), performer: [ref('Patient/p1')] }));
    await tx.writeVersion(oldWrite({ resourceType: 'Observation', id: 'other', status: 'final', subject: ref('Patient/p2') }));
    await tx.writeVersion(oldWrite({ resourceType: 'Observation', id: 'gone', status: 'final', subject: ref('Patient/p1') }));
  });
  await storage.transact(async (tx) => {
    const gone = oldWrite({ resourceType: 'Observation', id: 'gone' });
    await tx.writeVersion({ ...gone, versionId: '2', expect: { kind: 'current', versionId: '1' }, method: 'DELETE', deleted: true, index: [] });
  });
}
