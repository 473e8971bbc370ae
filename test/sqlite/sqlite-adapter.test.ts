import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { SqliteAdapter, SCHEMA_VERSION } from '../../adapters/sqlite/index.js';
import { BACKGROUND_CHECKPOINT_AFTER } from '../../adapters/sqlite/sqlite-adapter.js';
import { MIGRATIONS } from '../../adapters/sqlite/schema.js';
import { sqliteTarget } from '../../adapters/sqlite/dialect.js';
import { compileSearch } from '../../adapters/sql/search.js';
import type { IndexEntry } from '../../src/storage/index-entry.js';
import type { JobRecord } from '../../src/storage/job-record.js';
import type { StorageQuery } from '../../src/storage/query.js';
import { RuntimeStorage } from '../../src/storage/runtime-storage.js';
import { isStorageConflict, type StorageTx, type VersionWrite } from '../../src/storage/storage-adapter.js';
import { bundleForNode } from '../support/bundle.js';

let dir: string;
/** Adapters under the runtime the engine puts around them (it queues their units of work). */
const open: RuntimeStorage<SqliteAdapter>[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sqlite-adapter-test-'));
});

afterEach(async () => {
  for (const a of open.splice(0)) await a.close();
  rmSync(dir, { recursive: true, force: true });
});

function adapter(options: ConstructorParameters<typeof SqliteAdapter>[0]): RuntimeStorage<SqliteAdapter> {
  const a = new RuntimeStorage(new SqliteAdapter(options));
  open.push(a);
  return a;
}

const T0 = Date.parse('2024-01-01T00:00:00.000Z');

function write(
  id: string,
  versionId: string,
  options: {
    type?: string;
    expect?: VersionWrite['expect'];
    deleted?: boolean;
    index?: IndexEntry[];
    at?: number;
  } = {},
): VersionWrite {
  const type = options.type ?? 'Patient';
  const lastUpdated = new Date(options.at ?? T0 + Number(versionId) * 1000).toISOString();
  const expect =
    options.expect ??
    (versionId === '1' ? { kind: 'absent' as const } : { kind: 'current' as const, versionId: String(Number(versionId) - 1) });
  return {
    type,
    id,
    versionId,
    expect,
    lastUpdated,
    method: options.deleted ? 'DELETE' : versionId === '1' ? 'POST' : 'PUT',
    deleted: options.deleted ?? false,
    json: JSON.stringify({ resourceType: type, id, meta: { versionId, lastUpdated } }),
    index: options.index ?? [{ param: '_id', kind: 'token', system: null, code: id }],
  };
}

function query(q: Partial<StorageQuery>): StorageQuery {
  return { types: ['Patient'], where: [], sort: [], limit: 100, ...q };
}

/**
 * Opens a unit of work that runs `work` and then stays open until `release()`. Resolves once `work`
 * has run, with the unit's promise.
 */
async function holdUnit(
  adapter: RuntimeStorage,
  work: (tx: StorageTx) => Promise<void>,
): Promise<{ unit: Promise<void>; release: () => void }> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let ran!: () => void;
  const done = new Promise<void>((r) => (ran = r));
  const unit = adapter.transact(async (tx) => {
    await work(tx);
    ran();
    await gate;
  });
  await done;
  return { unit, release };
}

function job(id: string, revision: number, status: JobRecord['status'] = 'queued'): JobRecord {
  return {
    id,
    kind: 'bulk-delete',
    status,
    cancelRequested: false,
    revision,
    params: {},
    state: {},
    progress: { processed: 0, byType: {}, chunks: 0 },
    createdAt: new Date(T0).toISOString(),
    transitions: [{ status: 'queued', at: new Date(T0).toISOString() }],
  };
}

async function expectConflict(p: Promise<unknown>): Promise<void> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isStorageConflict(error)).toBe(true);
}

