/**
 * Several engine instances on one PostgreSQL database, each with its own pool: two in this process,
 * two in child processes. Jobs across instances (leases, SIGKILL) are in `job-leases.test.ts`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PostgresAdapter } from '../../adapters/postgres/index.js';
import { FhirEngine } from '../../src/engine.js';
import type { StorageAdapter, StorageTx } from '../../src/storage/storage-adapter.js';
import { COUNTER, ops, type Instance } from './instances/ops.js';
import { RemoteInstance } from './instances/remote.js';
import { pgUrl, schemaNames } from './support.js';

/**
 * Passes everything to `inner`, except that once armed, the unit of work that makes the `n`th
 * version write holds still right after it (until released), so that other instances can look.
 */
class GatedStorage implements StorageAdapter {
  readonly name = 'gated';
  readonly capabilities;
  #armed: { n: number; reached: () => void; release: Promise<void> } | undefined;

  constructor(readonly inner: PostgresAdapter) {
    this.capabilities = inner.capabilities;
  }

  /** Arms the gate; resolves `reached` when the unit has written `n` versions and waits. */
  arm(n: number): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const reachedP = new Promise<void>((r) => (reached = r));
    this.#armed = { n, reached, release: new Promise<void>((r) => (release = r)) };
    return { reached: reachedP, release };
  }

  transact<T>(work: (tx: StorageTx) => Promise<T>): Promise<T> {
    const gate = this.#armed;
    this.#armed = undefined;
    if (!gate) return this.inner.transact(work);
    let writes = 0;
    return this.inner.transact((tx) =>
      work(
        new Proxy(tx, {
          get: (target, key) => {
            const value = Reflect.get(target, key, target) as unknown;
            if (key !== 'writeVersion') return typeof value === 'function' ? value.bind(target) : value;
            return async (...args: Parameters<StorageTx['writeVersion']>) => {
              const seq = await target.writeVersion(...args);
              if (++writes === gate.n) {
                gate.reached();
                await gate.release;
              }
              return seq;
            };
          },
        }),
      ),
    );
  }

  readCurrent: StorageAdapter['readCurrent'] = (k) => this.inner.readCurrent(k);
  readVersion: StorageAdapter['readVersion'] = (k, v) => this.inner.readVersion(k, v);
  readHistory: StorageAdapter['readHistory'] = (s, p) => this.inner.readHistory(s, p);
  search: StorageAdapter['search'] = (q) => this.inner.search(q);
  readJob: StorageAdapter['readJob'] = (id) => this.inner.readJob(id);
  listUnfinishedJobs: StorageAdapter['listUnfinishedJobs'] = () => this.inner.listUnfinishedJobs();
  close = (): Promise<void> => this.inner.close();
}

const nextSchema = schemaNames('multi');
let gated: GatedStorage;
const engines: FhirEngine[] = [];
const remotes: RemoteInstance[] = [];
let instances: Instance[];

const local = (engine: FhirEngine): Instance => ({
  call: (op, ...args) => (ops[op] as (e: FhirEngine, ...a: unknown[]) => Promise<never>)(engine, ...args),
});

beforeAll(async () => {
  const schema = nextSchema();
  gated = new GatedStorage(await PostgresAdapter.open({ connectionString: pgUrl(), schema, max: 4 }));
  engines.push(new FhirEngine({ storage: gated }));
  engines.push(new FhirEngine({ storage: await PostgresAdapter.open({ connectionString: pgUrl(), schema, max: 4 }) }));
  remotes.push(new RemoteInstance(pgUrl(), schema), new RemoteInstance(pgUrl(), schema));
  await Promise.all(remotes.map((r) => r.ready));
  instances = [...engines.map(local), ...remotes];
}, 60_000);

afterAll(async () => {
  await Promise.all(remotes.map((r) => r.close()));
  await Promise.all(engines.map((e) => e.close()));
});

