import { MemoryAdapter } from '../../adapters/memory/index.js';
import { sequentialIds } from '../../src/clock.js';
import { FhirEngine } from '../../src/engine.js';
import type { FhirHttpResponse } from '../../src/http/handle.js';
import { forEachReference } from '../../src/interactions/references.js';
import type { Resource } from '../../src/resource/resource.js';
import type { StorageAdapter } from '../../src/storage/storage-adapter.js';

export const newEngine = (storage: StorageAdapter = new MemoryAdapter(), sequential = false): FhirEngine =>
  new FhirEngine({ storage, ...(sequential && { ids: sequentialIds() }) });

/** POST / with a bundle through handle(). */
export async function post(engine: FhirEngine, bundle: unknown, headers: Record<string, string> = {}) {
  const res: FhirHttpResponse = await engine.handle({
    method: 'POST',
    url: '/',
    headers: { 'content-type': 'application/fhir+json', ...headers },
    body: JSON.stringify(bundle),
  });
  return { status: res.status, body: res.body === undefined ? undefined : (JSON.parse(res.body) as any) };
}

export const statuses = (bundle: { entry: { response: { status: string } }[] }): string[] =>
  bundle.entry.map((e) => e.response.status);

/**
 * Reads every `Type/id` reference of `resources` through the engine; returns the ones that fail.
 * Contained (`#x`) and absolute/external references are skipped.
 */
export async function unresolvedReferences(engine: FhirEngine, resources: Resource[]): Promise<string[]> {
  const refs = new Set<string>();
  for (const r of resources) {
    forEachReference(r, (h) => {
      if (/^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(h.reference)) refs.add(h.reference);
      else if (!h.reference.startsWith('#')) refs.add(`!${h.reference}`);
    });
  }
  const bad: string[] = [];
  for (const ref of refs) {
    if (ref.startsWith('!')) {
      bad.push(ref);
      continue;
    }
    const [type, id] = ref.split('/') as [string, string];
    try {
      await engine.read(type, id);
    } catch {
      bad.push(ref);
    }
  }
  return bad;
}
