/**
 * Storage conflicts at the edge of every interaction: a transient conflict (a deadlock or a
 * serialization failure, which a concurrent adapter reports from any statement of a unit) is a 409
 * `transient` that changed nothing, never a 500, and never the 412 of a version that did not match.
 */
import { describe, expect, it } from 'vitest';

import { MemoryAdapter } from '../../adapters/memory/index.js';
import { fixedClock, sequentialIds } from '../../src/clock.js';
import { FhirEngine } from '../../src/engine.js';
import { FhirError } from '../../src/errors.js';
import {
  StorageConflictError,
  type StorageAdapter,
  type StorageCapabilities,
  type StorageTx,
} from '../../src/storage/storage-adapter.js';

type TxMethod = 'lock' | 'readCurrent' | 'search' | 'writeVersion';

/** Passes everything to a MemoryAdapter; once armed, the next call of one tx method throws a conflict. */
class ConflictingAdapter implements StorageAdapter {
  readonly name = 'conflicting';
  readonly inner = new MemoryAdapter();
  readonly capabilities: StorageCapabilities = this.inner.capabilities;
  #armed: { method: TxMethod; transient: boolean } | undefined;
  /** Conflicts thrown so far. */
  thrown = 0;

  arm(method: TxMethod, transient = true): void {
    this.#armed = { method, transient };
  }

  transact<T>(work: (tx: StorageTx) => Promise<T>): Promise<T> {
    return this.inner.transact((tx) =>
      work(
        new Proxy(tx, {
          get: (target, key) => {
            const value = Reflect.get(target, key, target) as unknown;
            if (typeof value !== 'function') return value;
            return (...args: unknown[]) => {
              const armed = this.#armed;
              if (armed && armed.method === key) {
                this.#armed = undefined;
                this.thrown++;
                return Promise.reject(
                  armed.transient
                    ? new StorageConflictError('deadlock detected', { transient: true })
                    : new StorageConflictError('Patient/p1 was expected at version 1.'),
                );
              }
              return (value as (...a: unknown[]) => unknown).apply(target, args);
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

const json = { 'content-type': 'application/fhir+json' };
const patient = (family: string, id?: string) => ({ resourceType: 'Patient', ...(id && { id }), name: [{ family }], identifier: [{ system: 'urn:s', value: family }] });

function setup(): { engine: FhirEngine; storage: ConflictingAdapter; unexpected: unknown[] } {
  const storage = new ConflictingAdapter();
  const unexpected: unknown[] = [];
  const engine = new FhirEngine({ storage, clock: fixedClock('2026-01-01T00:00:00Z', 1000), ids: sequentialIds(), onError: (e) => unexpected.push(e) });
  return { engine, storage, unexpected };
}

const issueOf = (body: unknown) => (JSON.parse(String(body)) as { issue: { code: string; diagnostics: string }[] }).issue[0]!;

describe('a transient storage conflict is a 409 for every interaction', () => {
  it('in lock() of a conditional create: 409 transient, nothing stored, nothing reported as unexpected', async () => {
    const { engine, storage, unexpected } = setup();
    storage.arm('lock');
    const res = await engine.handle({ method: 'POST', url: '/Patient', headers: { ...json, 'if-none-exist': 'identifier=urn:s|a' }, body: patient('a') });
    expect(res.status).toBe(409);
    expect(issueOf(res.body)).toMatchObject({ code: 'transient', diagnostics: expect.stringContaining('Retry') });
    expect(storage.thrown).toBe(1);
    expect(unexpected).toEqual([]);
    expect((await engine.search('Patient', '_summary=count')).total).toBe(0);
    // Sent again, it succeeds.
    const again = await engine.handle({ method: 'POST', url: '/Patient', headers: { ...json, 'if-none-exist': 'identifier=urn:s|a' }, body: patient('a') });
    expect(again.status).toBe(201);
  });

  it('in a read inside a unit (PATCH reads the current version there): 409, the resource unchanged', async () => {
    const { engine, storage } = setup();
    const { resource } = await engine.create(patient('a'));
    storage.arm('readCurrent');
    const res = await engine.handle({
      method: 'PATCH',
      url: `/Patient/${resource.id}`,
      headers: { 'content-type': 'application/json-patch+json' },
      body: [{ op: 'replace', path: '/name/0/family', value: 'b' }],
    });
    expect(res.status).toBe(409);
    expect(issueOf(res.body).code).toBe('transient');
    expect((await engine.read('Patient', resource.id)).meta?.versionId).toBe('1');
  });

  it('a deadlock under If-Match is a 409, not the 412 of a version that did not match; a failed expectation still is a 412', async () => {
    const { engine, storage } = setup();
    const { resource } = await engine.create(patient('a'));
    const put = () => engine.handle({ method: 'PUT', url: `/Patient/${resource.id}`, headers: { ...json, 'if-match': 'W/"1"' }, body: patient('b', resource.id) });

    storage.arm('writeVersion', true);
    const deadlocked = await put();
    expect(deadlocked.status).toBe(409);
    expect(issueOf(deadlocked.body).code).toBe('transient');

    storage.arm('writeVersion', false);
    const lost = await put();
    expect(lost.status).toBe(412);
    expect(issueOf(lost.body).code).toBe('conflict');

    expect((await put()).status).toBe(200);
  });

  it('in a search inside a conditional update: 409', async () => {
    const { engine, storage } = setup();
    storage.arm('search');
    const res = await engine.handle({ method: 'PUT', url: '/Patient?identifier=urn:s|a', headers: json, body: patient('a') });
    expect(res.status).toBe(409);
    expect((await engine.search('Patient', '_summary=count')).total).toBe(0);
  });

  it('through the typed API: a FhirError 409', async () => {
    const { engine, storage } = setup();
    storage.arm('lock');
    const error = await engine.create(patient('a'), { ifNoneExist: 'identifier=urn:s|a' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FhirError);
    expect((error as FhirError).status).toBe(409);
    expect((error as FhirError).issues[0]!.code).toBe('transient');
  });

  it('in a transaction bundle: the bundle fails with 409 and writes nothing; in a batch only that entry is a 409', async () => {
    const { engine, storage } = setup();
    const entries = [
      { resource: patient('a'), request: { method: 'POST', url: 'Patient' } },
      { resource: patient('b'), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:s|b' } },
    ];
    storage.arm('lock');
    const tx = await engine.handle({ method: 'POST', url: '/', headers: json, body: { resourceType: 'Bundle', type: 'transaction', entry: entries } });
    expect(tx.status).toBe(409);
    expect((await engine.search('Patient', '_summary=count')).total).toBe(0);

    storage.arm('lock');
    const batch = await engine.handle({ method: 'POST', url: '/', headers: json, body: { resourceType: 'Bundle', type: 'batch', entry: entries } });
    expect(batch.status).toBe(200);
    const statuses = (JSON.parse(String(batch.body)) as { entry: { response: { status: string } }[] }).entry.map((e) => e.response.status);
    expect(statuses).toEqual(['201 Created', '409 Conflict']);
  });
});
