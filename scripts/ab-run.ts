/**
 * The measured part of `scripts/ab-bench.ts`: both engines in one process, rounds interleaved (the
 * variant that goes first alternates), CPU time of 1,000 operations per case and round. Prints, per
 * case, the median and the best of each variant and their ratio (after / before, in operations/s).
 * Bundled by `ab-bench.ts` with `@before` and `@after` pointing at the two checkouts.
 */
// @ts-nocheck -- the two checkouts are bound at bundle time.
import { MemoryAdapter as MemA } from '@before/adapters/memory/index.js';
import { SqliteAdapter as SqlA } from '@before/adapters/sqlite/index.js';
import { FhirEngine as EngA } from '@before/src/engine.js';
import { MemoryAdapter as MemB } from '@after/adapters/memory/index.js';
import { SqliteAdapter as SqlB } from '@after/adapters/sqlite/index.js';
import { FhirEngine as EngB } from '@after/src/engine.js';

const which = process.argv[2] ?? 'bundle';
const ROUNDS = Number(process.argv[3] ?? 15);
const variants = {
  before: { Engine: EngA as any, mem: () => new MemA(), sql: () => new SqlA({ filename: ':memory:' }) },
  after: { Engine: EngB as any, mem: () => new MemB(), sql: () => new SqlB({ filename: ':memory:' }) },
};
const json = { 'content-type': 'application/fhir+json' };
const N = 1000;
const uuid = (i: number) => `urn:uuid:00000000-0000-0000-0000-${String(i).padStart(12, '0')}`;
const obs = (i: number, subject?: string) => ({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, valueQuantity: { value: 60 + (i % 40), unit: 'bpm' }, ...(subject && { subject: { reference: subject } }) });
const bundleOf = (type: string) => ({ resourceType: 'Bundle', type, entry: Array.from({ length: N }, (_, i) => ({ fullUrl: uuid(i), resource: obs(i, i > 0 && type === 'transaction' ? uuid(0) : undefined), request: { method: 'POST', url: 'Observation' } })) });
const batchText = JSON.stringify(bundleOf('batch'));
const txText = JSON.stringify(bundleOf('transaction'));
const bodies = Array.from({ length: N }, (_, i) => JSON.stringify(obs(i)));
const patient = (i: number) => ({ resourceType: 'Patient', identifier: [{ system: 'http://hospital.example/mrn', value: `MRN${i}` }], active: true, name: [{ family: `Family${i % 1000}`, given: [`Given${i % 97}`] }], gender: i % 2 ? 'male' : 'female', birthDate: '1970-01-01' });
const pbodies = Array.from({ length: N }, (_, i) => JSON.stringify(patient(i)));

const cpu = async (fn: () => Promise<unknown>): Promise<number> => { const c0 = process.cpuUsage(); await fn(); const c = process.cpuUsage(c0); return (c.user + c.system) / 1000; };

