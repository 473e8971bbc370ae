/**
 * The memory adapter's lazy index: with the engine's indexer, a parameter of a type is indexed on
 * its first search, so writes extract nothing nobody searches, and search results are unchanged by it.
 */
import { describe, expect, it } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { FhirEngine } from '../../src/index.js';
import type { IndexEntry } from '../../src/storage/index-entry.js';
import type { StorageQuery } from '../../src/storage/query.js';
import type { VersionWrite } from '../../src/storage/storage-adapter.js';
import { patientWrite } from '../../src/testing/adapter-conformance.js';

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

/** Indexes `family` and `given` (the `given` value is the family reversed), recording each call. */
function indexer(calls: (readonly string[] | undefined)[]) {
  return (json: string, params?: ReadonlySet<string>): IndexEntry[] => {
    calls.push(params && [...params].sort());
    const r = JSON.parse(json) as { name?: { family: string }[] };
    const entries = (r.name ?? []).flatMap((n): IndexEntry[] => {
      const reversed = [...n.family.toLowerCase()].reverse().join('');
      return [
        { param: 'family', kind: 'string', folded: n.family.toLowerCase(), exact: n.family },
        { param: 'given', kind: 'string', folded: reversed, exact: reversed },
      ];
    });
    return entries.filter((e) => !params || params.has(e.param));
  };
}

const byString = (param: string, value: string): StorageQuery => ({
  types: ['Patient'],
  where: [{ kind: 'any', param, of: [{ kind: 'string', match: 'exact', folded: value.toLowerCase(), exact: value }] }],
  sort: [],
  limit: 10,
});

const ids = async (adapter: MemoryAdapter, query: StorageQuery) => (await adapter.search(query)).hits.map((h) => h.id).sort();

describe('memory adapter: lazy index', () => {
  it('indexes nothing until a search, then only the parameters searched, from stored JSON', async () => {
    const adapter = new MemoryAdapter();
    const calls: (readonly string[] | undefined)[] = [];
    const reads = { n: 0 };
    adapter.useIndexer(indexer(calls));
    await adapter.transact(async (tx) => {
      await tx.writeVersion(counted(patientWrite('a', '1', { family: 'Lee' }), reads));
      await tx.writeVersion(counted(patientWrite('b', '1', { family: 'Kim' }), reads));
    });
    expect(calls).toEqual([]);

    expect(await ids(adapter, byString('family', 'Lee'))).toEqual(['a']);
    expect(calls).toEqual([['family'], ['family']]); // each stored resource, once

    await adapter.transact((tx) => tx.writeVersion(counted(patientWrite('c', '1', { family: 'Lee' }), reads)));
    expect(calls.at(-1)).toEqual(['family']); // a write extracts what is indexed, nothing more
    expect(await ids(adapter, byString('family', 'Lee'))).toEqual(['a', 'c']);

    // A parameter searched later is added to every resource.
    expect(await ids(adapter, byString('given', 'eel'))).toEqual(['a', 'c']);
    expect(calls.slice(-3)).toEqual([['given'], ['given'], ['given']]);
    await adapter.transact((tx) => tx.writeVersion(counted(patientWrite('d', '1', { family: 'Lee' }), reads)));
    expect(calls.at(-1)).toEqual(['family', 'given']);
    expect(await ids(adapter, byString('family', 'Lee'))).toEqual(['a', 'c', 'd']);
    expect(await ids(adapter, byString('given', 'eel'))).toEqual(['a', 'c', 'd']);
    expect(reads.n).toBe(0);
  });

  it('a rolled-back unit that indexed mid-way leaves the index as the committed data says', async () => {
    const adapter = new MemoryAdapter();
    adapter.useIndexer(indexer([]));
    await adapter.transact((tx) => tx.writeVersion(patientWrite('a', '1', { family: 'Lee' })));
    expect(await ids(adapter, byString('family', 'Lee'))).toEqual(['a']);

    await expect(
      adapter.transact(async (tx) => {
        await tx.writeVersion(patientWrite('a', '2', { family: 'Kim' }));
        await tx.writeVersion(patientWrite('b', '1', { family: 'Kim' }));
        await tx.purge({ type: 'Patient', id: 'a' }, 'current');
        // adds `given` while a and b hold uncommitted versions
        expect((await tx.search(byString('given', 'mik'))).hits.map((h) => h.id).sort()).toEqual(['a', 'b']);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');

    expect(await ids(adapter, byString('family', 'Lee'))).toEqual(['a']);
    expect(await ids(adapter, byString('given', 'eel'))).toEqual(['a']);
    expect(await ids(adapter, byString('family', 'Kim'))).toEqual([]);
    expect(await ids(adapter, byString('given', 'mik'))).toEqual([]);
    expect((await adapter.readVersion({ type: 'Patient', id: 'a' }, '1'))?.versionId).toBe('1');
  });

  it('without an indexer, indexes every write with its own entries', async () => {
    const adapter = new MemoryAdapter();
    const reads = { n: 0 };
    await adapter.transact((tx) => tx.writeVersion(counted(patientWrite('a', '1', { family: 'Lee' }), reads)));
    expect(reads.n).toBe(1);
    expect(await ids(adapter, byString('family', 'Lee'))).toEqual(['a']);
  });

  it('through the engine, parameters first searched after many writes find what was written before', async () => {
    const engine = new FhirEngine({ storage: new MemoryAdapter() });
    for (const family of ['Lee', 'Kim', 'Lee']) await engine.create({ resourceType: 'Patient', name: [{ family }], gender: 'male' });
    const updated = await engine.create({ resourceType: 'Patient', name: [{ family: 'Old' }] });
    await engine.update({ ...updated.resource, name: [{ family: 'Lee' }] });
    const deleted = await engine.create({ resourceType: 'Patient', name: [{ family: 'Lee' }] });
    await engine.delete('Patient', deleted.resource.id!);

    expect((await engine.search('Patient', 'family=Lee')).entry).toHaveLength(3);
    expect((await engine.search('Patient', 'family=Old')).entry ?? []).toHaveLength(0);
    expect((await engine.search('Patient', 'family=Lee&gender=male')).entry).toHaveLength(2);
    expect((await engine.search('Patient', '_sort=-family&_count=1')).entry?.[0]?.resource?.name).toEqual([{ family: 'Lee' }]);
    expect((await engine.search('Patient', '')).entry).toHaveLength(4);
  });

  it('an update re-indexes the parameters it changed and keeps those it did not', async () => {
    const engine = new FhirEngine({ storage: new MemoryAdapter() });
    const created = await engine.create({ resourceType: 'Patient', name: [{ family: 'Lee' }], gender: 'male', birthDate: '1980-02-03' });
    // Index family, gender and birthdate (first searches), then change only the gender and birth date.
    expect((await engine.search('Patient', 'family=Lee&gender=male&birthdate=1980-02-03')).entry).toHaveLength(1);
    await engine.update({ ...created.resource, gender: 'female', birthDate: '1990-05-06' });
    expect((await engine.search('Patient', 'gender=male')).entry ?? []).toHaveLength(0);
    expect((await engine.search('Patient', 'birthdate=1980-02-03')).entry ?? []).toHaveLength(0);
    expect((await engine.search('Patient', 'family=Lee&gender=female&birthdate=1990-05-06')).entry).toHaveLength(1);
    expect((await engine.search('Patient', 'birthdate=ge1985&_sort=birthdate')).entry?.map((e) => e.resource?.id)).toEqual([created.resource.id]);
  });
});
