/**
 * Upgrading a database written before the engine indexed compartment memberships (schema version 3):
 * migration 4 has its live resources indexed again from their JSON before the next search, so that
 * compartment searches find the data of the older version.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { FhirEngine } from '../../src/engine.js';
import { compartmentClause } from '../../src/search/compartments.js';
import { RuntimeStorage } from '../../src/storage/runtime-storage.js';
import { oldWrite, writeOldData } from '../support/old-index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sqlite-reindex-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** More than one batch of `DeferredIndex.reindex` (2,000). */
const N = 2100;

/** A version 3 database holding the old data set, some of it still pending (not applied). */
async function oldDatabase(): Promise<string> {
  const filename = join(dir, 'old.sqlite');
  const storage = new RuntimeStorage(new SqliteAdapter({ filename }));
  await writeOldData(storage, N);
  await storage.search({ types: ['Patient'], where: [], sort: [], limit: 1 }); // applies what is there
  await storage.transact(async (tx) => {
    await tx.writeVersion(oldWrite({ resourceType: 'Observation', id: 'late', status: 'final', subject: { reference: 'Patient/p1' } }));
  });
  await storage.close();
  const raw = new Database(filename);
  raw.exec("DELETE FROM meta WHERE key LIKE 'reindex_%'");
  raw.pragma('user_version = 3');
  raw.close();
  return filename;
}

const ids = (bundle: { entry?: { resource?: { id?: string } }[] }): string[] => (bundle.entry ?? []).map((e) => e.resource!.id!).sort();

describe('SQLite: a database written before compartment memberships were indexed', () => {
  it('has them after the upgrade: its resources are indexed again, once, before the next search', async () => {
    const filename = await oldDatabase();

    // Without an engine's indexer the upgrade cannot index anything: the old index has no memberships.
    const bare = new RuntimeStorage(new SqliteAdapter({ filename }));
    const inP1 = { types: ['Observation'], where: [compartmentClause('Patient', 'p1')], sort: [], limit: 10_000 };
    expect((await bare.search(inP1)).hits).toHaveLength(0);
    await bare.close();

    const engine = new FhirEngine({ storage: new SqliteAdapter({ filename }) });
    try {
      const observations = await engine.compartment('Patient', 'p1', 'Observation', '_count=1000&_total=accurate');
      expect(observations.total).toBe(N + 2); // o0…, perf and late; not `gone` (deleted), not `other`
      expect(ids(await engine.compartment('Patient', 'p1', 'Observation', '_id=perf,late,gone,other'))).toEqual(['late', 'perf']);
      expect(ids(await engine.compartment('Patient', 'p1', 'Encounter'))).toEqual(['e1']);
      expect((await engine.compartment('Encounter', 'e1', '*', '_summary=count')).total).toBe(N + 1); // itself ({def}) and o0…
      // Other parameters are as before, each entry once.
      expect((await engine.search('Observation', 'subject=Patient/p1&_summary=count')).total).toBe(N + 1);
      expect((await engine.search('Observation', 'performer=Patient/p1&_summary=count')).total).toBe(1);
    } finally {
      await engine.close();
    }

    const check = new Database(filename, { readonly: true });
    try {
      expect(check.prepare("SELECT count(*) FROM meta WHERE key LIKE 'reindex_%'").pluck().get()).toBe(0);
      const rows = check
        .prepare("SELECT param, target_type || '/' || target_id FROM ix_reference WHERE res_type = 'Observation' AND res_id = 'o7' ORDER BY 1, 2")
        .raw()
        .all();
      expect(rows).toEqual([
        ['_compartment', 'Encounter/e1'],
        ['_compartment', 'Patient/p1'],
        ['encounter', 'Encounter/e1'],
        ['patient', 'Patient/p1'],
        ['subject', 'Patient/p1'],
      ]);
    } finally {
      check.close();
    }
  });

  it('a fresh database has nothing to index again', async () => {
    const filename = join(dir, 'fresh.sqlite');
    const engine = new FhirEngine({ storage: new SqliteAdapter({ filename }) });
    await engine.create({ resourceType: 'Patient' });
    await engine.close();
    const check = new Database(filename, { readonly: true });
    expect(check.prepare("SELECT count(*) FROM meta WHERE key LIKE 'reindex_%'").pluck().get()).toBe(0);
    check.close();
  });
});
