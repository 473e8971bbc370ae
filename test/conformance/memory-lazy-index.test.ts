/**
 * The memory adapter's lazy index: with the engine's indexer, a type is indexed on its first search,
 * so writes to types nobody searches extract nothing, and search results are unchanged by it.
 */
import { describe, expect, it } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { FhirEngine } from '../../src/index.js';
import type { IndexEntry } from '../../src/storage/index-entry.js';
import type { VersionWrite } from '../../src/storage/storage-adapter.js';
import { patientWrite } from './adapter-conformance.js';

/** A write whose `index` getter counts its reads. */
function counted(write: VersionWrite, reads: { n: number }): VersionWrite {
  const { index, ...rest } = write;
  return {
    ...rest,
    get index() {
      reads.n++;
      return index;
    },
  };
}

/** Indexes `name.family` only, counting calls. */
function familyIndexer(calls: { n: number }) {
  return (json: string): IndexEntry[] => {
    calls.n++;
    const r = JSON.parse(json) as { id: string; name?: { family: string }[] };
    return [
      { param: '_id', kind: 'token', system: null, code: r.id },
      ...(r.name ?? []).map((n): IndexEntry => ({ param: 'family', kind: 'string', folded: n.family.toLowerCase(), exact: n.family })),
    ];
  };
}

const familyQuery = (family: string) => ({
  types: ['Patient'],
  where: [{ kind: 'any' as const, param: 'family', of: [{ kind: 'string' as const, match: 'exact' as const, folded: family.toLowerCase(), exact: family }] }],
  sort: [],
  limit: 10,
});

const ids = async (adapter: MemoryAdapter, family: string) =>
  (await adapter.search(familyQuery(family))).hits.map((h) => h.id).sort();

describe('memory adapter: lazy index', () => {
  it('does not read index entries of a type until it is searched, then indexes it from stored JSON', async () => {
    const adapter = new MemoryAdapter();
    const calls = { n: 0 };
    const reads = { n: 0 };
    adapter.useIndexer(familyIndexer(calls));
    await adapter.transact(async (tx) => {
      await tx.writeVersion(counted(patientWrite('a', '1', { family: 'Lee' }), reads));
      await tx.writeVersion(counted(patientWrite('b', '1', { family: 'Kim' }), reads));
    });
    expect(reads.n).toBe(0);
    expect(calls.n).toBe(0);

    expect(await ids(adapter, 'Lee')).toEqual(['a']);
    expect(calls.n).toBe(2); // built once from both stored resources

    // From now on the type is maintained on write, from the write's own entries.
    await adapter.transact((tx) => tx.writeVersion(counted(patientWrite('c', '1', { family: 'Lee' }), reads)));
    expect(reads.n).toBe(1);
    expect(await ids(adapter, 'Lee')).toEqual(['a', 'c']);
    expect(calls.n).toBe(2);
  });

  it('a rolled-back unit that indexed a type mid-way leaves the index as the committed data says', async () => {
    const adapter = new MemoryAdapter();
    adapter.useIndexer(familyIndexer({ n: 0 }));
    await adapter.transact((tx) => tx.writeVersion(patientWrite('a', '1', { family: 'Lee' })));

    await expect(
      adapter.transact(async (tx) => {
        await tx.writeVersion(patientWrite('a', '2', { family: 'Kim' })); // type not indexed yet
        await tx.writeVersion(patientWrite('b', '1', { family: 'Kim' }));
        await tx.purge({ type: 'Patient', id: 'a' }, 'current');
        expect((await tx.search(familyQuery('Kim'))).hits.map((h) => h.id).sort()).toEqual(['a', 'b']);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');

    expect(await ids(adapter, 'Lee')).toEqual(['a']);
    expect(await ids(adapter, 'Kim')).toEqual([]);
    expect((await adapter.readVersion({ type: 'Patient', id: 'a' }, '1'))?.versionId).toBe('1');
  });

  it('through the engine, a type first searched after many writes finds what was written before', async () => {
    const engine = new FhirEngine({ storage: new MemoryAdapter() });
    for (const family of ['Lee', 'Kim', 'Lee']) await engine.create({ resourceType: 'Patient', name: [{ family }] });
    const updated = await engine.create({ resourceType: 'Patient', name: [{ family: 'Old' }] });
    await engine.update({ ...updated.resource, name: [{ family: 'Lee' }] });
    const deleted = await engine.create({ resourceType: 'Patient', name: [{ family: 'Lee' }] });
    await engine.delete('Patient', deleted.resource.id!);

    const found = await engine.search('Patient', 'family=Lee');
    expect(found.entry?.length).toBe(3);
    expect((await engine.search('Patient', 'family=Old')).entry ?? []).toHaveLength(0);
  });
});