type Case = (v: typeof variants.before) => Promise<Record<string, number>>;
const bundleCases: Record<string, Case> = {};
for (const backend of ['memory', 'sqlite'] as const) {
  const store = (v: any) => (backend === 'memory' ? v.mem() : v.sql());
  bundleCases[backend] = async (v) => {
    const out: Record<string, number> = {};
    const warmUp = { resourceType: 'Bundle', type: 'batch', entry: bundleOf('batch').entry.slice(0, 20) };
    const fresh = async () => { const e = new v.Engine({ storage: store(v) }); await e.batch(warmUp); return e; };
    let e = await fresh();
    out[`single.handle.${backend}`] = await cpu(async () => { for (const b of bodies) await e.handle({ method: 'POST', url: '/Observation', headers: json, body: b }); });
    await e.close(); e = await fresh();
    out[`batch.handle.${backend}`] = await cpu(() => e.handle({ method: 'POST', url: '/', headers: json, body: batchText }));
    await e.close(); e = await fresh(); const b1 = JSON.parse(batchText);
    out[`batch.typed.${backend}`] = await cpu(() => e.batch(b1));
    await e.close(); e = await fresh();
    out[`transaction.handle.${backend}`] = await cpu(() => e.handle({ method: 'POST', url: '/', headers: json, body: txText }));
    await e.close(); e = await fresh(); const t1 = JSON.parse(txText);
    out[`transaction.typed.${backend}`] = await cpu(() => e.transaction(t1));
    await e.close();
    return out;
  };
}
const coreCase: Case = async (v) => {
  const out: Record<string, number> = {};
  const e = new v.Engine({ storage: v.mem() });
  const ids: string[] = [];
  out['core.create'] = await cpu(async () => { for (const b of pbodies) ids.push((await e.handle({ method: 'POST', url: '/Patient', headers: json, body: b })).headers.location!.split('/')[2]!); });
  out['core.read'] = await cpu(async () => { for (const id of ids) await e.handle({ method: 'GET', url: `/Patient/${id}` }); });
  const upd = ids.map((id, i) => JSON.stringify({ ...patient(i), id, active: false }));
  out['core.update'] = await cpu(async () => { for (let i = 0; i < N; i++) await e.handle({ method: 'PUT', url: `/Patient/${ids[i]}`, headers: json, body: upd[i]! }); });
  out['core.history'] = await cpu(async () => { for (const id of ids) await e.handle({ method: 'GET', url: `/Patient/${id}/_history` }); });
  out['core.conditional-create'] = await cpu(async () => { for (let i = 0; i < N; i++) { const n = i % 2 ? i : N + i; await e.handle({ method: 'POST', url: '/Patient', headers: { ...json, 'if-none-exist': `identifier=http://hospital.example/mrn|MRN${n}` }, body: JSON.stringify(patient(n)) }); } });
  out['core.search.identifier'] = await cpu(async () => { for (let i = 0; i < N; i++) await e.handle({ method: 'GET', url: `/Patient?identifier=http://hospital.example/mrn|MRN${i}` }); });
  out['core.delete'] = await cpu(async () => { for (const id of ids) await e.handle({ method: 'DELETE', url: `/Patient/${id}` }); });
  await e.close();
  return out;
};
const cases = which === 'core' ? { core: coreCase } : bundleCases;
const samples: Record<string, Record<string, number[]>> = { before: {}, after: {} };
for (let r = 0; r < ROUNDS + 2; r++) {
  const order = Object.entries(variants) as [keyof typeof variants, any][];
  // Alternate which variant goes first, so that neither profits from running warmer or later.
  for (const [name, v] of r % 2 ? order.reverse() : order) {
    for (const c of Object.values(cases)) {
      const out = await c(v);
      if (r < 2) continue; // warm-up rounds
      for (const [k, ms] of Object.entries(out)) (samples[name]![k] ??= []).push(ms);
    }
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
for (const k of Object.keys(samples.after!)) {
  const b = samples.before![k]!, a = samples.after![k]!;
  const perSec = (ms: number) => Math.round((N / ms) * 1000);
  console.log(JSON.stringify({ case: k, n: N, rounds: ROUNDS, beforePerSecMedian: perSec(med(b)), afterPerSecMedian: perSec(med(a)), ratioMedian: Number((med(b) / med(a)).toFixed(2)), beforePerSecBest: perSec(Math.min(...b)), afterPerSecBest: perSec(Math.min(...a)), ratioBest: Number((Math.min(...b) / Math.min(...a)).toFixed(2)) }));
}
for (const name of ['before', 'after'] as const) for (const backend of ['memory', 'sqlite']) {
  const s = samples[name]![`single.handle.${backend}`], bt = samples[name]![`batch.handle.${backend}`];
  if (s && bt) console.log(JSON.stringify({ case: `batch-vs-single.${backend}`, variant: name, ratioMedian: Number((med(s) / med(bt)).toFixed(2)), ratioBest: Number((Math.min(...s) / Math.min(...bt)).toFixed(2)) }));
}
