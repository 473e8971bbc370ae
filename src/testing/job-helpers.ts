import { fixedClock, sequentialIds } from '../clock.js';
import { FhirEngine, type FhirEngineOptions } from '../engine.js';
import type { FhirHttpResponse } from '../http/handle.js';
import type { Resource } from '../resource/resource.js';
import { RuntimeStorage } from '../storage/runtime-storage.js';
import type { ResourceKey, StorageAdapter, StorageTx, VersionWrite } from '../storage/storage-adapter.js';

export const TAG = { system: 'http://example.org/tags', code: 'T' };

export function makeEngine(options: Partial<FhirEngineOptions> & { chunkSize?: number; storage: StorageAdapter }): FhirEngine {
  const { chunkSize, ...rest } = options;
  return new FhirEngine({
    clock: fixedClock('2026-01-01T00:00:00Z', 1000),
    ids: sequentialIds(),
    ...rest,
    limits: { ...(chunkSize !== undefined && { bulkDeleteChunkSize: chunkSize }), ...rest.limits },
  });
}

export async function seed(engine: FhirEngine, type: string, n: number, tagged = true, extra: Partial<Resource> = {}): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { resource } = await engine.create({ resourceType: type, ...(tagged && { meta: { tag: [TAG] } }), ...extra });
    ids.push(resource.id!);
  }
  return ids;
}

export const kickOff = (engine: FhirEngine, path: string, headers: Record<string, string> = { prefer: 'respond-async' }) =>
  engine.handle({ method: 'DELETE', url: path, headers });

export const jobIdOf = (res: FhirHttpResponse): string => {
  const loc = res.headers['content-location'];
  if (!loc) throw new Error(`no content-location (status ${res.status}: ${res.body ?? ''})`);
  return loc.split('/').pop()!;
};

export const body = (res: FhirHttpResponse): Record<string, unknown> => JSON.parse(res.body ?? '{}') as Record<string, unknown>;

/** ResourceDeletedCount parts of a status Parameters body, as a record. */
export function countsOf(res: FhirHttpResponse): Record<string, number> {
  const params = body(res) as { parameter?: { name: string; part?: { name: string; valueDecimal: number }[] }[] };
  const counts: Record<string, number> = {};
  for (const p of params.parameter?.find((x) => x.name === 'ResourceDeletedCount')?.part ?? []) counts[p.name] = p.valueDecimal;
  return counts;
}

export const status = (engine: FhirEngine, id: string) => engine.handle({ method: 'GET', url: `/_operations/bulk-delete/${id}` });

/** Runs a system- or type-level bulk delete over HTTP to completion; returns the final status response. */
export async function runHttp(engine: FhirEngine, path: string): Promise<FhirHttpResponse> {
  const res = await kickOff(engine, path);
  if (res.status !== 202) throw new Error(`kick-off ${res.status}: ${res.body ?? ''}`);
  const id = jobIdOf(res);
  await engine.jobs.settled(id);
  return status(engine, id);
}

/**
 * `storage` with a gate on units of work: after `hold()`, every `transact` waits until `release()`.
 * Jobs then stay exactly where they are, whatever the adapter's speed (no timing in the test).
 * The gate stands in front of the adapter's runtime: a unit held there has not taken its turn yet, so
 * it holds no other unit or outside read back (a serial adapter's queue would).
 */
export function gated(storage: StorageAdapter): { storage: StorageAdapter; hold(): void; release(): void } {
  let gate: Promise<void> | undefined;
  let open: () => void = () => undefined;
  const wrapped = new Proxy(RuntimeStorage.of(storage), {
    get(target, prop) {
      if (prop === 'transact') {
        return <T>(work: Parameters<StorageAdapter['transact']>[0]) =>
          gate ? gate.then(() => target.transact(work as never) as Promise<T>) : (target.transact(work as never) as Promise<T>);
      }
      return passThrough(target, prop);
    },
  });
  return {
    storage: wrapped,
    hold: () => {
      gate ??= new Promise<void>((resolve) => (open = resolve));
    },
    release: () => {
      gate = undefined;
      open();
    },
  };
}

/**
 * `storage` whose units wait for `until` before writing a resource `held(type)` says to hold.
 * Only for concurrent adapters: on a serial one, a unit waiting inside would block every other unit.
 */
export function holdWrites(storage: StorageAdapter, held: (type: string) => boolean, until: Promise<void>): StorageAdapter {
  const hold = <R>(type: string, write: () => Promise<R>): Promise<R> =>
    held(type) ? until.then(write) : write();
  return overrideTx(storage, (tx) => ({
    writeVersion: (w: VersionWrite) => hold(w.type, () => tx.writeVersion(w)),
    purge: (key: ResourceKey, keep: 'none' | 'current') => hold(key.type, () => tx.purge(key, keep)),
  }));
}

/** What a proxy passes through: the target's value, its methods bound to the target. */
export function passThrough(target: object, prop: string | symbol): unknown {
  const value = Reflect.get(target, prop, target) as unknown;
  return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
}

/**
 * `storage` whose units of work see the methods `override(tx)` gives in place of the tx's own;
 * everything else passes through. The adapter's one-statement `writeVersion` (concurrent adapters'
 * plain create) is hidden, so that every write goes through a unit and meets the override.
 */
export function overrideTx<S extends StorageAdapter>(storage: S, override: (tx: StorageTx) => Partial<StorageTx>): S {
  return new Proxy(storage, {
    get(target, prop) {
      if (prop === 'writeVersion') return undefined;
      if (prop !== 'transact') return passThrough(target, prop);
      return <T>(work: (tx: StorageTx) => Promise<T>) =>
        target.transact((tx) => {
          const own = override(tx) as Record<string | symbol, unknown>;
          return work(new Proxy(tx, { get: (t, p) => (Object.hasOwn(own, p) ? own[p] : passThrough(t, p)) }));
        });
    },
  });
}

/**
 * `storage` (an engine's runtime, which the crashing engine then shares) whose `unit`th unit of work
 * does its work and then "dies" before committing: `onCrash` runs (stop the runner there: the process
 * is gone, no failure is recorded) and the unit rolls back.
 */
export function crashingAtUnit<S extends StorageAdapter>(storage: S, unit: number, onCrash: () => void): S {
  let units = 0;
  return new Proxy(storage, {
    get(target, prop) {
      if (prop === 'transact') {
        return <T>(work: (tx: StorageTx) => Promise<T>) =>
          target.transact(async (tx) => {
            const result = await work(tx);
            if (++units === unit) {
              onCrash();
              throw new Error('crash');
            }
            return result;
          });
      }
      return passThrough(target, prop);
    },
  });
}