describe('4 engine instances (2 in this process, 2 in child processes) on one database', () => {
  it('lost-update check: 4 × 50 If-Match increments with retry on 412 end at exactly 200, with 201 versions', async () => {
    const engine = engines[0]!;
    const created = await engine.handle({
      method: 'POST',
      url: '/Patient',
      headers: { 'content-type': 'application/fhir+json' },
      body: { resourceType: 'Patient', extension: [{ url: COUNTER, valueInteger: 0 }] },
    });
    expect(created.status).toBe(201);
    const id = (JSON.parse(String(created.body)) as { id: string }).id;

    const results = await Promise.all(instances.map((i) => i.call('increment', id, 50)));

    const read = await engines[1]!.handle({ method: 'GET', url: `/Patient/${id}` });
    const patient = JSON.parse(String(read.body)) as { meta: { versionId: string }; extension: { valueInteger: number }[] };
    expect(patient.extension[0]!.valueInteger).toBe(200);
    expect(patient.meta.versionId).toBe('201');
    const history = await engines[1]!.handle({ method: 'GET', url: `/Patient/${id}/_history?_count=1000` });
    const versions = (JSON.parse(String(history.body)) as { entry: { resource: { meta: { versionId: string } } }[] }).entry;
    expect(versions).toHaveLength(201);
    expect(versions.map((e) => Number(e.resource.meta.versionId))).toEqual(Array.from({ length: 201 }, (_, n) => 201 - n));
    // The increments did race (otherwise this test proves nothing).
    expect(results.reduce((sum, r) => sum + r.retries, 0)).toBeGreaterThan(0);
  });

  it('20 racing conditional creates with one If-None-Exist across the instances make exactly one resource', async () => {
    const system = 'urn:test:race';
    const statuses = (await Promise.all(instances.map((i) => i.call('conditionalCreates', 5, system, 'r-1')))).flat();
    expect(statuses).toHaveLength(20);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(19);
    for (const i of instances) expect(await i.call('countBySystem', system)).toBe(1);
  });

  it('a transaction bundle failing on its last entry leaves nothing visible to the other instances, before, during or after', async () => {
    const system = 'urn:test:tx';
    const target = await engines[1]!.handle({
      method: 'POST',
      url: '/Observation',
      headers: { 'content-type': 'application/fhir+json' },
      body: { resourceType: 'Observation', status: 'final', code: { text: 'x' } },
    });
    const targetId = (JSON.parse(String(target.body)) as { id: string }).id;
    const creates = Array.from({ length: 5 }, (_, n) => ({
      fullUrl: `urn:uuid:00000000-0000-4000-8000-00000000000${n}`,
      resource: { resourceType: 'Patient', identifier: [{ system, value: `t-${n}` }] },
      request: { method: 'POST', url: 'Patient' },
    }));
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        ...creates,
        // Last: an update whose If-Match does not hold → 412, and the whole transaction fails.
        {
          fullUrl: `Observation/${targetId}`,
          resource: { resourceType: 'Observation', id: targetId, status: 'amended', code: { text: 'x' } },
          request: { method: 'PUT', url: `Observation/${targetId}`, ifMatch: 'W/"99"' },
        },
      ],
    };
    for (const i of instances) expect(await i.call('countBySystem', system)).toBe(0);

    const gate = gated.arm(creates.length);
    const response = engines[0]!.handle({ method: 'POST', url: '/', headers: { 'content-type': 'application/fhir+json' }, body: bundle });
    await gate.reached;
    // Every create of the bundle is written in its (open) unit of work: nobody else sees any of them.
    for (const i of instances.slice(1)) expect(await i.call('countBySystem', system)).toBe(0);
    gate.release();

    const result = await response;
    expect(result.status).toBe(412);
    for (const i of instances) expect(await i.call('countBySystem', system)).toBe(0);
    const observation = await engines[1]!.handle({ method: 'GET', url: `/Observation/${targetId}` });
    expect(JSON.parse(String(observation.body))).toMatchObject({ status: 'final', meta: { versionId: '1' } });
  });
});
