/**
 * The storage adapter conformance suite. Every adapter runs it unchanged, this repository's own
 * included, from the package entry:
 *
 * ```ts
 * import * as vitest from 'vitest';
 * import { runAdapterConformance } from 'fhir-engine/testing';
 * runAdapterConformance('my-adapter', async () => new MyAdapter(), vitest);
 * ```
 *
 * It checks the storage contract (atomic units of work, compare-and-set, isolation, history, purge,
 * jobs) on the adapter under a `RuntimeStorage` (as the engine always uses it; with async context
 * tracking on, so that a nested `transact` is recognised after an await too), then the engine-level
 * behaviour on top of it (REST interactions, batch and transaction bundles, `$bulk-delete` jobs),
 * then search.
 * @packageDocumentation
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { afterEach, describe, expect, it, useTestApi, type TestApi } from './api.js';
import type { JobRecord } from '../storage/job-record.js';
import { RuntimeStorage } from '../storage/runtime-storage.js';
import {
  isStorageConflict,
  type StorageAdapter,
  type VersionWrite,
} from '../storage/storage-adapter.js';
import { registerSearchConformance, type DifferentialCorpus } from './search-cases.js';
import { registerEngineConformance } from './engine-cases.js';
import { registerBundleConformance } from './bundle-cases.js';
import { registerJobConformance } from './job-cases.js';
import { registerValidationConformance } from './validation-cases.js';
import { registerCompositeConformance } from './composite-cases.js';
import { registerCompartmentConformance } from './compartment-cases.js';

/** Builds a version write of a small Patient. */
export function patientWrite(
  id: string,
  versionId: string,
  options: Partial<VersionWrite> & { family?: string } = {},
): VersionWrite {
  const lastUpdated = options.lastUpdated ?? `2026-01-01T00:00:0${Math.min(Number(versionId), 9)}.000Z`;
  const deleted = options.deleted ?? false;
  const resource = deleted
    ? { resourceType: 'Patient', id, meta: { versionId, lastUpdated } }
    : { resourceType: 'Patient', id, meta: { versionId, lastUpdated }, name: [{ family: options.family ?? 'Doe' }] };
  return {
    type: 'Patient',
    id,
    versionId,
    expect: versionId === '1' ? { kind: 'absent' } : { kind: 'current', versionId: String(Number(versionId) - 1) },
    lastUpdated,
    method: deleted ? 'DELETE' : versionId === '1' ? 'POST' : 'PUT',
    deleted,
    json: JSON.stringify(resource),
    index: deleted
      ? []
      : [
          { param: '_id', kind: 'token', system: null, code: id },
          { param: 'family', kind: 'string', folded: (options.family ?? 'Doe').toLowerCase(), exact: options.family ?? 'Doe' },
        ],
    ...options,
  };
}

function job(id: string, revision: number, status: JobRecord['status'] = 'queued'): JobRecord {
  return {
    id,
    kind: 'test',
    status,
    cancelRequested: false,
    revision,
    params: { a: 1 },
    state: { cursor: revision },
    progress: { processed: 0, byType: {}, chunks: 0 },
    createdAt: '2026-01-01T00:00:00.000Z',
    transitions: [{ status, at: '2026-01-01T00:00:00.000Z' }],
  };
}

/**
 * Options of {@link runAdapterConformance}: the test runner's functions (vitest's or jest's; a
 * namespace import of `vitest` fits as it is), and optionally a larger differential corpus.
 */
export interface ConformanceOptions extends TestApi {
  /** The corpus of the differential search test; default: a small built-in one. */
  readonly differentialCorpus?: DifferentialCorpus;
}

/**
 * Registers the whole conformance suite for one adapter.
 * @param name shown in the test names
 * @param makeAdapter returns a fresh, empty adapter for every case
 * @param options the test runner (`{ describe, it, expect, beforeAll, afterAll, afterEach }`) and a differential corpus
 */
