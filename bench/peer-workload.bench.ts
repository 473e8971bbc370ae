/**
 * The peer harness's workload (`../shared/peers/medplum/bench.mjs`, issue 15) through `handle()`, on
 * the memory adapter and on SQLite (a file, WAL), with the floor of a raw better-sqlite3 autocommit
 * insert of the same JSON in the same run; so that the figures of the issue can be reproduced
 * without the peer. Each response body is parsed, as the harness (an HTTP client) does.
 *
 * Run: `npm run bench -- peer-workload`. One JSON line per measurement:
 * `{"bench":"peer.memory.create","ops":…,"opsPerSec":…}`, then for SQLite the bursts:
 * `{"bench":"peer.sqlite.burst.updates","firstSearchMs":…,"loopMaxMs":…,"metadataMaxMs":…}`:
 * the wait of the first search after the burst, the longest event-loop block (`monitorEventLoopDelay`
 * max) and the worst latency of a `GET /metadata` issued every few ms while the burst's index
 * maintenance runs (during the writes, while the loop is idle afterwards, and during that search).
 *
 * Environment: `PEER_TARGETS` (default `memory,sqlite`), `PEER_N` (default 20000 Patients),
 * `PEER_SEARCH_X` (default 20, the harness's `--search-x`), `PEER_BURSTS=0` skips the bursts,
 * `PEER_BULK` (default 100000) the size of the one-transaction burst.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import Database from 'better-sqlite3';

import { MemoryAdapter } from '../adapters/memory/index.js';
import { SqliteAdapter } from '../adapters/sqlite/index.js';
import { FhirEngine } from '../src/index.js';

const N = Number(process.env.PEER_N ?? 20_000);
const SEARCH_X = Number(process.env.PEER_SEARCH_X ?? 20);
const TARGETS = (process.env.PEER_TARGETS ?? 'memory,sqlite').split(',');
const BURSTS = process.env.PEER_BURSTS !== '0';
const BULK = Number(process.env.PEER_BULK ?? 100_000);
const SYS = 'urn:bench:mrn';
const dir = mkdtempSync(join(tmpdir(), 'fhir-engine-peer-bench-'));

// ---- the harness's data: same PRNG, same seed, same shapes ----
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const FAMILIES = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez'];
const GIVENS = ['James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda', 'David', 'Elizabeth'];
const CITIES = Array.from({ length: 50 }, (_, i) => `City${String(i).padStart(2, '0')}`);
const GENDERS = ['male', 'female', 'other', 'unknown'];
const pick = <T>(rnd: () => number, arr: readonly T[]): T => arr[Math.floor(rnd() * arr.length)] as T;
const pad = (n: number): string => String(n).padStart(2, '0');
const mrn = (i: number, prefix = 'MRN'): string => `${prefix}-${String(i).padStart(7, '0')}`;

type Json = Record<string, unknown>;
function makePatient(rnd: () => number, i: number, prefix = 'MRN'): Json {
  return {
    resourceType: 'Patient',
    identifier: [{ system: SYS, value: mrn(i, prefix) }],
    name: [{ family: pick(rnd, FAMILIES), given: [pick(rnd, GIVENS)] }],
    gender: pick(rnd, GENDERS),
    birthDate: `${1930 + Math.floor(rnd() * 90)}-${pad(1 + Math.floor(rnd() * 12))}-${pad(1 + Math.floor(rnd() * 28))}`,
    address: [{ city: pick(rnd, CITIES), line: [`${1 + Math.floor(rnd() * 999)} Main St`] }],
  };
}
function shuffle<T>(arr: T[], rnd: () => number): T[] {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [arr[i], arr[j]] = [arr[j] as T, arr[i] as T];
  }
  return arr;
}

// ---- driving handle() as the harness does ----
type Request = (method: string, url: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: any }>;
function client(engine: FhirEngine): Request {
  return async (method, url, body, headers = {}) => {
    const h: Record<string, string> = { accept: 'application/fhir+json', ...headers };
    if (body !== undefined && !h['content-type']) h['content-type'] = Array.isArray(body) ? 'application/json-patch+json' : 'application/fhir+json';
    const r = await engine.handle({ method, url: '/' + url.replace(/^\//, ''), headers: h, body: body as any });
    return { status: r.status, body: typeof r.body === 'string' && r.body ? JSON.parse(r.body) : r.body };
  };
}

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
function report(bench: string, fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ bench, ...fields }));
}
async function phase(name: string, ops: number, fn: (i: number) => Promise<boolean>): Promise<void> {
  gc();
  let errors = 0;
  const t0 = performance.now();
  for (let i = 0; i < ops; i++) if (!(await fn(i))) errors++;
  const ms = performance.now() - t0;
  report(name, { ops, ms: Math.round(ms), opsPerSec: Math.round((ops * 1000) / ms), ...(errors ? { errors } : {}) });
}

function makeEngine(kind: string, file: string): FhirEngine {
  return new FhirEngine({
    storage: kind === 'memory' ? new MemoryAdapter() : new SqliteAdapter({ filename: join(dir, file) }),
    // The one-transaction burst carries BULK entries (default limits: 10,000 entries, 16 MB).
    limits: { maxBundleEntries: Math.max(10_000, BULK), maxBodyBytes: 1 << 30 },
  });
}

async function warmup(kind: string): Promise<void> {
  const engine = makeEngine(kind, 'warm.sqlite');
  const request = client(engine);
  const rnd = mulberry32(1);
  const ids: string[] = [];
  for (let i = 0; i < 500; i++) ids.push((await request('POST', 'Patient', makePatient(rnd, i, 'WARM'))).body.id);
  for (const id of ids) {
    const r = await request('GET', `Patient/${id}`);
    await request('PUT', `Patient/${id}`, { ...r.body, active: true });
    await request('PATCH', `Patient/${id}`, [{ op: 'add', path: '/active', value: false }]);
  }
  await request('GET', `Patient?identifier=${SYS}|${mrn(3, 'WARM')}`);
  await request('GET', 'Patient?address-city=City01');
  await request('GET', 'Patient?birthdate=ge1980-01-01&_count=50');
  await request('POST', 'Patient', makePatient(rnd, 1, 'WARM'), { 'if-none-exist': `identifier=${SYS}|${mrn(1, 'WARM')}` });
  for (const id of ids) await request('DELETE', `Patient/${id}`);
  await engine.close();
}

/** The harness's phases a–i, in its order. */
async function workload(kind: string): Promise<void> {
  await warmup(kind);
  const engine = makeEngine(kind, 'workload.sqlite');
  const request = client(engine);
  const rnd = mulberry32(0x5eed2024);
  const counts = { ident: 200 * SEARCH_X, city: 5 * SEARCH_X, birth: 5 * SEARCH_X, cond: 250 * SEARCH_X, patch: 5000 };
  const patients = Array.from({ length: N }, (_, i) => makePatient(rnd, i));
  const readOrder = shuffle(Array.from({ length: N }, (_, i) => i), rnd);
  const identTargets = Array.from({ length: counts.ident }, () => Math.floor(rnd() * N));
  const cityTargets = Array.from({ length: counts.city }, () => pick(rnd, CITIES));
  const batchPatients = Array.from({ length: 1000 }, (_, i) => makePatient(rnd, i, 'BATCH'));
  const patchTargets = shuffle(Array.from({ length: N }, (_, i) => i), rnd).slice(0, Math.min(counts.patch, N));
  const condPlan = Array.from({ length: counts.cond }, (_, j) => (j % 2 === 0 ? { existing: true, i: Math.floor(rnd() * N) } : { existing: false, i: j }));
  const condBodies = condPlan.map((c) => (c.existing ? patients[c.i] : makePatient(rnd, c.i, 'COND')));
  const stored: any[] = new Array(N);
  const p = `peer.${kind}`;

  await phase(`${p}.create`, N, async (i) => {
    const r = await request('POST', 'Patient', patients[i]);
    stored[i] = r.body;
    return r.status === 201;
  });
  await phase(`${p}.read`, N, async (k) => {
    const i = readOrder[k]!;
    const r = await request('GET', `Patient/${stored[i].id}`);
    return r.status === 200 && r.body.id === stored[i].id;
  });
  await phase(`${p}.update`, N, async (i) => {
    const body = { ...stored[i], active: i % 2 === 0, telecom: [{ system: 'phone', value: `555-${String(i).padStart(5, '0')}` }] };
    const r = await request('PUT', `Patient/${stored[i].id}`, body);
    stored[i] = r.body;
    return r.status === 200;
  });
  await phase(`${p}.search-identifier`, counts.ident, async (k) => {
    const i = identTargets[k]!;
    const r = await request('GET', `Patient?identifier=${SYS}|${mrn(i)}`);
    return r.status === 200 && r.body.entry?.length === 1 && r.body.entry[0].resource.id === stored[i].id;
  });
  await phase(`${p}.search-address-city`, counts.city, async (k) => {
    const r = await request('GET', `Patient?address-city=${cityTargets[k]}`);
    return r.status === 200 && (r.body.entry?.length ?? 0) > 0;
  });
  await phase(`${p}.search-birthdate-ge-count50`, counts.birth, async () => {
    const r = await request('GET', 'Patient?birthdate=ge1980-01-01&_count=50');
    return r.status === 200 && r.body.entry?.length === 50;
  });
  {
    const bundle = { resourceType: 'Bundle', type: 'batch', entry: batchPatients.map((resource) => ({ request: { method: 'POST', url: 'Patient' }, resource })) };
    gc();
    const t0 = performance.now();
    const r = await request('POST', '', bundle);
    const ms = performance.now() - t0;
    const bad = (r.body?.entry ?? []).filter((e: any) => !String(e?.response?.status ?? '').startsWith('201')).length + (r.status === 200 ? 0 : 1);
    report(`${p}.batch-1000-post`, { ops: 1000, ms: Math.round(ms), opsPerSec: Math.round(1_000_000 / ms), ...(bad ? { errors: bad } : {}) });
  }
  await phase(`${p}.json-patch`, patchTargets.length, async (k) => {
    const i = patchTargets[k]!;
    const r = await request('PATCH', `Patient/${stored[i].id}`, [
      { op: 'replace', path: '/gender', value: GENDERS[k % 4] },
      { op: 'add', path: '/active', value: k % 3 === 0 },
    ]);
    return r.status === 200;
  });
  await phase(`${p}.conditional-create`, counts.cond, async (k) => {
    const c = condPlan[k]!;
    const value = c.existing ? mrn(c.i) : mrn(c.i, 'COND');
    const r = await request('POST', 'Patient', condBodies[k], { 'if-none-exist': `identifier=${SYS}|${value}` });
    return c.existing ? r.status === 200 && r.body.id === stored[c.i].id : r.status === 201;
  });
  await phase(`${p}.delete`, N, async (i) => {
    const r = await request('DELETE', `Patient/${stored[i].id}`);
    return r.status === 200 || r.status === 204;
  });
  await engine.close();
}

