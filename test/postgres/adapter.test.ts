/**
 * PostgreSQL-specific behaviour beyond the shared conformance suite: commit order of `seq` as history
 * readers see it, deadlocks, statement failures inside a unit, advisory locks across pools, exact
 * JSON bytes, and who owns the pool.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PostgresAdapter } from '../../adapters/postgres/index.js';
import { RuntimeStorage } from '../../src/storage/runtime-storage.js';
import { isStorageConflict, type StorageAdapter, type StorageTx } from '../../src/storage/storage-adapter.js';
import { patientWrite } from '../../src/testing/adapter-conformance.js';
import { freshAdapter, pgUrl, schemaNames } from './support.js';

const nextSchema = schemaNames('adapter');
let observer: pg.Pool;

beforeAll(() => {
  observer = new pg.Pool({ connectionString: pgUrl(), max: 2 });
});
afterAll(() => observer.end());

/** Resolves once some backend waits for a lock matching `where` (a condition on pg_locks `l`, with `values`). */
async function someoneWaits(where: string, values: unknown[]): Promise<void> {
  for (;;) {
    const { rows } = await observer.query(`SELECT 1 FROM pg_locks l WHERE NOT l.granted AND ${where}`, values);
    if (rows.length > 0) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A unit of work held open after `steps` ran, until `release()`. */
function holdUnit(adapter: Pick<StorageAdapter, 'transact'>, steps: (tx: StorageTx) => Promise<unknown>) {
  let release!: () => void;
  let ready!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const started = new Promise<void>((r) => (ready = r));
  const done = adapter.transact(async (tx) => {
    await steps(tx);
    ready();
    await held;
  });
  return { started, release, done };
}

describe('PostgresAdapter', () => {
  it('is concurrent, durable and isolates reads: under its runtime, an outside read answers from committed state while a unit is in flight', async () => {
    const a = await freshAdapter(nextSchema);
    const runtime = new RuntimeStorage(a);
    try {
      expect(a.capabilities).toEqual({ concurrency: 'concurrent', durable: true, isolatedReads: true });
      expect(runtime.capabilities).toEqual(a.capabilities);
      await runtime.transact((tx) => tx.writeVersion(patientWrite('p1', '1')));
      const unit = holdUnit(runtime, (tx) => tx.writeVersion(patientWrite('p1', '2', { family: 'Uncommitted' })));
      await unit.started;
      // Answered now, not after the unit: the runtime does not queue reads of an adapter that isolates them.
      expect((await runtime.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('1');
      unit.release();
      await unit.done;
      expect((await runtime.readCurrent({ type: 'Patient', id: 'p1' }))?.versionId).toBe('2');
    } finally {
      await runtime.close();
    }
  });

  it('history never shows a seq while a lower one may still commit (the seq barrier)', async () => {
    const a = await freshAdapter(nextSchema);
    try {
      const early = holdUnit(a, (tx) => tx.writeVersion(patientWrite('early', '1')));
      await early.started; // it drew its seq and holds it uncommitted
      const lateSeq = await a.transact((tx) => tx.writeVersion(patientWrite('late', '1')));

      const system = a.readHistory({ level: 'system' }, { count: 10 });
      const type = a.readHistory({ level: 'type', type: 'Patient' }, { count: 10 });
      // Both wait for the unit holding the lower seq (a SHARE lock request on the version table).
      await someoneWaits(`l.locktype = 'relation' AND l.mode = 'ShareLock' AND l.relation = $1::regclass`, [`${a.s}.version`]);
      // A page below a settled top, and instance history, need not wait.
      expect((await a.readHistory({ level: 'system' }, { count: 10, before: lateSeq })).items).toEqual([]);
      expect((await a.readHistory({ level: 'instance', type: 'Patient', id: 'late' }, { count: 10 })).items).toHaveLength(1);
      early.release();
      await early.done;

      for (const page of [await system, await type]) {
        expect(page.items.map((v) => v.id)).toEqual(['late', 'early']);
        expect(page.items[0]!.seq).toBe(lateSeq);
      }
    } finally {
      await a.close();
    }
  });

  it('a deadlock between two units rejects one with a StorageConflictError; it wrote nothing, the other committed', async () => {
    const a = await freshAdapter(nextSchema);
    try {
      await a.transact(async (tx) => {
        await tx.writeVersion(patientWrite('x', '1'));
        await tx.writeVersion(patientWrite('y', '1'));
      });
      // One unit updates x then y, the other y then x: each waits for the other.
      let stepA!: () => void;
      let stepB!: () => void;
      const aWrote = new Promise<void>((r) => (stepA = r));
      const bWrote = new Promise<void>((r) => (stepB = r));
      const crossing = await Promise.allSettled([
        a.transact(async (tx) => {
          await tx.writeVersion(patientWrite('x', '2', { family: 'A' }));
          stepA();
          await bWrote;
          await tx.writeVersion(patientWrite('y', '2', { family: 'A' }));
          return 'a';
        }),
        a.transact(async (tx) => {
          await tx.writeVersion(patientWrite('y', '2', { family: 'B' }));
          stepB();
          await aWrote;
          await tx.writeVersion(patientWrite('x', '2', { family: 'B' }));
          return 'b';
        }),
      ]);
      const won = crossing.filter((r) => r.status === 'fulfilled');
      const lost = crossing.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(isStorageConflict(lost[0]!.reason)).toBe(true);
      expect(String((lost[0]!.reason as Error).message)).toContain('40P01');
      const winner = (won[0] as PromiseFulfilledResult<string>).value.toUpperCase();
      for (const id of ['x', 'y']) {
        const current = await a.readCurrent({ type: 'Patient', id });
        expect(current?.versionId).toBe('2');
        expect(JSON.parse(current!.json!).name[0].family).toBe(winner);
      }
    } finally {
      await a.close();
    }
  });

  it('a unit whose work swallows a failed statement is rolled back, not committed', async () => {
    const a = await freshAdapter(nextSchema);
    try {
      const unit = a.transact(async (tx) => {
        await tx.writeVersion(patientWrite('kept?', '1'));
        // PostgreSQL rejects the instant; the engine would never write one, a buggy caller might.
        await tx.writeVersion(patientWrite('bad', '1', { lastUpdated: 'not an instant' })).catch(() => undefined);
        return 'resolved';
      });
      await expect(unit).rejects.toThrow(/not an instant|invalid input syntax/);
      expect(await a.readCurrent({ type: 'Patient', id: 'kept?' })).toBeUndefined();
      // The pool's connection is usable again.
      await a.transact((tx) => tx.writeVersion(patientWrite('after', '1')));
      expect((await a.readCurrent({ type: 'Patient', id: 'after' }))?.versionId).toBe('1');
    } finally {
      await a.close();
    }
  });

  it('lock(name) blocks a unit of another adapter (own pool) on the same name until the holder ends', async () => {
    const schema = nextSchema();
    const a = await PostgresAdapter.open({ connectionString: pgUrl(), schema, max: 2 });
    const b = await PostgresAdapter.open({ connectionString: pgUrl(), schema, max: 2 });
    try {
      const events: string[] = [];
      const holder = holdUnit(a, async (tx) => {
        await tx.lock('cond:Patient?identifier=x');
        events.push('a locked');
      });
      await holder.started;
      const waiter = b.transact(async (tx) => {
        await tx.lock('cond:Patient?identifier=x');
        events.push('b locked');
        await tx.lock('another name'); // other names do not wait
      });
      // An advisory lock on a 64-bit key shows as classid (high half) and objid (low half).
      const key = BigInt.asUintN(64, BigInt(a.lockKey('cond:Patient?identifier=x')));
      await someoneWaits(`l.locktype = 'advisory' AND l.classid::int8 = $1 AND l.objid::int8 = $2`, [String(key >> 32n), String(key & 0xffffffffn)]);
      events.push('b waits');
      events.push('a ends');
      holder.release();
      await holder.done;
      await waiter;
      expect(events).toEqual(['a locked', 'b waits', 'a ends', 'b locked']);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('returns the JSON bytes exactly as written, from every read', async () => {
    const a = await freshAdapter(nextSchema);
    try {
      const json = '{"resourceType":"Patient",  "id":"raw","meta":{"versionId":"1","lastUpdated":"2026-01-01T00:00:01.000Z"},"z":1,"a":"é\\u00e9 ","name":[{"family":"Doe"}]}';
      await a.transact((tx) => tx.writeVersion({ ...patientWrite('raw', '1'), json }));
      expect((await a.readCurrent({ type: 'Patient', id: 'raw' }))?.json).toBe(json);
      expect((await a.readVersion({ type: 'Patient', id: 'raw' }, '1'))?.json).toBe(json);
      expect((await a.readHistory({ level: 'system' }, { count: 1 })).items[0]?.json).toBe(json);
      expect((await a.search({ types: ['Patient'], where: [], sort: [], limit: 1 })).hits[0]?.json).toBe(json);
      expect((await a.search({ types: ['Patient'], where: [], sort: [], limit: 1, total: true })).hits[0]?.json).toBe(json);
    } finally {
      await a.close();
    }
  });

  it('stores and matches index values holding U+0000, which PostgreSQL text cannot hold', async () => {
    const a = await freshAdapter(nextSchema);
    try {
      const family = 'a\u0000b';
      await a.transact((tx) => tx.writeVersion(patientWrite('nul', '1', { family })));
      const find = async (match: 'exact' | 'prefix', value: string) =>
        (await a.search({ types: ['Patient'], where: [{ kind: 'any', param: 'family', of: [{ kind: 'string', match, folded: value.toLowerCase(), exact: value }] }], sort: [], limit: 5 })).hits.map((h) => h.id);
      expect(await find('exact', family)).toEqual(['nul']);
      expect(await find('prefix', 'a\u0000')).toEqual(['nul']);
      expect(await find('exact', 'ab')).toEqual([]);
    } finally {
      await a.close();
    }
  });

  it('leaves a pool it was given open, and ends one it created', async () => {
    const pool = new pg.Pool({ connectionString: pgUrl(), max: 2 });
    try {
      const given = new RuntimeStorage(await PostgresAdapter.open({ pool, schema: nextSchema() }));
      await given.close();
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      // The runtime, not the adapter, refuses calls after close.
      await expect(given.readCurrent({ type: 'Patient', id: 'x' })).rejects.toThrow('closed');
    } finally {
      await pool.end();
    }
    const owned = await PostgresAdapter.open({ connectionString: pgUrl(), schema: nextSchema() });
    await owned.close();
    expect(owned.pool.ended).toBe(true);
    expect(() => new PostgresAdapter({ connectionString: pgUrl(), schema: 'bad"name' })).toThrow('Invalid PostgreSQL schema name');
  });
});