export function runAdapterConformance(name: string, makeAdapter: () => Promise<StorageAdapter>, options: ConformanceOptions): void {
  useTestApi(options);
  describe(`storage conformance: ${name}`, () => {
    let adapter: StorageAdapter;
    const open = async (): Promise<StorageAdapter> =>
      (adapter = new RuntimeStorage(await makeAdapter(), { asyncContext: new AsyncLocalStorage<object>() }));
    afterEach(async () => {
      await adapter?.close();
    });

    it('writes a version and reads it back as current and by version id', async () => {
      const a = await open();
      const seq = await a.transact((tx) => tx.writeVersion(patientWrite('p1', '1')));
      const current = await a.readCurrent({ type: 'Patient', id: 'p1' });
      expect(current).toMatchObject({ type: 'Patient', id: 'p1', versionId: '1', seq, deleted: false, method: 'POST' });
      expect(JSON.parse(current!.json!)).toMatchObject({ resourceType: 'Patient', id: 'p1' });
      expect((await a.readVersion({ type: 'Patient', id: 'p1' }, '1'))?.seq).toBe(seq);
      expect(await a.readVersion({ type: 'Patient', id: 'p1' }, '2')).toBeUndefined();
      expect(await a.readCurrent({ type: 'Patient', id: 'nope' })).toBeUndefined();
    });

    it('assigns increasing seq numbers', async () => {
      const a = await open();
      const s1 = await a.transact((tx) => tx.writeVersion(patientWrite('p1', '1')));
      const s2 = await a.transact((tx) => tx.writeVersion(patientWrite('p2', '1')));
      const s3 = await a.transact((tx) => tx.writeVersion(patientWrite('p1', '2')));
      expect(s2).toBeGreaterThan(s1);
      expect(s3).toBeGreaterThan(s2);
    });

    it('refuses a write whose expectation does not hold, writing nothing', async () => {
      const a = await open();
      await a.transact((tx) => tx.writeVersion(patientWrite('p1', '1')));
      const absent = a.transact((tx) => tx.writeVersion(patientWrite('p1', '1')));
      await expect(absent).rejects.toSatisfy(isStorageConflict);
      const stale = a.transact((tx) =>
        tx.writeVersion(patientWrite('p1', '3', { expect: { kind: 'current', versionId: '2' } })),
      );
      await expect(stale).rejects.toSatisfy(isStorageConflict);
      const missing = a.transact((tx) => tx.writeVersion(patientWrite('p9', '2')));
      await expect(missing).rejects.toSatisfy(isStorageConflict);
      expect((await a.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('1');
      expect(await a.readCurrent({ type: 'Patient', id: 'p9' })).toBeUndefined();
    });

    it('lets exactly one of two racing writers with the same expectation win', async () => {
      const a = await open();
      await a.transact((tx) => tx.writeVersion(patientWrite('p1', '1')));
      const results = await Promise.allSettled(
        [1, 2, 3, 4].map((n) =>
          a.transact(async (tx) => {
            // Every writer read version 1 before any of them wrote.
            await tx.readCurrent({ type: 'Patient', id: 'p1' });
            await Promise.resolve();
            return tx.writeVersion(patientWrite('p1', '2', { expect: { kind: 'current', versionId: '1' }, family: `F${n}` }));
          }),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect((await a.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('2');
    });

    it('rolls back every write of a unit that throws', async () => {
      const a = await open();
      await a.transact((tx) => tx.writeVersion(patientWrite('keep', '1')));
      await a.transact(async (tx) => {
        await tx.writeJob(job('j1', 1), null);
      });
      await expect(
        a.transact(async (tx) => {
          await tx.writeVersion(patientWrite('p1', '1'));
          await tx.writeVersion(patientWrite('keep', '2', { family: 'Changed' }));
          await tx.purge({ type: 'Patient', id: 'keep' }, 'current');
          await tx.writeJob(job('j1', 2, 'running'), 1);
          await tx.writeJob(job('j2', 1), null);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await a.readCurrent({ type: 'Patient', id: 'p1' })).toBeUndefined();
      expect(await a.readVersion({ type: 'Patient', id: 'keep' }, '1')).toBeDefined();
      expect((await a.readCurrent({ type: 'Patient', id: 'keep' }))?.versionId).toBe('1');
      expect((await a.readJob('j1'))?.revision).toBe(1);
      expect(await a.readJob('j2')).toBeUndefined();
      const history = await a.readHistory({ level: 'system' }, { count: 10 });
      expect(history.items.map((v) => `${v.id}/${v.versionId}`)).toEqual(['keep/1']);
      const hits = await a.search({ types: ['Patient'], where: [], sort: [], limit: 10 });
      expect(hits.hits.map((h) => h.id)).toEqual(['keep']);
      const byFamily = await a.search({
        types: ['Patient'],
        where: [{ kind: 'any', param: 'family', of: [{ kind: 'string', match: 'exact', folded: 'changed', exact: 'Changed' }] }],
        sort: [],
        limit: 10,
      });
      expect(byFamily.hits).toHaveLength(0);
    });

    it('lets a unit read its own writes, while reads outside it do not see them before commit', async () => {
      const a = await open();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let seenInside: string | undefined;
      let hitsInside: string[] | undefined;
      let inside!: () => void;
      const written = new Promise<void>((resolve) => (inside = resolve));
      const unit = a.transact(async (tx) => {
        await tx.writeVersion(patientWrite('p1', '1'));
        seenInside = (await tx.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId;
        hitsInside = (await tx.search({ types: ['Patient'], where: [], sort: [], limit: 10 })).hits.map((h) => h.id);
        inside();
        await gate;
      });
      await written;
      let released = false;
      let beforeCommit: { value: string | undefined } | undefined;
      const outsideRead = a.readCurrent({ type: 'Patient', id: 'p1' }).then((v) => {
        if (!released) beforeCommit = { value: v?.versionId };
      });
      await new Promise(setImmediate); // a read that does not wait for the unit answers by now
      // Either the read waits for the unit, or it answers from committed state: never '1' yet.
      if (beforeCommit) expect(beforeCommit.value).toBeUndefined();
      released = true;
      release();
      await unit;
      await outsideRead;
      expect(seenInside).toBe('1');
      expect(hitsInside).toEqual(['p1']);
      expect((await a.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('1');
    });

    it('refuses to use a unit of work after it ended', async () => {
      const a = await open();
      let leaked: Parameters<Parameters<StorageAdapter['transact']>[0]>[0] | undefined;
      await a.transact(async (tx) => {
        leaked = tx;
      });
      await expect(Promise.resolve().then(() => leaked!.writeVersion(patientWrite('p1', '1')))).rejects.toThrow();
      expect(await a.readCurrent({ type: 'Patient', id: 'p1' })).toBeUndefined();
    });

    it('stores tombstones as the current version, outside search results', async () => {
      const a = await open();
      await a.transact((tx) => tx.writeVersion(patientWrite('p1', '1')));
      await a.transact((tx) => tx.writeVersion(patientWrite('p1', '2', { deleted: true })));
      const current = await a.readCurrent({ type: 'Patient', id: 'p1' });
      expect(current).toMatchObject({ versionId: '2', deleted: true, method: 'DELETE' });
      const hits = await a.search({ types: ['Patient'], where: [], sort: [], limit: 10 });
      expect(hits.hits).toHaveLength(0);
      await a.transact((tx) => tx.writeVersion(patientWrite('p1', '3')));
      expect((await a.search({ types: ['Patient'], where: [], sort: [], limit: 10 })).hits.map((h) => h.versionId)).toEqual(['3']);
    });

    it('reads history newest first at instance, type and system level with since and a cursor', async () => {
      const a = await open();
      const w = (write: VersionWrite) => a.transact((tx) => tx.writeVersion(write));
      await w(patientWrite('p1', '1', { lastUpdated: '2026-01-01T00:00:01.000Z' }));
      await w(patientWrite('p2', '1', { lastUpdated: '2026-01-01T00:00:02.000Z' }));
      await w({
        ...patientWrite('o1', '1', { lastUpdated: '2026-01-01T00:00:03.000Z' }),
        type: 'Observation',
        json: JSON.stringify({ resourceType: 'Observation', id: 'o1' }),
        index: [],
      });
      await w(patientWrite('p1', '2', { lastUpdated: '2026-01-01T00:00:04.000Z' }));
      const ids = (items: readonly { type: string; id: string; versionId: string }[]) =>
        items.map((v) => `${v.type}/${v.id}/${v.versionId}`);
      const instance = await a.readHistory({ level: 'instance', type: 'Patient', id: 'p1' }, { count: 10 });
      expect(ids(instance.items)).toEqual(['Patient/p1/2', 'Patient/p1/1']);
      const type = await a.readHistory({ level: 'type', type: 'Patient' }, { count: 10 });
      expect(ids(type.items)).toEqual(['Patient/p1/2', 'Patient/p2/1', 'Patient/p1/1']);
      const system = await a.readHistory({ level: 'system' }, { count: 2 });
      expect(ids(system.items)).toEqual(['Patient/p1/2', 'Observation/o1/1']);
      const next = await a.readHistory({ level: 'system' }, { count: 10, before: system.items[1]!.seq });
      expect(ids(next.items)).toEqual(['Patient/p2/1', 'Patient/p1/1']);
      const since = await a.readHistory({ level: 'system' }, { count: 10, since: '2026-01-01T00:00:02.000Z' });
      expect(ids(since.items)).toEqual(['Patient/p1/2', 'Observation/o1/1', 'Patient/p2/1']);
    });

    it("purges every version ('none') or all but the current one ('current')", async () => {
      const a = await open();
      const w = (write: VersionWrite) => a.transact((tx) => tx.writeVersion(write));
      await w(patientWrite('p1', '1'));
      await w(patientWrite('p1', '2'));
      await w(patientWrite('p1', '3'));
      await w(patientWrite('p2', '1'));
      expect(await a.transact((tx) => tx.purge({ type: 'Patient', id: 'p1' }, 'current'))).toBe(2);
      expect(await a.readVersion({ type: 'Patient', id: 'p1' }, '1')).toBeUndefined();
      expect((await a.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('3');
      const history = await a.readHistory({ level: 'type', type: 'Patient' }, { count: 10 });
      expect(history.items.map((v) => `${v.id}/${v.versionId}`)).toEqual(['p2/1', 'p1/3']);
      // A new version after a purge keeps counting.
      await w(patientWrite('p1', '4'));
      expect(await a.transact((tx) => tx.purge({ type: 'Patient', id: 'p1' }, 'none'))).toBe(2);
      expect(await a.readCurrent({ type: 'Patient', id: 'p1' })).toBeUndefined();
      expect((await a.readHistory({ level: 'instance', type: 'Patient', id: 'p1' }, { count: 10 })).items).toHaveLength(0);
      expect((await a.search({ types: ['Patient'], where: [], sort: [], limit: 10 })).hits.map((h) => h.id)).toEqual(['p2']);
      expect(await a.transact((tx) => tx.purge({ type: 'Patient', id: 'gone' }, 'none'))).toBe(0);
      // After a hard delete the id can be created again from scratch.
      await w(patientWrite('p1', '1'));
      expect((await a.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('1');
    });

    it('refuses a nested transact with a clear error, before or after an await, and stays usable', async () => {
      const a = await open();
      const nested = /transact\(\) cannot be called inside a unit of work/;
      await expect(a.transact(async () => a.transact(async () => 1))).rejects.toThrow(nested);
      await expect(
        a.transact(async (tx) => {
          await tx.readCurrent({ type: 'Patient', id: 'p1' });
          return a.transact(async () => 1);
        }),
      ).rejects.toThrow(nested);
      // Without async context tracking, the call made before the first await is still recognised.
      const plain = new RuntimeStorage(await makeAdapter());
      await expect(plain.transact(async () => plain.transact(async () => 1))).rejects.toThrow(nested);
      await plain.close();
      expect(await a.transact(async (tx) => tx.writeVersion(patientWrite('p1', '1')))).toBeGreaterThan(0);
      expect((await a.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('1');
    });

    it('closes once: accepted units finish first, later calls are refused', async () => {
      const a = await open();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const unit = a.transact(async (tx) => {
        await gate;
        return tx.writeVersion(patientWrite('p1', '1'));
      });
      const queued = a.transact((tx) => tx.writeVersion(patientWrite('p2', '1')));
      const closing = a.close();
      await expect(a.transact(async () => 1)).rejects.toThrow(/closed/);
      await expect(a.readCurrent({ type: 'Patient', id: 'p1' })).rejects.toThrow(/closed/);
      release();
      await expect(unit).resolves.toBeGreaterThan(0);
      await expect(queued).resolves.toBeGreaterThan(0);
      await closing;
      await a.close();
    });

    it('stores job records with compare-and-set on the revision', async () => {
      const a = await open();
      await a.transact((tx) => tx.writeJob(job('j1', 1), null));
      await expect(a.transact((tx) => tx.writeJob(job('j1', 1), null))).rejects.toSatisfy(isStorageConflict);
      await a.transact((tx) => tx.writeJob(job('j1', 2, 'running'), 1));
      await expect(a.transact((tx) => tx.writeJob(job('j1', 3), 1))).rejects.toSatisfy(isStorageConflict);
      expect(await a.readJob('j1')).toEqual(job('j1', 2, 'running'));
      await a.transact((tx) => tx.writeJob(job('j2', 1, 'completed'), null));
      expect((await a.listUnfinishedJobs()).map((j) => j.id)).toEqual(['j1']);
      expect(await a.readJob('nope')).toBeUndefined();
    });
  });

  registerEngineConformance(name, makeAdapter);
  registerBundleConformance(name, makeAdapter);
  registerJobConformance(name, makeAdapter);
  registerValidationConformance(name, makeAdapter);
  registerCompartmentConformance(name, makeAdapter);
  registerSearchConformance(name, makeAdapter, options.differentialCorpus);
  registerCompositeConformance(name, makeAdapter);
}
