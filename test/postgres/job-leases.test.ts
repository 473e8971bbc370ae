/**
 * Jobs across engine instances on one PostgreSQL database (issue 14): a bulk delete of 5,000
 * Patients submitted on instance A, a child process killed with SIGKILL mid-job, is finished by
 * instance B once A's lease has expired, with exact counts; and instances poll and cancel each
 * other's jobs. Lease expiry is reached by giving the instance that takes over a clock ahead of
 * the wall clock, never by waiting.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PostgresAdapter } from '../../adapters/postgres/index.js';
import type { Clock } from '../../src/clock.js';
import { FhirEngine } from '../../src/engine.js';
import { InProcessJobRunner } from '../../src/jobs/index.js';
import type { StorageTx } from '../../src/storage/storage-adapter.js';
import { countsOf, status, TAG } from '../../src/testing/job-helpers.js';
import { bundleForNode } from '../support/bundle.js';
import { pgUrl, schemaNames } from './support.js';

const nextSchema = schemaNames('leases');
const engines: FhirEngine[] = [];
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

/** The wall clock moved by `ms`. */
const ahead = (ms: number): Clock => ({ now: () => new Date(Date.now() + ms) });

async function instance(schema: string, instanceId: string, options: { clock?: Clock; chunk?: number; pollIntervalMs?: number; gate?: Gate } = {}) {
  const adapter = await PostgresAdapter.open({ connectionString: pgUrl(), schema, max: 4 });
  const runner = new InProcessJobRunner({ instanceId, pollIntervalMs: options.pollIntervalMs ?? 0 });
  const engine = new FhirEngine({
    storage: options.gate ? options.gate.wrap(adapter) : adapter,
    jobs: runner,
    ...(options.clock && { clock: options.clock }),
    limits: { bulkDeleteChunkSize: options.chunk ?? 500 },
  });
  engines.push(engine);
  return { engine, runner };
}

/** Holds the units of work of one engine, once armed, before they start; `release()` lets them go. */
class Gate {
  #gate: Promise<void> | undefined;
  #open: () => void = () => undefined;
  #held: () => void = () => undefined;

  wrap(adapter: PostgresAdapter): PostgresAdapter {
    return new Proxy(adapter, {
      get: (target, key) => {
        const value = Reflect.get(target, key, target) as unknown;
        if (key !== 'transact') return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        return <T>(work: (tx: StorageTx) => Promise<T>) => {
          const gate = this.#gate;
          if (!gate) return target.transact(work);
          this.#held();
          return gate.then(() => target.transact(work));
        };
      },
    });
  }

