/**
 * SQLite adapter throughput, on a file database in WAL mode (`synchronous = NORMAL`).
 * Run: `npx tsx bench/sqlite.bench.ts` — prints one JSON line per measurement:
 * `{"bench":"sqlite.create","opsPerSec":…}`.
 *
 * Environment: `BENCH_SCALE` (default 1) scales the write counts; `BENCH_WRITES_ONLY=1` stops after
 * the write benches; `BENCH_PAGE_SIZE` creates the database with another page size;
 * `BENCH_BACKGROUND_CHECKPOINTS=0` leaves checkpoints to the writer (see `adapters/sqlite/checkpointer.ts`).
 *
 * Index entries are hand-built (~25 per Patient: identifiers, name parts, birthdate, gender,
 * address parts, telecom, _id, _lastUpdated), like the core's extractor would produce.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';

import { SqliteAdapter } from '../adapters/sqlite/index.js';
import type { IndexEntry } from '../src/storage/index-entry.js';
import type { StorageQuery } from '../src/storage/query.js';
import type { VersionWrite } from '../src/storage/storage-adapter.js';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const dir = mkdtempSync(join(tmpdir(), 'fhir-engine-sqlite-bench-'));

const FAMILIES = ['Smith', 'Jones', 'Müller', 'García', 'Nguyen', 'Kowalski', 'Rossi', 'Dubois', 'Svensson', 'Okafor'];
const GIVENS = ['Anna', 'Ben', 'Chloé', 'David', 'Eva', 'Farid', 'Greta', 'Hiro', 'Ines', 'Jamal', 'Kim', 'Lena'];
const CITIES = ['Berlin', 'Paris', 'Madrid', 'Rome', 'Oslo', 'Lagos', 'Hanoi', 'Lima'];

const fold = (s: string): string =>
  s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase();

let clock = Date.parse('2024-01-01T00:00:00.000Z');

function patient(n: number, tag: string): { write: VersionWrite } {
  const id = `${tag}-${n}`;
  const family = FAMILIES[n % FAMILIES.length] as string;
  const given = GIVENS[n % GIVENS.length] as string;
  const given2 = GIVENS[(n * 7 + 3) % GIVENS.length] as string;
  const city = CITIES[n % CITIES.length] as string;
  const year = 1930 + (n % 90);
  const month = 1 + (n % 12);
  const day = 1 + (n % 28);
  const birthDate = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
  const gender = n % 2 === 0 ? 'female' : 'male';
  const mrn = `MRN${String(n).padStart(8, '0')}${tag}`;
  const ssn = `${100 + (n % 899)}-${10 + (n % 89)}-${String(n % 10000).padStart(4, '0')}`;
  const phone = `+1-555-${String(n % 10000).padStart(4, '0')}`;
  const lastUpdated = new Date(clock++).toISOString();
  const resource = {
    resourceType: 'Patient',
    id,
    meta: { versionId: '1', lastUpdated },
    identifier: [
      { system: 'http://hospital.example.org/mrn', value: mrn },
      { system: 'http://hl7.org/fhir/sid/us-ssn', value: ssn },
    ],
    active: true,
    name: [{ use: 'official', family, given: [given, given2] }],
    telecom: [{ system: 'phone', value: phone, use: 'home' }],
    gender,
    birthDate,
    address: [{ use: 'home', line: [`${n % 200} Main Street`], city, postalCode: String(10000 + (n % 89999)), country: 'XX' }],
    generalPractitioner: [{ reference: `Practitioner/pr-${n % 100}` }],
  };
  const low = Date.parse(`${birthDate}T00:00:00.000Z`);
  const lu = Date.parse(lastUpdated);
  const str = (param: string, value: string): IndexEntry => ({ param, kind: 'string', folded: fold(value), exact: value });
  const index: IndexEntry[] = [
    { param: '_id', kind: 'token', system: null, code: id },
    { param: '_lastUpdated', kind: 'date', low: lu, high: lu },
    { param: 'identifier', kind: 'token', system: 'http://hospital.example.org/mrn', code: mrn },
    { param: 'identifier', kind: 'token', system: 'http://hl7.org/fhir/sid/us-ssn', code: ssn },
    { param: 'active', kind: 'token', system: null, code: 'true' },
    { param: 'family', kind: 'string', folded: fold(family), exact: family },
    str('given', given),
    str('given', given2),
    str('name', family),
    str('name', given),
    str('name', given2),
    str('name', `${given} ${given2} ${family}`),
    { param: 'gender', kind: 'token', system: 'http://hl7.org/fhir/administrative-gender', code: gender },
    { param: 'birthdate', kind: 'date', low, high: low + 86_400_000 - 1 },
    { param: 'telecom', kind: 'token', system: 'phone', code: phone },
    { param: 'phone', kind: 'token', system: 'phone', code: phone },
    str('address', `${n % 200} Main Street`),
    str('address', city),
    str('address', String(10000 + (n % 89999))),
    str('address', 'XX'),
    str('address-city', city),
    str('address-postalcode', String(10000 + (n % 89999))),
    str('address-country', 'XX'),
    { param: 'address-use', kind: 'token', system: 'http://hl7.org/fhir/address-use', code: 'home' },
    { param: 'general-practitioner', kind: 'reference', targetType: 'Practitioner', targetId: `pr-${n % 100}`, url: null },
  ];
  return {
    write: {
      type: 'Patient',
      id,
      versionId: '1',
      expect: { kind: 'absent' },
      lastUpdated,
      method: 'POST',
      deleted: false,
      json: JSON.stringify(resource),
      index,
    },
  };
}

function report(bench: string, ops: number, ms: number, extra: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ bench, opsPerSec: Math.round((ops / ms) * 1000), ops, ms: Math.round(ms), ...extra }));
}

function now(): number {
  return performance.now();
}

async function main(): Promise<void> {
  // Floor: raw better-sqlite3 autocommit inserts of the same JSON (WAL, NORMAL), no index rows.
  {
    const db = new Database(join(dir, 'raw.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec('CREATE TABLE r (id TEXT PRIMARY KEY, json TEXT NOT NULL)');
    const insert = db.prepare('INSERT INTO r (id, json) VALUES (?, ?)');
    const n = 20_000 * SCALE;
    const writes = Array.from({ length: n }, (_, i) => patient(i, 'raw').write);
    const t = now();
    for (const w of writes) insert.run(w.id, w.json);
    report('sqlite.raw-insert', n, now() - t);
    db.close();
  }

  const pageSize = process.env.BENCH_PAGE_SIZE;
  const backgroundCheckpoints = process.env.BENCH_BACKGROUND_CHECKPOINTS !== '0';
  let adapter: SqliteAdapter;
  if (pageSize !== undefined) {
    const db = new Database(join(dir, 'bench.db'));
    db.pragma(`page_size = ${Number(pageSize)}`);
    adapter = new SqliteAdapter({ database: db, backgroundCheckpoints });
  } else {
    adapter = new SqliteAdapter({ filename: join(dir, 'bench.db'), backgroundCheckpoints });
  }

  // One transact per write, like a create.
  {
    const n = 20_000 * SCALE;
    const writes = Array.from({ length: n }, (_, i) => patient(i, 'c').write);
    const t = now();
    for (const w of writes) await adapter.transact((tx) => tx.writeVersion(w));
    report('sqlite.create', n, now() - t, { indexEntriesPerWrite: writes[0]?.index.length });
  }

  // 1,000 writes per transact.
  {
    const batches = 20 * SCALE;
    const writes = Array.from({ length: batches * 1000 }, (_, i) => patient(i, 'b').write);
    const t = now();
    for (let b = 0; b < batches; b++) {
      await adapter.transact(async (tx) => {
        for (let i = b * 1000; i < (b + 1) * 1000; i++) await tx.writeVersion(writes[i] as VersionWrite);
      });
    }
    report('sqlite.batch1000', batches * 1000, now() - t);
  }

  if (process.env.BENCH_WRITES_ONLY) {
    await adapter.close();
    return;
  }

  // Fill to 100k resources for reads and search.
  {
    const target = 100_000;
    const have = 40_000 * SCALE;
    const writes = Array.from({ length: Math.max(0, target - have) }, (_, i) => patient(i, 'f').write);
    for (let b = 0; b < writes.length; b += 5000) {
      await adapter.transact(async (tx) => {
        for (const w of writes.slice(b, b + 5000)) await tx.writeVersion(w);
      });
    }
  }

  // The index is deferred (see adapters/sqlite/schema.ts): the first search after the load applies
  // the pending index rows of every resource written so far. Time that warm-up search separately.
  {
    const t = now();
    await adapter.search({ types: ['Patient'], where: [{ kind: 'ids', ids: ['c-0'] }], sort: [], limit: 1 });
    report('sqlite.index-flush', 100_000, now() - t, { resources: 100_000, unit: 'resources/s' });
  }

  // readCurrent (outside a unit: the read-only connection).
  {
    const n = 200_000;
    const keys = Array.from({ length: n }, (_, i) => ({ type: 'Patient', id: `c-${(i * 7919) % (20_000 * SCALE)}` }));
    const t = now();
    let found = 0;
    for (const k of keys) if ((await adapter.readCurrent(k)) !== undefined) found++;
    report('sqlite.readCurrent', n, now() - t, { found });
  }

  // Token search over 100k resources: identifier=system|value (one hit, full JSON).
  {
    const n = 50_000;
    const queries: StorageQuery[] = Array.from({ length: n }, (_, i) => {
      const k = (i * 7919) % 20_000;
      return {
        types: ['Patient'],
        where: [
          {
            kind: 'any',
            param: 'identifier',
            of: [{ kind: 'token', system: 'http://hospital.example.org/mrn', code: `MRN${String(k).padStart(8, '0')}f` }],
          },
        ],
        sort: [{ param: '_id', descending: false }],
        limit: 21,
      };
    });
    const t = now();
    let hits = 0;
    for (const q of queries) hits += (await adapter.search(q)).hits.length;
    report('sqlite.search.token', n, now() - t, { resources: 100_000, hits });
  }

  // Unselective token search: gender=female (~50k matches), first page of 20, no total.
  {
    const n = 1_000;
    const q: StorageQuery = {
      types: ['Patient'],
      where: [{ kind: 'any', param: 'gender', of: [{ kind: 'token', code: 'female' }] }],
      sort: [{ param: '_id', descending: false }],
      limit: 21,
    };
    const t = now();
    let hits = 0;
    for (let i = 0; i < n; i++) hits += (await adapter.search(q)).hits.length;
    report('sqlite.search.token-unselective', n, now() - t, { resources: 100_000, hits });
  }

  // Combined: identifier + gender (the selective clause drives).
  {
    const n = 20_000;
    const t = now();
    let hits = 0;
    for (let i = 0; i < n; i++) {
      const k = (i * 7919) % 20_000;
      hits += (
        await adapter.search({
          types: ['Patient'],
          where: [
            { kind: 'any', param: 'gender', of: [{ kind: 'token', code: k % 2 === 0 ? 'female' : 'male' }] },
            { kind: 'any', param: 'identifier', of: [{ kind: 'token', code: `MRN${String(k).padStart(8, '0')}f` }] },
          ],
          sort: [{ param: '_id', descending: false }],
          limit: 21,
        })
      ).hits.length;
    }
    report('sqlite.search.token-and', n, now() - t, { resources: 100_000, hits });
  }

  // String prefix on family, sorted by birthdate, first page.
  {
    const n = 100;
    const t = now();
    let hits = 0;
    for (let i = 0; i < n; i++) {
      hits += (
        await adapter.search({
          types: ['Patient'],
          where: [{ kind: 'any', param: 'family', of: [{ kind: 'string', match: 'prefix', folded: 'sm', exact: 'Sm' }] }],
          sort: [
            { param: 'birthdate', descending: true },
            { param: '_id', descending: false },
          ],
          limit: 21,
        })
      ).hits.length;
    }
    report('sqlite.search.string-sorted', n, now() - t, { resources: 100_000, hits });
  }

  await adapter.close();
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
