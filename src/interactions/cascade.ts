/**
 * What a delete takes with it: the resources `_include` / `_revinclude` add to the matches of a
 * conditional delete or a `$bulk-delete`, deleted in the same mode; and, for `_remove-references`
 * (Microsoft's service, reference §7.1), the references to a hard-deleted resource rewritten away.
 * @packageDocumentation
 */
import type { Resource } from '../resource/resource.js';
import { collectIncludes, type IncludeContext, type IncludeOptions, type IncludeSource, type IncludeSpecs } from '../search/include.js';
import { parseReference } from '../search/normalize.js';
import type { ResourceKey, StorageReader, StorageTx, StoredVersion } from '../storage/storage-adapter.js';
import type { EngineContext } from './context.js';
import { commitVersion, resourceOf } from './write.js';

/** How a resource is deleted: a tombstone version, every version removed, or the history removed. */
export type DeleteMode = 'soft' | 'hard' | 'purge-history';

/** What `_remove-references` leaves of a reference to a deleted resource (Microsoft's wording). */
export const REFERENCE_REMOVED = 'Referenced resource deleted';

export const keyOf = (k: ResourceKey): string => `${k.type}/${k.id}`;

/** Includes resolved one read at a time on `reader` (a unit of work: its reads are sequential anyway). */
export function includeContext(ctx: EngineContext, reader: StorageReader): IncludeContext {
  return { reader, baseUrl: ctx.baseUrl, limit: (fn) => fn(), registry: ctx.registry, extractor: ctx.extractor };
}

/** The matches as include sources (their JSON parsed when `_include` needs it). */
export function includeSources(matches: readonly StoredVersion[], specs: IncludeSpecs): IncludeSource[] {
  const parse = specs.include.length > 0;
  return matches.map((m) => (parse && m.json !== undefined ? { hit: m, resource: resourceOf(m) } : { hit: m }));
}

/** The resources `specs` add to `matches` (see `collectIncludes`), read in `tx`. */
export function includesOf(
  ctx: EngineContext,
  tx: StorageReader,
  specs: IncludeSpecs,
  matches: readonly StoredVersion[],
  options: IncludeOptions,
): ReturnType<typeof collectIncludes> {
  return collectIncludes(includeContext(ctx, tx), specs, includeSources(matches, specs), options);
}

/** Every current resource that refers to one of `targets`, through any reference parameter. */
export const REFERRERS: IncludeSpecs = { include: [], revinclude: [{ sourceType: '*', param: '*' }] };

/**
 * Deletes the current version of a resource in `mode`; returns 1 when it counts as deleted, 0 when
 * there was nothing to delete (already deleted, gone meanwhile). A purge of the history counts
 * every resource it is applied to, as Microsoft's service does.
 */
export async function deleteCurrent(ctx: EngineContext, tx: StorageTx, current: StoredVersion, mode: DeleteMode): Promise<number> {
  switch (mode) {
    case 'soft':
      if (current.deleted) return 0;
      await commitVersion(ctx, tx, { type: current.type, id: current.id, resource: { resourceType: current.type }, previous: current, method: 'DELETE', deleted: true });
      return 1;
    case 'hard':
      return (await tx.purge(current, 'none')) > 0 ? 1 : 0;
    case 'purge-history':
      await tx.purge(current, 'current');
      return 1;
  }
}

/**
 * `resource` with every reference to one of `removed` (`Type/id`; relative, or absolute below
 * `baseUrl`) replaced by `{ display: "Referenced resource deleted" }`, anywhere in it; undefined
 * when it refers to none of them.
 */
export function withoutReferencesTo(
  resource: Resource,
  removed: ReadonlySet<string>,
  baseUrl: string,
  isResourceType: (t: string) => boolean,
): Resource | undefined {
  let changed = false;
  const local = (ref: string): string | undefined => {
    const parsed = parseReference(ref, isResourceType);
    if (!parsed || parsed.targetType === null || parsed.targetId === null) return undefined;
    if (parsed.url !== null && !(baseUrl && parsed.url.startsWith(`${baseUrl}/`))) return undefined;
    return `${parsed.targetType}/${parsed.targetId}`;
  };
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (typeof value !== 'object' || value === null) return value;
    const obj = value as Record<string, unknown>;
    if (typeof obj.reference === 'string') {
      const key = local(obj.reference);
      if (key !== undefined && removed.has(key)) {
        changed = true;
        return { display: REFERENCE_REMOVED };
      }
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) out[k] = walk(v);
    return out;
  };
  const rewritten = walk(resource) as Resource;
  return changed ? rewritten : undefined;
}

/**
 * Writes a new version of `referrer` without its references to `removed`; false (nothing written)
 * when it has none.
 */
export async function removeReferences(ctx: EngineContext, tx: StorageTx, referrer: StoredVersion, removed: ReadonlySet<string>): Promise<boolean> {
  const rewritten = withoutReferencesTo(resourceOf(referrer), removed, ctx.baseUrl, (t) => ctx.registry.resourceTypes.has(t));
  if (!rewritten) return false;
  await commitVersion(ctx, tx, { type: referrer.type, id: referrer.id, resource: rewritten, previous: referrer, method: 'PUT' });
  return true;
}