  /** Holds the next units; resolves once one is held. */
  hold(): Promise<void> {
    this.#gate = new Promise<void>((resolve) => (this.#open = resolve));
    return new Promise<void>((resolve) => (this.#held = resolve));
  }

  release(): void {
    this.#gate = undefined;
    this.#open();
  }
}

/** Creates `n` resources through transaction bundles of up to 1,000 entries. */
async function load(engine: FhirEngine, n: number, resource: (i: number) => Record<string, unknown>): Promise<void> {
  for (let from = 0; from < n; from += 1000) {
    const entry = Array.from({ length: Math.min(1000, n - from) }, (_, k) => ({
      resource: resource(from + k),
      request: { method: 'POST', url: String(resource(from + k).resourceType) },
    }));
    const res = await engine.handle({ method: 'POST', url: '/', headers: { 'content-type': 'application/fhir+json' }, body: { resourceType: 'Bundle', type: 'transaction', entry } });
    expect(res.status).toBe(200);
  }
}

/** Versions of a type in history: deletes, and the most versions any one resource has. */
async function historyOf(engine: FhirEngine, type: string): Promise<{ versions: number; deletes: number; maxPerResource: number }> {
  const { items } = await engine.storage.readHistory({ level: 'type', type }, { count: 1_000_000 });
  const perId = new Map<string, number>();
  for (const v of items) perId.set(v.id, (perId.get(v.id) ?? 0) + 1);
  return { versions: items.length, deletes: items.filter((v) => v.method === 'DELETE').length, maxPerResource: Math.max(0, ...perId.values()) };
}

const total = async (engine: FhirEngine, query: string): Promise<number> => (await engine.search(query.split('?')[0]!, `${query.split('?')[1] ?? ''}&_summary=count`)).total!;

describe('a bulk delete survives the death of the instance that ran it', () => {
  const N = 5000;
  let child: string;
  beforeAll(async () => {
    child = await bundleForNode('test/postgres/instances/job-child.ts');
  });
  afterAll(() => rmSync(dirname(child), { recursive: true, force: true }));

  it('5,000 Patients: A (a child process) is killed with SIGKILL mid-job; B finishes it once A\'s lease expired; counts exact, nothing else touched', async () => {
    const schema = nextSchema();
    const { engine: b, runner: runnerB } = await instance(schema, 'b');
    await load(b, N, () => ({ resourceType: 'Patient', meta: { tag: [TAG] } }));
    await load(b, 50, (i) => ({ resourceType: 'Patient', name: [{ family: `keep-${i}` }] }));
    await load(b, 20, () => ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, meta: { tag: [TAG] } }));

    const LEASE_MS = 60_000;
    const lines: { id?: string; chunks?: number; processed?: number; finished?: boolean }[] = [];
    const exit = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
      const proc = spawn(process.execPath, [child], {
        env: { ...process.env, FHIR_TEST_PG_URL: pgUrl(), FHIR_TEST_PG_SCHEMA: schema, FHIR_TEST_CHUNK: '100', FHIR_TEST_LEASE_MS: String(LEASE_MS) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      let buffer = '';
      let killed = false;
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      proc.stdout.on('data', (d: Buffer) => {
        buffer += d.toString();
        for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
          const line = JSON.parse(buffer.slice(0, nl)) as (typeof lines)[number];
          buffer = buffer.slice(nl + 1);
          lines.push(line);
          if ((line.chunks ?? 0) >= 5 && !killed) {
            killed = true;
            proc.kill('SIGKILL');
          }
        }
      });
      proc.on('error', reject);
      proc.on('exit', (code, signal) => (signal === null ? reject(new Error(`child exited with ${code}: ${stderr}`)) : resolve(signal)));
    });
    expect(exit).toBe('SIGKILL');
    expect(lines.some((l) => l.finished)).toBe(false);
    const id = lines[0]!.id!;

    // Killed mid-job: its last committed chunk, and the lease of the dead instance, are in the record.
    const killed = (await b.storage.readJob(id))!;
    expect(killed).toMatchObject({ status: 'running', lease: { owner: 'child' } });
    expect(killed.progress.chunks).toBeGreaterThanOrEqual(5);
    expect(killed.progress.chunks).toBeLessThan(N / 100);
    expect(killed.progress.processed).toBe((await historyOf(b, 'Patient')).deletes);

    // B polls by the wall clock: the lease is live, B leaves the job alone (and a poll of its status works).
    await runnerB.tick();
    expect(runnerB.busy).toBe(false);
    expect((await b.storage.readJob(id))!.revision).toBe(killed.revision);
    const polled = await status(b, id);
    expect(polled.status).toBe(202);
    expect(countsOf(polled)).toEqual({ Patient: killed.progress.processed });

    // C's clock is past the lease: its first poll takes the job over and finishes it.
    const { engine: c, runner: runnerC } = await instance(schema, 'c', { clock: ahead(LEASE_MS + 1000) });
    await runnerC.tick();
    expect(runnerC.busy).toBe(true);
    const done = await c.jobs.settled(id);
    expect(done.status).toBe('completed');
    expect(done.progress.processed).toBe(N);
    expect(done.progress.byType).toEqual({ Patient: N });
    expect(done.lease).toBeUndefined();

    // B hears of the end at its next poll, and reports the exact counts.
    const seenByB = b.jobs.settled(id);
    await runnerB.tick();
    expect((await seenByB).status).toBe('completed');
    const final = await status(b, id);
    expect(final.status).toBe(200);
    expect(countsOf(final)).toEqual({ Patient: N });

    expect(await total(b, `Patient?_tag=${TAG.system}|${TAG.code}`)).toBe(0);
    expect(await total(b, 'Patient')).toBe(50);
    expect(await historyOf(b, 'Patient')).toEqual({ versions: 2 * N + 50, deletes: N, maxPerResource: 2 });
    expect(await historyOf(b, 'Observation')).toMatchObject({ versions: 20, deletes: 0 });
  }, 180_000);
});

describe('instances poll and cancel each other\'s jobs', () => {
  it('B polls the status of a job A runs and cancels it; A stops at its next chunk; B\'s settled() hears of it through its poll timer', async () => {
    const schema = nextSchema();
    const gate = new Gate();
    const { engine: a } = await instance(schema, 'a', { chunk: 10, gate });
    await load(a, 100, () => ({ resourceType: 'Patient', meta: { tag: [TAG] } }));

    const twoChunks = new Promise<void>((resolve) => {
      const off = a.jobs.on('progress', (job) => {
        if (job.progress.chunks !== 2) return;
        off();
        void gate.hold().then(resolve);
      });
    });
    const kickOff = await a.handle({ method: 'DELETE', url: '/Patient/$bulk-delete', headers: { prefer: 'respond-async' } });
    expect(kickOff.status).toBe(202);
    const id = kickOff.headers['content-location']!.split('/').pop()!;
    await twoChunks; // A holds the job (a live lease) and waits before its third chunk

    // B's runner starts with this poll (and its timer with it); A's lease is live, so B does not claim the job.
    const { engine: b, runner: runnerB } = await instance(schema, 'b', { pollIntervalMs: 20 });
    const polled = await status(b, id);
    expect(polled.status).toBe(202);
    expect(countsOf(polled)).toEqual({ Patient: 20 });
    expect(runnerB.busy).toBe(false);

    const settledOnB = b.jobs.settled(id);
    const cancel = await b.handle({ method: 'DELETE', url: `/_operations/bulk-delete/${id}` });
    expect(cancel.status).toBe(202);
    expect((await b.storage.readJob(id))!).toMatchObject({ status: 'running', cancelRequested: true, lease: { owner: 'a' } });

    gate.release();
    const cancelled = await settledOnB; // no tick: B's poll timer finds the end
    expect(cancelled).toMatchObject({ status: 'cancelled', progress: { processed: 20 } });
    expect(runnerB.busy).toBe(false);
    const final = await status(b, id);
    expect(final.status).toBe(200);
    expect(countsOf(final)).toEqual({ Patient: 20 });
    expect(await total(b, 'Patient')).toBe(80);
    // A's own view agrees; a second cancel, from either instance, is a 409.
    expect((await a.jobs.settled(id)).status).toBe('cancelled');
    expect((await a.handle({ method: 'DELETE', url: `/_operations/bulk-delete/${id}` })).status).toBe(409);
  });
});
