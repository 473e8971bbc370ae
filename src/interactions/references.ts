import { badRequest } from '../errors.js';
import type { Resource } from '../resource/resource.js';
import type { StorageReader } from '../storage/storage-adapter.js';
import type { EngineContext } from './context.js';
import { criteriaOf } from './request.js';

/** `Type?criteria`: a conditional reference (FHIR http.html §3.1.0.8.1, transactions; Azure resolves it on every write). */
const CONDITIONAL_REFERENCE = /^([A-Z][A-Za-z]+)\?(.+)$/;

/** Calls `visit` on every object that has a string `reference`, depth first. */
export function forEachReference(value: unknown, visit: (holder: { reference: string }) => void): void {
  if (Array.isArray(value)) {
    for (const item of value) forEachReference(item, visit);
  } else if (typeof value === 'object' && value !== null) {
    const holder = value as Record<string, unknown>;
    if (typeof holder.reference === 'string') visit(holder as { reference: string });
    for (const key in holder) {
      const child = holder[key];
      if (typeof child === 'object' && child !== null) forEachReference(child, visit);
    }
  }
}

/** True when `value` holds a conditional reference anywhere. */
function hasConditionalReference(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some(hasConditionalReference);
  const holder = value as Record<string, unknown>;
  if (typeof holder.reference === 'string' && CONDITIONAL_REFERENCE.test(holder.reference)) return true;
  for (const key in holder) if (hasConditionalReference(holder[key])) return true;
  return false;
}

/**
 * Replaces every conditional reference (`Patient?identifier=x|1`) in `resource` by the `Type/id` of
 * the one resource it matches. No match or several → 400. Returns `resource` itself, synchronously,
 * when it has none (as nearly every write).
 */
export function resolveConditionalReferences(
  ctx: EngineContext,
  reader: StorageReader,
  resource: Resource,
): Resource | Promise<Resource> {
  return hasConditionalReference(resource) ? resolveInCopy(ctx, reader, resource) : resource;
}

async function resolveInCopy(ctx: EngineContext, reader: StorageReader, resource: Resource): Promise<Resource> {
  const copy = structuredClone(resource);
  const holders: { reference: string }[] = [];
  forEachReference(copy, (holder) => {
    if (CONDITIONAL_REFERENCE.test(holder.reference)) holders.push(holder);
  });
  for (const holder of holders) {
    const [, type, query] = CONDITIONAL_REFERENCE.exec(holder.reference)!;
    if (!ctx.registry.resourceTypes.has(type!)) {
      throw badRequest(`Resource type '${type}' in the reference '${holder.reference}' is not supported.`);
    }
    const found = await ctx.search.findMatches(reader, type!, criteriaOf(query!), { limit: 2 });
    if (!found.selective || found.hits.length === 0) {
      throw badRequest(`Given conditional reference '${holder.reference}' does not resolve to a resource.`);
    }
    if (found.hits.length > 1) {
      throw badRequest(`Given conditional reference '${holder.reference}' resolved to multiple resources.`);
    }
    holder.reference = `${type}/${found.hits[0]!.id}`;
  }
  return copy;
}