for (const kind of ['memory', 'file'] as const) {
  describe(`SqliteAdapter (${kind})`, () => {
    const make = (): RuntimeStorage<SqliteAdapter> =>
      adapter(kind === 'memory' ? { filename: ':memory:' } : { filename: join(dir, 'db.sqlite') });

    it('reports name and capabilities', () => {
      const a = make();
      expect(a.name).toBe('sqlite');
      expect(a.capabilities).toEqual({ concurrency: 'serial', durable: kind === 'file', isolatedReads: true });
    });

    it('writes, reads current and versions, assigns increasing seqs', async () => {
      const a = make();
      const s1 = await a.transact((tx) => tx.writeVersion(write('p1', '1')));
      const s2 = await a.transact((tx) => tx.writeVersion(write('p1', '2')));
      const s3 = await a.transact((tx) => tx.writeVersion(write('p2', '1')));
      expect(s2).toBeGreaterThan(s1);
      expect(s3).toBeGreaterThan(s2);
      const cur = await a.readCurrent({ type: 'Patient', id: 'p1' });
      expect(cur).toMatchObject({ type: 'Patient', id: 'p1', versionId: '2', seq: s2, method: 'PUT', deleted: false });
      expect(JSON.parse(cur?.json ?? '{}')).toMatchObject({ id: 'p1', meta: { versionId: '2' } });
      expect((await a.readVersion({ type: 'Patient', id: 'p1' }, '1'))?.seq).toBe(s1);
      expect(await a.readVersion({ type: 'Patient', id: 'p1' }, '3')).toBeUndefined();
      expect(await a.readCurrent({ type: 'Patient', id: 'nope' })).toBeUndefined();
      expect(await a.readCurrent({ type: 'Observation', id: 'p1' })).toBeUndefined();
    });

    it('compare-and-set: conflicts throw and write nothing', async () => {
      const a = make();
      await a.transact((tx) => tx.writeVersion(write('p1', '1')));
      await expectConflict(a.transact((tx) => tx.writeVersion(write('p1', '1'))));
      await expectConflict(
        a.transact((tx) => tx.writeVersion(write('p1', '3', { expect: { kind: 'current', versionId: '2' } }))),
      );
      await expectConflict(
        a.transact((tx) => tx.writeVersion(write('p9', '2', { expect: { kind: 'current', versionId: '1' } }))),
      );
      // A conflict caught inside the unit leaves the unit usable and wrote nothing.
      await a.transact(async (tx) => {
        await expectConflict(tx.writeVersion(write('p1', '5', { expect: { kind: 'current', versionId: '4' } })));
        expect((await tx.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('1');
      });
      expect((await a.readHistory({ level: 'system' }, { count: 10 })).items).toHaveLength(1);
      expect((await a.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('1');
    });

    it('rollback leaves nothing behind and passes the rejection on', async () => {
      const a = make();
      const failure = new Error('boom');
      await expect(
        a.transact(async (tx) => {
          await tx.writeVersion(write('p1', '1', { index: [{ param: 'gender', kind: 'token', system: null, code: 'x' }] }));
          await tx.writeJob(job('j1', 1), null);
          expect((await tx.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('1');
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect(await a.readCurrent({ type: 'Patient', id: 'p1' })).toBeUndefined();
      expect(await a.readJob('j1')).toBeUndefined();
      expect((await a.search(query({}))).hits).toHaveLength(0);
      expect((await a.readHistory({ level: 'system' }, { count: 10 })).items).toHaveLength(0);
      // `missing` still works although the param/kind registration was rolled back.
      await a.transact((tx) => tx.writeVersion(write('p2', '1')));
      expect(
        (await a.search(query({ where: [{ kind: 'missing', param: 'gender', missing: true }] }))).hits.map((h) => h.id),
      ).toEqual(['p2']);
    });

    it('outside reads never see an in-flight unit', async () => {
      const a = make();
      await a.transact((tx) => tx.writeVersion(write('p1', '1')));
      // Apply the deferred index now: a search that finds pending index rows waits for the unit in
      // flight (see the next test), and this one must answer while the unit is still open.
      expect((await a.search(query({}))).hits.map((h) => h.id)).toEqual(['p1']);
      const { unit, release } = await holdUnit(a, async (tx) => {
        await tx.writeVersion(write('p1', '2'));
        await tx.writeVersion(write('p2', '1'));
        await tx.writeJob(job('j1', 1), null);
        expect((await tx.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('2');
        expect((await tx.search(query({}))).hits.map((h) => h.id)).toEqual(['p1', 'p2']);
      });
      expect((await a.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('1');
      expect(await a.readCurrent({ type: 'Patient', id: 'p2' })).toBeUndefined();
      expect((await a.search(query({}))).hits.map((h) => h.id)).toEqual(['p1']);
      expect((await a.readHistory({ level: 'system' }, { count: 10 })).items).toHaveLength(1);
      expect(await a.readJob('j1')).toBeUndefined();
      release();
      await unit;
      expect((await a.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('2');
      expect((await a.search(query({}))).hits.map((h) => h.id)).toEqual(['p1', 'p2']);
    });

    it('deferred index: a search with pending index rows waits for the unit in flight', async () => {
      const a = make();
      await a.transact((tx) => tx.writeVersion(write('p1', '1')));
      const { unit, release } = await holdUnit(a, async (tx) => {
        await tx.writeVersion(write('p2', '1'));
      });
      let result: string[] | undefined;
      const search = a.search(query({})).then((r) => (result = r.hits.map((h) => h.id)));
      await new Promise(setImmediate); // a search that did not wait would have answered by now
      expect(result).toBeUndefined();
      release();
      await unit;
      await search;
      expect(result).toEqual(['p1', 'p2']);
      // Inside a unit, an outside search that would have to apply pending rows throws instead of deadlocking.
      await a.transact((tx) => tx.writeVersion(write('p3', '1')));
      await a.transact(async () => {
        await expect(a.search(query({}))).rejects.toThrow(/use the tx/);
      });
    });

    it('deferred index: updates, tombstones, purges and re-creates end with the right index rows', async () => {
      const a = make();
      const g = (code: string): IndexEntry[] => [
        { param: '_id', kind: 'token', system: null, code: 'x' },
        { param: 'gender', kind: 'token', system: null, code },
        { param: 'birthdate', kind: 'date', low: T0, high: Number.POSITIVE_INFINITY },
      ];
      const byGender = async (code: string, through: Pick<SqliteAdapter, 'search'> = a) =>
        (await through.search(query({ limit: 100_000, where: [{ kind: 'any', param: 'gender', of: [{ kind: 'token', code }] }] }))).hits.map(
          (h) => `${h.id}/${h.versionId}`,
        );
      // Several versions of one resource pending at once: only the last counts.
      await a.transact((tx) => tx.writeVersion(write('p1', '1', { index: g('a') })));
      await a.transact((tx) => tx.writeVersion(write('p1', '2', { index: g('b') })));
      await a.transact((tx) => tx.writeVersion(write('p2', '1', { index: g('b') })));
      expect(await byGender('a')).toEqual([]);
      expect(await byGender('b')).toEqual(['p1/2', 'p2/1']);
      // Open ranges (infinite high) survive the pending row.
      const born = await a.search(
        query({ where: [{ kind: 'any', param: 'birthdate', of: [{ kind: 'date', op: 'gt', low: T0 + 1e12, high: T0 + 1e12 }] }] }),
      );
      expect(born.hits).toHaveLength(2);
      // Inside a unit: the unit's own pending rows are applied for tx.search, and a rollback undoes it all.
      await expect(
        a.transact(async (tx) => {
          await tx.writeVersion(write('p1', '3', { index: g('c') }));
          expect(await byGender('c', tx)).toEqual(['p1/3']);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await byGender('c')).toEqual([]);
      expect(await byGender('b')).toEqual(['p1/2', 'p2/1']);
      // Tombstone, then hard delete with a pending row, then re-create.
      await a.transact((tx) => tx.writeVersion(write('p2', '2', { deleted: true, index: [] })));
      await a.transact((tx) => tx.writeVersion(write('p1', '3', { index: g('d') })));
      await a.transact((tx) => tx.purge({ type: 'Patient', id: 'p1' }, 'none'));
      expect(await byGender('b')).toEqual([]);
      expect(await byGender('d')).toEqual([]);
      await a.transact((tx) => tx.writeVersion(write('p1', '1', { index: g('e') })));
      await a.transact((tx) => tx.purge({ type: 'Patient', id: 'p1' }, 'current'));
      expect(await byGender('e')).toEqual(['p1/1']);
      await a.transact((tx) => tx.purge({ type: 'Patient', id: 'p1' }, 'none'));
      await a.transact((tx) => tx.writeVersion(write('p1', '1', { index: g('f') })));
      expect(await byGender('e')).toEqual([]);
      expect(await byGender('f')).toEqual(['p1/1']);
      // Many resources applied in one go (several batches and INSERT chunks).
      await a.transact(async (tx) => {
        for (let i = 0; i < 12_000; i++) await tx.writeVersion(write(`m${i}`, '1', { index: g(i % 3 === 0 ? 'm' : 'n') }));
      });
      await a.transact(async (tx) => {
        for (let i = 0; i < 12_000; i += 2) await tx.writeVersion(write(`m${i}`, '2', { index: g('n') }));
      });
      const m = await byGender('m');
      expect(m.sort()).toEqual(
        Array.from({ length: 12_000 }, (_, i) => i)
          .filter((i) => i % 3 === 0 && i % 2 === 1)
          .map((i) => `m${i}/1`)
          .sort(),
      );
      expect(await byGender('n')).toHaveLength(12_000 - m.length);
      const raw = new Database(a.adapter.filename, { readonly: true });
      expect(raw.prepare('SELECT count(*) FROM pending_index').pluck().get()).toBe(0);
      // The rows of the tombstoned p2 wait for garbage collection (see the garbage test below).
      expect(raw.prepare('SELECT count(*) FROM ix_token').pluck().get()).toBe(2 * 12_001 + 2);
      raw.close();
    });

    it('collects the index rows of deleted resources in bulk; searches never see them meanwhile', async () => {
      const a = make();
      const tok = (code: string): IndexEntry[] => [{ param: 'code', kind: 'token', system: null, code }];
      const find = async (code: string, through: Pick<SqliteAdapter, 'search'> = a) =>
        (await through.search(query({ limit: 100_000, where: [{ kind: 'any', param: 'code', of: [{ kind: 'token', code }] }] }))).hits
          .map((h) => h.id)
          .sort();
      const rows = () => {
        const raw = new Database(a.adapter.filename, { readonly: true });
        try {
          return [raw.prepare('SELECT count(*) FROM ix_token').pluck().get(), raw.prepare('SELECT count(*) FROM garbage').pluck().get()];
        } finally {
          raw.close();
        }
      };
      const n = 10_100;
      await a.transact(async (tx) => {
        for (let i = 0; i < n; i++) await tx.writeVersion(write(`g${i}`, '1', { index: tok(i < 10 ? 'few' : 'many') }));
      });
      expect(await find('few')).toHaveLength(10);
      // Soft-delete 6,000 and hard-delete 3,000: their rows stay, as garbage, but match nothing.
      await a.transact(async (tx) => {
        for (let i = 0; i < 6000; i++) await tx.writeVersion(write(`g${i}`, '2', { deleted: true, index: [] }));
        for (let i = 6000; i < 9000; i++) await tx.purge({ type: 'Patient', id: `g${i}` }, 'none');
      });
      expect(await find('few')).toEqual([]);
      expect(await find('many')).toHaveLength(n - 9000);
      expect(rows()).toEqual([n, 9000]);
      // Back to life with other entries (update of a tombstone, re-create after a hard delete): the
      // old rows go at once, and only the new ones match.
      await a.transact(async (tx) => {
        await tx.writeVersion(write('g1', '3', { index: tok('again') }));
        await tx.writeVersion(write('g6000', '1', { index: tok('again') }));
      });
      expect(await find('again')).toEqual(['g1', 'g6000']);
      expect(await find('few')).toEqual([]);
      expect(await find('many')).toHaveLength(n - 9000);
      expect(rows()).toEqual([n, 9000]);
      // Inside a unit that fails, a collection is rolled back with everything else.
      await expect(
        a.transact(async (tx) => {
          for (let i = 9000; i < 10_000; i++) await tx.purge({ type: 'Patient', id: `g${i}` }, 'none');
          expect(await find('many', tx)).toHaveLength(100);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(rows()).toEqual([n, 9000]);
      // Reaching 10,000 garbage resources collects them all in that unit of work.
      await a.transact(async (tx) => {
        for (let i = 9000; i < 10_000; i++) await tx.purge({ type: 'Patient', id: `g${i}` }, 'none');
      });
      expect(rows()).toEqual([102, 0]);
      expect(await find('again')).toEqual(['g1', 'g6000']);
      expect(await find('many')).toHaveLength(100);
      const raw = new Database(a.adapter.filename, { readonly: true });
      // Hard-deleted resources leave no `resource` row once collected; tombstones keep theirs.
      expect(raw.prepare('SELECT deleted, count(*) FROM resource GROUP BY deleted ORDER BY deleted').raw().all()).toEqual([
        [0, 102],
        [1, 5999],
      ]);
      raw.close();
    });

    it('serialises units of work and rejects nested transact and stale tx', async () => {
      const a = make();
      const order: string[] = [];
      const u1 = a.transact(async (tx) => {
        order.push('1 start');
        await new Promise(setImmediate); // gives unit 2 its chance to start too early
        await tx.writeVersion(write('p1', '1'));
        order.push('1 end');
      });
      const u2 = a.transact(async (tx) => {
        order.push('2 start');
        expect((await tx.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('1');
        order.push('2 end');
      });
      await Promise.all([u1, u2]);
      expect(order).toEqual(['1 start', '1 end', '2 start', '2 end']);

      await expect(a.transact(async () => a.transact(async () => 1))).rejects.toThrow(/inside a unit of work/);
      let leaked: Parameters<Parameters<SqliteAdapter['transact']>[0]>[0] | undefined;
      await a.transact(async (tx) => {
        leaked = tx;
      });
      await expect(leaked!.readCurrent({ type: 'Patient', id: 'p1' })).rejects.toThrow(/ended/);
      await expect(leaked!.writeVersion(write('p1', '2'))).rejects.toThrow(/ended/);
      // The adapter still works after all that.
      expect(await a.transact(async () => 42)).toBe(42);
    });

    it('replaces index rows on every write', async () => {
      const a = make();
      const tok = (code: string): IndexEntry => ({ param: 'gender', kind: 'token', system: null, code });
      await a.transact((tx) => tx.writeVersion(write('p1', '1', { index: [tok('male')] })));
      await a.transact((tx) => tx.writeVersion(write('p1', '2', { index: [tok('female')] })));
      const find = async (code: string) =>
        (await a.search(query({ where: [{ kind: 'any', param: 'gender', of: [{ kind: 'token', code }] }] }))).hits.map(
          (h) => h.id,
        );
      expect(await find('male')).toEqual([]);
      expect(await find('female')).toEqual(['p1']);
      // A tombstone has no entries and is not a search result.
      await a.transact((tx) => tx.writeVersion(write('p1', '3', { deleted: true, index: [] })));
      expect(await find('female')).toEqual([]);
      expect((await a.search(query({}))).hits).toEqual([]);
      expect((await a.readCurrent({ type: 'Patient', id: 'p1' }))?.deleted).toBe(true);
    });

    it('purges history and hard-deletes, never reusing seq', async () => {
      const a = make();
      await a.transact((tx) => tx.writeVersion(write('p1', '1')));
      await a.transact((tx) => tx.writeVersion(write('p1', '2')));
      const s3 = await a.transact((tx) => tx.writeVersion(write('p1', '3')));
      await a.transact((tx) => tx.writeVersion(write('p2', '1')));
      expect(await a.transact((tx) => tx.purge({ type: 'Patient', id: 'p1' }, 'current'))).toBe(2);
      expect((await a.readHistory({ level: 'instance', type: 'Patient', id: 'p1' }, { count: 10 })).items.map((v) => v.versionId)).toEqual(['3']);
      expect(await a.readVersion({ type: 'Patient', id: 'p1' }, '1')).toBeUndefined();
      expect((await a.readCurrent({ type: 'Patient', id: 'p1' }))?.seq).toBe(s3);

      // Hard delete the resource holding the highest seq: the next write must still get a higher one.
      const s4 = await a.transact((tx) => tx.writeVersion(write('p3', '1')));
      expect(await a.transact((tx) => tx.purge({ type: 'Patient', id: 'p3' }, 'none'))).toBe(1);
      expect(await a.readCurrent({ type: 'Patient', id: 'p3' })).toBeUndefined();
      expect((await a.readHistory({ level: 'instance', type: 'Patient', id: 'p3' }, { count: 10 })).items).toEqual([]);
      expect((await a.search(query({ where: [{ kind: 'ids', ids: ['p3'] }] }))).hits).toEqual([]);
      expect(await a.transact((tx) => tx.purge({ type: 'Patient', id: 'p3' }, 'none'))).toBe(0);
      // After a hard delete the id is absent again.
      const s5 = await a.transact((tx) => tx.writeVersion(write('p3', '1')));
      expect(s5).toBeGreaterThan(s4);
      expect(await a.transact((tx) => tx.purge({ type: 'Patient', id: 'p1' }, 'none'))).toBe(1);
      // Again, and the write that would take the next seq is rolled back: the one after still skips it.
      expect(await a.transact((tx) => tx.purge({ type: 'Patient', id: 'p3' }, 'none'))).toBe(1);
      await expect(
        a.transact(async (tx) => {
          expect(await tx.writeVersion(write('p4', '1'))).toBe(s5 + 1);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await a.transact((tx) => tx.writeVersion(write('p4', '1')))).toBe(s5 + 1);
    });

    it.skipIf(kind === 'memory')('never reuses the seq of hard-deleted newest versions, across restarts', async () => {
      const filename = join(dir, 'db.sqlite');
      const a = new SqliteAdapter({ filename });
      await a.transact((tx) => tx.writeVersion(write('p1', '1')));
      await a.transact((tx) => tx.writeVersion(write('p2', '1')));
      const top = await a.transact((tx) => tx.writeVersion(write('p2', '2')));
      await a.transact((tx) => tx.purge({ type: 'Patient', id: 'p2' }, 'none'));
      await a.close();
      const b = adapter({ filename });
      expect((await b.readHistory({ level: 'system' }, { count: 10 })).items.map((v) => v.seq)).toEqual([1]);
      expect(await b.transact((tx) => tx.writeVersion(write('p3', '1')))).toBe(top + 1);
      expect(await b.transact((tx) => tx.writeVersion(write('p3', '2')))).toBe(top + 2);
    });

    it('type-level history sees the writes of the unit and of earlier units', async () => {
      const a = make();
      await a.transact((tx) => tx.writeVersion(write('p1', '1')));
      const types = async (through: Pick<SqliteAdapter, 'readHistory'>) =>
        (await through.readHistory({ level: 'type', type: 'Patient' }, { count: 10 })).items.map((v) => `${v.id}/${v.versionId}`);
      expect(await types(a)).toEqual(['p1/1']);
      await a.transact(async (tx) => {
        await tx.writeVersion(write('p1', '2'));
        await tx.writeVersion(write('o1', '1', { type: 'Observation' }));
        expect(await types(tx)).toEqual(['p1/2', 'p1/1']);
      });
      expect(await types(a)).toEqual(['p1/2', 'p1/1']);
      await a.transact((tx) => tx.purge({ type: 'Patient', id: 'p1' }, 'current'));
      expect(await types(a)).toEqual(['p1/2']);
      await a.transact((tx) => tx.purge({ type: 'Patient', id: 'p1' }, 'none'));
      expect(await types(a)).toEqual([]);
    });

    it('reads history newest first with scopes, since and cursors', async () => {
      const a = make();
      await a.transact(async (tx) => {
        await tx.writeVersion(write('p1', '1', { at: T0 + 1000 }));
        await tx.writeVersion(write('o1', '1', { type: 'Observation', at: T0 + 2000 }));
        await tx.writeVersion(write('p1', '2', { at: T0 + 3000 }));
        await tx.writeVersion(write('p2', '1', { at: T0 + 4000 }));
        await tx.writeVersion(write('p1', '3', { at: T0 + 5000, deleted: true, index: [] }));
      });
      const ids = (items: readonly { type: string; id: string; versionId: string }[]) =>
        items.map((v) => `${v.type}/${v.id}/${v.versionId}`);
      const system = await a.readHistory({ level: 'system' }, { count: 10 });
      expect(ids(system.items)).toEqual(['Patient/p1/3', 'Patient/p2/1', 'Patient/p1/2', 'Observation/o1/1', 'Patient/p1/1']);
      expect(system.items[0]).toMatchObject({ deleted: true, method: 'DELETE' });
      expect(system.items[0]?.json).toBeDefined();
      const seqs = system.items.map((v) => v.seq);
      expect([...seqs].sort((x, y) => y - x)).toEqual(seqs);

      expect(ids((await a.readHistory({ level: 'type', type: 'Patient' }, { count: 10 })).items)).toEqual([
        'Patient/p1/3',
        'Patient/p2/1',
        'Patient/p1/2',
        'Patient/p1/1',
      ]);
      expect(ids((await a.readHistory({ level: 'instance', type: 'Patient', id: 'p1' }, { count: 10 })).items)).toEqual([
        'Patient/p1/3',
        'Patient/p1/2',
        'Patient/p1/1',
      ]);
      // since is inclusive.
      const since = new Date(T0 + 3000).toISOString();
      expect(ids((await a.readHistory({ level: 'system' }, { count: 10, since })).items)).toEqual([
        'Patient/p1/3',
        'Patient/p2/1',
        'Patient/p1/2',
      ]);
      // Paging with `before`.
      const page1 = await a.readHistory({ level: 'system' }, { count: 2 });
      expect(ids(page1.items)).toEqual(['Patient/p1/3', 'Patient/p2/1']);
      const page2 = await a.readHistory({ level: 'system' }, { count: 2, before: page1.items[1]!.seq });
      expect(ids(page2.items)).toEqual(['Patient/p1/2', 'Observation/o1/1']);
      const page3 = await a.readHistory({ level: 'system' }, { count: 2, before: page2.items[1]!.seq });
      expect(ids(page3.items)).toEqual(['Patient/p1/1']);
      // A write between pages does not disturb the cursor.
      await a.transact((tx) => tx.writeVersion(write('p9', '1')));
      expect(ids((await a.readHistory({ level: 'system' }, { count: 2, before: page1.items[1]!.seq })).items)).toEqual([
        'Patient/p1/2',
        'Observation/o1/1',
      ]);
    });

    it('stores jobs with compare-and-set on revision', async () => {
      const a = make();
      await a.transact((tx) => tx.writeJob(job('j1', 1), null));
      await a.transact((tx) => tx.writeJob(job('j2', 1, 'running'), null));
      await a.transact((tx) => tx.writeJob(job('j3', 1, 'completed'), null));
      await expectConflict(a.transact((tx) => tx.writeJob(job('j1', 1), null)));
      await expectConflict(a.transact((tx) => tx.writeJob(job('j1', 3), 2)));
      await expectConflict(a.transact((tx) => tx.writeJob(job('nope', 2), 1)));
      await a.transact((tx) => tx.writeJob({ ...job('j1', 2, 'running'), cancelRequested: true }, 1));
      expect(await a.readJob('j1')).toMatchObject({ revision: 2, status: 'running', cancelRequested: true });
      expect(await a.readJob('zzz')).toBeUndefined();
      expect((await a.listUnfinishedJobs()).map((j) => j.id)).toEqual(['j1', 'j2']);
      await a.transact((tx) => tx.writeJob(job('j1', 3, 'failed'), 2));
      expect((await a.listUnfinishedJobs()).map((j) => j.id)).toEqual(['j2']);
    });

    it('searches with sort and keyset paging that survives writes between pages', async () => {
      const a = make();
      const birth = (id: string, year: number | undefined): VersionWrite =>
        write(id, '1', {
          index: [
            { param: '_id', kind: 'token', system: null, code: id },
            ...(year === undefined
              ? []
              : [
                  {
                    param: 'birthdate',
                    kind: 'date' as const,
                    low: Date.UTC(year, 0, 1),
                    high: Date.UTC(year + 1, 0, 1) - 1,
                  },
                ]),
          ],
        });
      await a.transact(async (tx) => {
        await tx.writeVersion(birth('a', 1990));
        await tx.writeVersion(birth('b', 1980));
        await tx.writeVersion(birth('c', undefined));
        await tx.writeVersion(birth('d', 1985));
        await tx.writeVersion(birth('e', 1980));
      });
      const sorted = async (descending: boolean) => {
        const out: string[] = [];
        let after: string | undefined;
        for (;;) {
          const q = query({
            sort: [
              { param: 'birthdate', descending },
              { param: '_id', descending: false },
            ],
            limit: 2,
            total: true,
            ...(after === undefined ? {} : { after }),
          });
          const page = await a.search(q);
          expect(page.total).toBe(out.length === 0 ? 5 : 6);
          out.push(...page.hits.map((h) => h.id));
          if (page.hits.length < 2) break;
          after = page.hits[page.hits.length - 1]!.position;
          if (out.length === 2) await a.transact((tx) => tx.writeVersion(birth('x', 1970)));
        }
        await a.transact((tx) => tx.purge({ type: 'Patient', id: 'x' }, 'none'));
        return out;
      };
      expect(await sorted(false)).toEqual(['b', 'e', 'd', 'a', 'c']);
      expect(await sorted(true)).toEqual(['a', 'd', 'b', 'e', 'x', 'c']);
    });

    it('pages in key order from a position, deleting each page before asking for the next', async () => {
      const a = make();
      await a.transact(async (tx) => {
        for (let i = 0; i < 10; i++) {
          await tx.writeVersion(write(`p${i}`, '1'));
          await tx.writeVersion(write(`o${i}`, '1', { type: 'Observation' }));
        }
      });
      // As a bulk delete does: soft-delete each page of 3, continue after its last hit.
      const drain = async (types: string[]): Promise<string[]> => {
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await a.search({ types, where: [], sort: [], limit: 3, ...(after === undefined ? {} : { after }) });
          seen.push(...page.hits.map((h) => `${h.type}/${h.id}`));
          await a.transact(async (tx) => {
            for (const h of page.hits) await tx.writeVersion(write(h.id, String(Number(h.versionId) + 1), { type: h.type, deleted: true, index: [] }));
          });
          if (page.hits.length < 3) return seen;
          after = page.hits[2]!.position;
        }
      };
      const ids = (prefix: string) => Array.from({ length: 10 }, (_, i) => `${prefix}${i}`);
      // One type: the page seeks to its position in the primary key.
      expect(await drain(['Patient'])).toEqual(ids('Patient/p'));
      await a.transact(async (tx) => {
        for (let i = 0; i < 10; i++) await tx.writeVersion(write(`p${i}`, '3'));
      });
      // Several types: type, then id.
      expect(await drain(['Patient', 'Observation'])).toEqual([...ids('Observation/o'), ...ids('Patient/p')]);
      expect((await a.search(query({}))).hits).toEqual([]);
    });

    it.skipIf(kind === 'memory')('durability: migrations are idempotent and data survives reopen', async () => {
      const filename = join(dir, 'db.sqlite');
      const a = new RuntimeStorage(new SqliteAdapter({ filename }));
      await a.transact(async (tx) => {
        await tx.writeVersion(write('p1', '1'));
        await tx.writeJob(job('j1', 1), null);
      });
      await a.close();
      await a.close(); // idempotent (the runtime closes the adapter once)
      await expect(a.readCurrent({ type: 'Patient', id: 'p1' })).rejects.toThrow(/closed/);
      const b = adapter({ filename });
      expect((await b.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('1');
      expect((await b.readJob('j1'))?.revision).toBe(1);
      const raw = new Database(filename, { readonly: true });
      expect(raw.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      raw.close();
      const seq = await b.transact((tx) => tx.writeVersion(write('p1', '2')));
      expect(seq).toBe(2);
    });
  });
}

describe('SqliteAdapter deferred index across reopen', () => {
  it('applies pending index rows left at close (or by a crash) on the next search', async () => {
    const filename = join(dir, 'pending.sqlite');
    const a = new SqliteAdapter({ filename });
    await a.transact((tx) => tx.writeVersion(write('p1', '1')));
    await a.transact((tx) => tx.writeVersion(write('p2', '1')));
    await a.close();
    const raw = new Database(filename, { readonly: true });
    expect(raw.prepare('SELECT count(*) FROM pending_index').pluck().get()).toBe(2);
    raw.close();
    const b = adapter({ filename });
    expect((await b.search(query({}))).hits.map((h) => h.id)).toEqual(['p1', 'p2']);
    expect((await b.search(query({ where: [{ kind: 'any', param: '_id', of: [{ kind: 'token', code: 'p2' }] }] }))).hits.map((h) => h.id)).toEqual(['p2']);
  });

  it('keeps the backlog bounded while writes go on back to back, with nothing searched', async () => {
    const filename = join(dir, 'backlog.sqlite');
    const a = adapter({ filename });
    for (let i = 0; i < 3000; i++) await a.transact((tx) => tx.writeVersion(write(`p${i}`, '1')));
    const raw = new Database(filename, { readonly: true });
    const pending = raw.prepare('SELECT count(*) FROM pending_index').pluck().get() as number;
    raw.close();
    // The units applied the oldest versions as they went: what is left is a small tail.
    expect(pending).toBeGreaterThan(0);
    expect(pending).toBeLessThan(1000);
    const hits = await a.search(query({ where: [{ kind: 'any', param: '_id', of: [{ kind: 'token', code: 'p1234' }] }] }));
    expect(hits.hits.map((h) => h.id)).toEqual(['p1234']);
  });

  it('applies what is pending in the background once the event loop is idle', async () => {
    const filename = join(dir, 'idle.sqlite');
    const a = adapter({ filename });
    for (let i = 0; i < 50; i++) await a.transact((tx) => tx.writeVersion(write(`p${i}`, '1')));
    const raw = new Database(filename, { readonly: true });
    const count = () => raw.prepare('SELECT count(*) FROM pending_index').pluck().get() as number;
    expect(count()).toBe(50);
    // Idle turns of the event loop (no timers): the background step runs in one of the first.
    for (let turn = 0; turn < 100 && count() > 0; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(count()).toBe(0);
    raw.close();
    expect((await a.search(query({}))).hits).toHaveLength(50);
  });

  it('sees pending rows written by another connection to the same file', async () => {
    const filename = join(dir, 'shared.sqlite');
    const a = adapter({ filename });
    const b = adapter({ filename });
    expect((await a.search(query({}))).hits).toHaveLength(0);
    await b.transact((tx) => tx.writeVersion(write('p1', '1')));
    expect((await a.search(query({ where: [{ kind: 'any', param: '_id', of: [{ kind: 'token', code: 'p1' }] }] }))).hits.map((h) => h.id)).toEqual(['p1']);
  });

  it('upgrades a schema version 1 file', async () => {
    const filename = join(dir, 'v1.sqlite');
    const raw = new Database(filename);
    raw.exec(MIGRATIONS[0] as string);
    raw.pragma('user_version = 1');
    raw.close();
    const a = adapter({ filename });
    await a.transact((tx) => tx.writeVersion(write('p1', '1')));
    expect((await a.search(query({}))).hits.map((h) => h.id)).toEqual(['p1']);
    const check = new Database(filename, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    check.close();
  });

  it('upgrades a schema version 2 file: seq floor, pending rows and unapplied tombstones carry over', async () => {
    // Version 2 state, as its adapter left it: `a` (v3 pending, v2's rows applied), `b` (tombstone
    // pending, v1's rows still there), `c` (created, pending), `z` (the newest version, hard-deleted).
    const filename = join(dir, 'v2.sqlite');
    const raw = new Database(filename);
    raw.exec(MIGRATIONS[0] as string);
    raw.exec(MIGRATIONS[1] as string);
    const version = raw.prepare(
      'INSERT INTO resource_version (res_type, res_id, version_id, last_updated, last_updated_ms, method, deleted, json) ' +
        "VALUES ('Patient', ?, ?, '2024-01-01T00:00:00.000Z', ?, 'PUT', ?, ?)",
    );
    const versions: [string, string, number][] = [
      ['a', '1', 0],
      ['b', '1', 0],
      ['a', '2', 0],
      ['a', '3', 0],
      ['b', '2', 1],
      ['c', '1', 0],
      ['z', '1', 0],
    ];
    versions.forEach(([id, v, deleted], i) => version.run(id, v, T0 + i, deleted, JSON.stringify({ resourceType: 'Patient', id })));
    raw.exec(`
      DELETE FROM resource_version WHERE res_id = 'z';
      INSERT INTO ix_token (rowid, res_type, res_id, param, system, code) VALUES (1, 'Patient', 'b', 'code', NULL, 'b1'), (2, 'Patient', 'a', 'code', NULL, 'a2');
      INSERT INTO resource (res_type, res_id, version_id, seq, deleted, token_lo, token_hi) VALUES
        ('Patient', 'a', '3', 4, 0, 2, 2), ('Patient', 'b', '2', 5, 1, 1, 1), ('Patient', 'c', '1', 6, 0, NULL, NULL);
      INSERT INTO param_kind (param, kind) VALUES ('code', 'token');
      INSERT INTO pending_index (res_type, res_id, entries) VALUES
        ('Patient', 'a', '[[0,"code",null,"a3"]]'), ('Patient', 'b', '[]'), ('Patient', 'c', '[[0,"code",null,"c1"]]');
    `);
    raw.pragma('user_version = 2');
    expect(raw.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'resource_version'").pluck().get()).toBe(7);
    raw.close();

    const a = adapter({ filename });
    const find = async (code: string) =>
      (await a.search(query({ where: [{ kind: 'any', param: 'code', of: [{ kind: 'token', code }] }] }))).hits.map(
        (h) => `${h.id}/${h.versionId}`,
      );
    expect((await a.readCurrent({ type: 'Patient', id: 'a' }))?.versionId).toBe('3');
    expect(await find('a2')).toEqual([]);
    expect(await find('a3')).toEqual(['a/3']);
    expect(await find('b1')).toEqual([]);
    expect(await find('c1')).toEqual(['c/1']);
    expect((await a.search(query({}))).hits.map((h) => h.id)).toEqual(['a', 'c']);
    expect((await a.readHistory({ level: 'type', type: 'Patient' }, { count: 10 })).items.map((v) => v.seq)).toEqual([6, 5, 4, 3, 2, 1]);
    // The seq of the hard-deleted `z` (7) is not reused.
    expect(await a.transact((tx) => tx.writeVersion(write('d', '1')))).toBe(8);
    const check = new Database(filename, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(check.prepare('SELECT res_id FROM garbage').pluck().all()).toEqual(['b']);
    check.close();
  });
});

describe('SqliteAdapter background checkpoints', () => {
  // Until a checkpoint copies them, written pages live in the WAL only: the database file stays small.
  const checkpointed = async (backgroundCheckpoints: boolean, waitMs: number): Promise<boolean> => {
    const filename = join(dir, `bg-${backgroundCheckpoints}.sqlite`);
    const a = new SqliteAdapter({ filename, backgroundCheckpoints });
    const initial = statSync(filename).size;
    for (let i = 0; i < BACKGROUND_CHECKPOINT_AFTER + 50; i++) await a.transact((tx) => tx.writeVersion(write(`p${i}`, '1')));
    for (let waited = 0; statSync(filename).size === initial && waited < waitMs; waited += 20) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const grown = statSync(filename).size > initial;
    await a.close(); // stops the worker first
    expect((await adapter({ filename }).readCurrent({ type: 'Patient', id: 'p0' }))?.versionId).toBe('1');
    return grown;
  };

  it('run on a worker thread once a file database is busy, and stop on close', async () => {
    expect(await checkpointed(true, 5000)).toBe(true);
    // Without them, nothing is copied before the WAL reaches `walAutoCheckpointPages`.
    expect(await checkpointed(false, 300)).toBe(false);
  });
});

describe('SqliteAdapter opening', () => {
  it('creates the parent directory of the file', async () => {
    const filename = join(dir, 'a', 'b', 'fhir.db');
    const a = adapter({ filename });
    await a.transact((tx) => tx.writeVersion(write('p1', '1')));
    expect(existsSync(filename)).toBe(true);
  });

  it('refuses a file that is not a SQLite database, leaving it untouched', () => {
    const filename = join(dir, 'not.db');
    const content = 'This is a plain text file, certainly not a SQLite database. '.repeat(40);
    writeFileSync(filename, content);
    expect(() => new SqliteAdapter({ filename })).toThrow(/is not a SQLite database/);
    expect(() => new SqliteAdapter({ filename })).toThrow(/is not a SQLite database/);
    expect(readFileSync(filename, 'utf8')).toBe(content);
  });

  it('refuses a corrupt SQLite file', async () => {
    const filename = join(dir, 'corrupt.db');
    const a = new SqliteAdapter({ filename });
    await a.transact((tx) => tx.writeVersion(write('p1', '1')));
    await a.close();
    const fs = await import('node:fs');
    const bytes = fs.readFileSync(filename);
    bytes.fill(0x5a, 16, 100); // smash the header fields after the magic string
    fs.writeFileSync(filename, bytes);
    expect(() => new SqliteAdapter({ filename })).toThrow(/not a SQLite database|corrupt/);
  });

  it('refuses a database opened read-only', () => {
    const filename = join(dir, 'ro.db');
    new Database(filename).close();
    const ro = new Database(filename, { readonly: true });
    expect(() => new SqliteAdapter({ database: ro })).toThrow(/read-only/);
    ro.close();
  });

  it('refuses a read-only file, and opens it once it is writable again', async () => {
    // Root ignores file modes, so as root (how CI runs) the open happens in a child process running as
    // `nobody`; the child is bundled so that plain node runs it.
    const child = await bundleForNode('test/sqlite/open-child.ts');
    try {
      chmodSync(dir, 0o755);
      const filename = join(dir, 'ro.db');
      new Database(filename).close();
      const open = () => {
        const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
        const run = spawnSync(process.execPath, [child, filename], { encoding: 'utf8', ...asUser });
        expect(run.stderr).toBe('');
        return JSON.parse(run.stdout) as { opened: boolean; message?: string };
      };
      chmodSync(filename, 0o444);
      const refused = open();
      expect(refused.opened).toBe(false);
      expect(refused.message).toMatch(/read-only/);
      const untouched = new Database(filename, { readonly: true });
      expect(untouched.pragma('user_version', { simple: true })).toBe(0); // not migrated
      untouched.close();
      chmodSync(dir, 0o777);
      chmodSync(filename, 0o666);
      expect(open()).toEqual({ opened: true });
    } finally {
      rmSync(dirname(child), { recursive: true, force: true });
    }
  });

  it('rejects an invalid synchronous level and accepts a configured one', () => {
    expect(() => new SqliteAdapter({ filename: ':memory:', synchronous: 'SOMETIMES' as 'FULL' })).toThrow(/synchronous/);
    const a = adapter({ filename: join(dir, 'full.db'), synchronous: 'FULL' });
    expect(a.adapter.filename).toContain('full.db');
  });

  it('accepts a better-sqlite3 database: file and in-memory', async () => {
    const fileDb = new Database(join(dir, 'given.db'));
    const a = adapter({ database: fileDb });
    expect(a.capabilities.durable).toBe(true);
    await a.transact((tx) => tx.writeVersion(write('p1', '1')));
    expect((await a.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('1');

    const memDb = new Database(':memory:');
    const m = adapter({ database: memDb });
    expect(m.capabilities.durable).toBe(false);
    await m.transact((tx) => tx.writeVersion(write('p1', '1')));
    // Outside reads wait for the unit in flight, so they never see its writes.
    const { unit, release } = await holdUnit(m, async (tx) => {
      await tx.writeVersion(write('p1', '2'));
    });
    const read = m.readCurrent({ type: 'Patient', id: 'p1' });
    let settled = false;
    void read.then(() => (settled = true));
    await new Promise(setImmediate); // a read that did not wait would have answered by now
    expect(settled).toBe(false);
    release();
    await unit;
    expect((await read)?.versionId).toBe('2');
    // From inside the unit, an outside read throws instead of deadlocking.
    await expect(m.transact(async () => m.readCurrent({ type: 'Patient', id: 'p1' }))).rejects.toThrow(/in flight/);
  });
});

describe('search SQL (the shared compiler, SQLite dialect and layout)', () => {
  it('binds every value as a parameter', () => {
    const evil = "x' OR 1=1 --";
    const compiled = compileSearch(sqliteTarget(() => ['string']), {
      types: [evil],
      where: [
        { kind: 'any', param: evil, of: [{ kind: 'token', system: evil, code: evil }] },
        { kind: 'none', param: evil, of: [{ kind: 'string', match: 'contains', folded: evil, exact: evil }] },
        { kind: 'ids', ids: [evil] },
      ],
      sort: [{ param: evil, descending: true }],
      limit: 10,
      total: true,
    });
    expect(compiled.sql).not.toContain(evil);
    expect(compiled.count?.sql).not.toContain(evil);
    expect(compiled.params).toContain(evil);
    // Placeholders are numbered 1..n with no gap: every bound value is used.
    const used = new Set([...compiled.sql.matchAll(/\?(\d+)/g)].map((m) => Number(m[1])));
    expect([...used].sort((a, b) => a - b)).toEqual(compiled.params.map((_, n) => n + 1));
  });

  it('rejects a position it did not produce', async () => {
    const a = adapter({ filename: ':memory:' });
    await expect(a.search(query({ after: 'not-a-position' }))).rejects.toThrow(/position/);
    await expect(
      a.search(query({ after: Buffer.from('[[1],"Patient","p1"]').toString('base64url') })),
    ).rejects.toThrow(/position/);
  });

  it('handles infinite range ends in sort values and positions', async () => {
    const a = adapter({ filename: ':memory:' });
    const period = (id: string, low: number, high: number): VersionWrite =>
      write(id, '1', { index: [{ param: 'date', kind: 'date', low, high }] });
    await a.transact(async (tx) => {
      await tx.writeVersion(period('open-start', -Infinity, T0));
      await tx.writeVersion(period('open-end', T0, Infinity));
      await tx.writeVersion(period('closed', T0 - 1000, T0 + 1000));
    });
    for (const descending of [false, true]) {
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await a.search(query({ sort: [{ param: 'date', descending }], limit: 1, ...(after ? { after } : {}) }));
        if (page.hits.length === 0) break;
        seen.push(page.hits[0]!.id);
        after = page.hits[0]!.position;
      }
      expect(seen).toEqual(descending ? ['open-end', 'closed', 'open-start'] : ['open-start', 'closed', 'open-end']);
    }
    const gt = await a.search(query({ where: [{ kind: 'any', param: 'date', of: [{ kind: 'date', op: 'gt', low: T0 + 5000, high: T0 + 6000 }] }] }));
    expect(gt.hits.map((h) => h.id)).toEqual(['open-end']);
  });
});