/** The floor: the same JSON inserted by raw better-sqlite3 autocommit statements, WAL, `synchronous = NORMAL`. */
function rawInsert(): void {
  const db = new Database(join(dir, 'raw.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE patient (id TEXT PRIMARY KEY, json TEXT NOT NULL) WITHOUT ROWID');
  const insert = db.prepare('INSERT INTO patient (id, json) VALUES (?, ?)');
  const rnd = mulberry32(0x5eed2024);
  const rows = Array.from({ length: N }, (_, i) => {
    const id = crypto.randomUUID();
    return [id, JSON.stringify({ ...makePatient(rnd, i), id, meta: { versionId: '1', lastUpdated: new Date().toISOString() } })] as const;
  });
  const t0 = performance.now();
  for (const [id, json] of rows) insert.run(id, json);
  const ms = performance.now() - t0;
  report('peer.sqlite.raw-insert', { ops: N, ms: Math.round(ms), opsPerSec: Math.round((N * 1000) / ms) });
  db.close();
}

/**
 * Watches the event loop while `work` runs: the longest block (`monitorEventLoopDelay` max) and the
 * worst latency of a `GET /metadata` through `handle()` sent every 5 ms.
 */
async function watched<T>(engine: FhirEngine, work: () => Promise<T>): Promise<{ result: T; loopMaxMs: number; metadataMaxMs: number; metadataCount: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  let metadataMaxMs = 0;
  let metadataCount = 0;
  let stop = false;
  const probe = async (): Promise<void> => {
    while (!stop) {
      // Latency from when the request was due: a request arriving while the loop is blocked waits.
      const t0 = performance.now() + 5;
      await new Promise((r) => setTimeout(r, 5));
      const r = await engine.handle({ method: 'GET', url: '/metadata', headers: { accept: 'application/fhir+json' } });
      if (r.status !== 200) throw new Error(`GET /metadata: ${r.status}`);
      metadataMaxMs = Math.max(metadataMaxMs, performance.now() - t0);
      metadataCount++;
    }
  };
  const probing = probe();
  // The probe's timer must get its turn, as an HTTP request would between other requests.
  await new Promise((r) => setTimeout(r, 10));
  let result: T;
  try {
    result = await work();
  } finally {
    stop = true;
    await probing;
    histogram.disable();
  }
  return { result, loopMaxMs: Math.round(histogram.max / 1e6), metadataMaxMs: Math.round(metadataMaxMs), metadataCount };
}

/** A burst of writes, then one search: its wait, and the event loop during both. */
async function burst(name: string, writes: (request: Request) => Promise<number>, writesLoopYields: boolean): Promise<void> {
  const engine = makeEngine('sqlite', `${name}.sqlite`);
  const request = client(engine);
  const rnd = mulberry32(7);
  const t0 = performance.now();
  // The writes run back to back, as a client that awaits each request does; while they run the
  // probe only gets turns where the writes yield (`writesLoopYields` says whether they are expected to).
  const during = await watched(engine, () => writes(request));
  const writeMs = performance.now() - t0;
  const search = await watched(engine, async () => {
    const s0 = performance.now();
    const r = await request('GET', `Patient?address-city=${pick(rnd, CITIES)}&_count=10`);
    if (r.status !== 200 || !(r.body.entry?.length > 0)) throw new Error(`search after ${name}: ${r.status}`);
    return performance.now() - s0;
  });
  report(`peer.sqlite.burst.${name}`, {
    writes: during.result,
    writeMs: Math.round(writeMs),
    firstSearchMs: Math.round(search.result),
    loopMaxMs: Math.max(search.loopMaxMs, writesLoopYields ? during.loopMaxMs : 0),
    writesLoopMaxMs: during.loopMaxMs,
    metadataMaxMs: search.metadataMaxMs,
    writesMetadataMaxMs: during.metadataMaxMs,
  });
  await engine.close();
}

async function bursts(): Promise<void> {
  // 20k creates then 20k updates, then one search.
  await burst(
    'creates-updates',
    async (request) => {
      const rnd = mulberry32(11);
      const ids: string[] = [];
      for (let i = 0; i < N; i++) ids.push((await request('POST', 'Patient', makePatient(rnd, i, 'B'))).body.id);
      for (let i = 0; i < N; i++) {
        const r = await request('PUT', `Patient/${ids[i]}`, { ...makePatient(rnd, i, 'B'), id: ids[i], active: true });
        if (r.status !== 200) throw new Error(`update: ${r.status}`);
      }
      return 2 * N;
    },
    false,
  );
  // BULK creates in one transaction Bundle, then one search.
  await burst(
    'bulk-transaction',
    async (request) => {
      const rnd = mulberry32(13);
      const entry = Array.from({ length: BULK }, (_, i) => ({ request: { method: 'POST', url: 'Patient' }, resource: makePatient(rnd, i, 'T') }));
      const r = await request('POST', '', { resourceType: 'Bundle', type: 'transaction', entry });
      if (r.status !== 200) throw new Error(`transaction: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      return BULK;
    },
    false,
  );
}

try {
  for (const kind of TARGETS) {
    if (kind === 'sqlite') rawInsert();
    await workload(kind);
  }
  if (BURSTS && TARGETS.includes('sqlite')) await bursts();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
