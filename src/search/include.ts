/**
 * `_include` and `_revinclude`: the resources a searchset adds to its matches (search.html §3.1.1.5.4),
 * each at most once and never a match again. Deletes use the same sets (conditional delete and
 * `$bulk-delete` delete what the criteria include), so each included resource also names the first
 * match that brings it in.
 * @packageDocumentation
 */
import type { Resource } from '../resource/resource.js';
import type { ResourceKey, StoredVersion } from '../storage/stored-version.js';
import type { StorageReader } from '../storage/storage-adapter.js';
import type { IndexExtractor } from './extract.js';
import type { IncludeSpec } from './parse.js';
import type { SearchParameterRegistry } from './registry.js';

/** What includes are resolved with. */
export interface IncludeContext {
  readonly reader: StorageReader;
  /** The server base without a trailing slash: absolute references below it count as local. */
  readonly baseUrl: string;
  /** Runs a read under the search's concurrency limit. */
  readonly limit: <T>(fn: () => Promise<T>) => Promise<T>;
  readonly registry: SearchParameterRegistry;
  readonly extractor: IndexExtractor;
}

/** A matched resource. */
export interface IncludeSource {
  readonly hit: ResourceKey;
  /** Needed for `_include` (the references are read from it). */
  readonly resource?: Resource;
}

/** The include parameters of a search. */
export interface IncludeSpecs {
  readonly include: readonly IncludeSpec[];
  readonly revinclude: readonly IncludeSpec[];
}

/** A resource an include adds: its current version, and the position of the first match that brings it in. */
export interface Included {
  readonly version: StoredVersion;
  readonly owner: number;
}

/** Bounds of {@link collectIncludes}. */
export interface IncludeOptions {
  /** Most resources returned; when there are more, `complete` is false. */
  readonly limit: number;
  /** `Type/id` of resources never returned (the matches, and what the caller already has). */
  readonly skip?: ReadonlySet<string>;
  /** Types never returned. */
  readonly excludedTypes?: ReadonlySet<string>;
  /** Only resources whose current version has `seq <= maxSeq` (a bulk-delete job's snapshot). */
  readonly maxSeq?: number;
  /** Of resources about to be returned, the `Type/id` of those to leave out after all. */
  readonly exclude?: (versions: readonly StoredVersion[]) => Promise<ReadonlySet<string>>;
}

const keyOf = (k: ResourceKey): string => `${k.type}/${k.id}`;

/**
 * References OR-ed in one clause at most: an adapter may turn each into a term of one expression
 * (SQLite refuses expressions deeper than 1,000).
 */
export const REFERENCES_PER_QUERY = 100;

/** `list` in slices of `size`. */
export function slices<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** One reference parameter of one source type. */
interface ReferenceParam {
  readonly sourceType: string;
  readonly param: string;
}

const pairsCache = new WeakMap<SearchParameterRegistry, Map<string, readonly ReferenceParam[]>>();

/**
 * The reference parameters of `sourceType` (`*`: of every type) that may point to `targetType`: those
 * whose targets list it, or list none. What `_revinclude=*:*` and `Type:*` search.
 */
export function referenceParams(registry: SearchParameterRegistry, targetType: string, sourceType: string): readonly ReferenceParam[] {
  let cache = pairsCache.get(registry);
  if (!cache) pairsCache.set(registry, (cache = new Map()));
  const key = `${sourceType}\u0000${targetType}`;
  let pairs = cache.get(key);
  if (!pairs) {
    const found: ReferenceParam[] = [];
    for (const type of sourceType === '*' ? [...registry.resourceTypes].sort() : [sourceType]) {
      for (const def of registry.forType(type).values()) {
        if (def.type === 'reference' && def.expression && (!def.target || def.target.includes(targetType))) found.push({ sourceType: type, param: def.code });
      }
    }
    cache.set(key, (pairs = found));
  }
  return pairs;
}

/**
 * The current resources `specs` add to `matches`, in the order of the match that first brings each
 * in: `_include` follows the matches' references of each spec's parameter (`*`: every reference
 * parameter of the source type) to their targets, optionally of one type, external ones skipped;
 * `_revinclude` finds the resources of each spec's source type (`*`: every type) whose parameter
 * (`*`: every reference parameter) points to a match. At most `options.limit`; `complete` tells
 * whether that was all.
 */
export async function collectIncludes(
  ctx: IncludeContext,
  specs: IncludeSpecs,
  matches: readonly IncludeSource[],
  options: IncludeOptions,
): Promise<{ included: Included[]; complete: boolean }> {
  const seen = new Set<string>(options.skip);
  for (const m of matches) seen.add(keyOf(m.hit));
  const excluded = options.excludedTypes;
  const found: Included[] = [];
  const forward = await forwardIncludes(ctx, specs.include, matches, seen, options, options.limit + 1);
  found.push(...forward);
  let complete = found.length <= options.limit;
  if (complete) {
    const reverse = await reverseIncludes(ctx, specs.revinclude, matches, seen, options, options.limit - found.length);
    found.push(...reverse.included);
    complete = reverse.complete;
  }
  const included = found.slice(0, options.limit);
  // Stable: within one owner, the order in which they were found.
  included.sort((a, b) => a.owner - b.owner);
  return { included, complete };
}

async function forwardIncludes(
  ctx: IncludeContext,
  specs: readonly IncludeSpec[],
  matches: readonly IncludeSource[],
  seen: Set<string>,
  options: IncludeOptions,
  max: number,
): Promise<Included[]> {
  if (specs.length === 0) return [];
  const { excludedTypes: excluded, exclude, maxSeq } = options;
  const wanted: { key: ResourceKey; owner: number }[] = [];
  matches.forEach((m, owner) => {
    if (m.resource === undefined) return;
    for (const spec of specs) {
      if (m.hit.type !== spec.sourceType) continue;
      const codes =
        spec.param === '*'
          ? [...ctx.registry.forType(spec.sourceType).values()].filter((d) => d.type === 'reference').map((d) => d.code)
          : [spec.param];
      for (const code of codes) {
        for (const e of ctx.extractor.extractParam(m.resource, code)) {
          if (e.kind !== 'reference' || e.targetType === null || e.targetId === null) continue;
          if (e.url !== null && !(ctx.baseUrl && e.url.startsWith(ctx.baseUrl + '/'))) continue;
          if (spec.targetType !== undefined && e.targetType !== spec.targetType) continue;
          if (excluded?.has(e.targetType)) continue;
          const key = `${e.targetType}/${e.targetId}`;
          if (seen.has(key)) continue;
          seen.add(key);
          wanted.push({ key: { type: e.targetType, id: e.targetId }, owner });
        }
      }
    }
  });
  const out: Included[] = [];
  // Read in slices, so that a limit reached early stops the reads.
  for (let i = 0; i < wanted.length && out.length < max; i += 64) {
    const slice = wanted.slice(i, i + 64);
    const versions = await Promise.all(slice.map((w) => ctx.limit(() => ctx.reader.readCurrent(w.key))));
    const isLive = (v: StoredVersion | undefined): v is StoredVersion =>
      v !== undefined && !v.deleted && v.json !== undefined && (maxSeq === undefined || v.seq <= maxSeq);
    const live = versions.filter(isLive);
    const left = exclude && live.length > 0 ? await exclude(live) : undefined;
    versions.forEach((v, j) => {
      if (isLive(v) && !left?.has(keyOf(v))) out.push({ version: v, owner: slice[j]!.owner });
    });
  }
  return out.slice(0, max);
}

/** At most `room` resources; `complete: false` when there are more. */
async function reverseIncludes(
  ctx: IncludeContext,
  specs: readonly IncludeSpec[],
  matches: readonly IncludeSource[],
  seen: Set<string>,
  options: IncludeOptions,
  room: number,
): Promise<{ included: Included[]; complete: boolean }> {
  const { excludedTypes: excluded, exclude, maxSeq } = options;
  const out: Included[] = [];
  const position = new Map<string, number>();
  matches.forEach((m, i) => {
    const k = keyOf(m.hit);
    if (!position.has(k)) position.set(k, i);
  });
  for (const spec of specs) {
    const targets = matches.filter((m) => spec.targetType === undefined || m.hit.type === spec.targetType);
    for (const { sourceType, param } of await pairsOf(ctx, spec, targets)) {
      if (excluded?.has(sourceType)) continue;
      const def = ctx.registry.get(sourceType, param);
      const refs = targets
        .filter((m) => !def?.target || def.target.includes(m.hit.type))
        .map((m) => ({ kind: 'reference' as const, targetType: m.hit.type, targetId: m.hit.id }));
      for (const of of slices(refs, REFERENCES_PER_QUERY)) {
        // Paged: resources already seen (the matches among them) do not count against the room.
        let after: string | undefined;
        for (;;) {
          const page = Math.max(room - out.length + 1, 100);
          const res = await ctx.reader.search({
            types: [sourceType],
            where: [{ kind: 'any', param, of }],
            sort: [],
            limit: page,
            ...(after !== undefined && { after }),
            ...(maxSeq !== undefined && { maxSeq }),
          });
          const fresh = res.hits.filter((h) => h.json !== undefined && !seen.has(keyOf(h)));
          const left = exclude && fresh.length > 0 ? await exclude(fresh) : undefined;
          for (const h of fresh) {
            const key = keyOf(h);
            seen.add(key);
            if (left?.has(key)) continue;
            if (out.length === room) return { included: out, complete: false };
            out.push({ version: h, owner: ownerOf(ctx, h.json!, param, position) });
          }
          const last = res.hits[res.hits.length - 1];
          if (res.hits.length < page || !last) break;
          after = last.position;
        }
      }
    }
  }
  return { included: out, complete: true };
}

/**
 * The (source type, parameter) pairs one `_revinclude` spec searches. A wildcard spans hundreds of
 * parameters (242 point to a Patient): only those of types that have resources at all are searched.
 */
async function pairsOf(ctx: IncludeContext, spec: IncludeSpec, targets: readonly IncludeSource[]): Promise<readonly ReferenceParam[]> {
  if (spec.sourceType !== '*' && spec.param !== '*') return [{ sourceType: spec.sourceType, param: spec.param }];
  const pairs = new Map<string, ReferenceParam>();
  for (const type of new Set(targets.map((t) => t.hit.type))) {
    for (const p of referenceParams(ctx.registry, type, spec.sourceType)) pairs.set(`${p.sourceType}\u0000${p.param}`, p);
  }
  const stored = await typesWithResources(ctx.reader, [...new Set([...pairs.values()].map((p) => p.sourceType))]);
  return [...pairs.values()].filter((p) => stored.has(p.sourceType));
}

/** Those of `types` that have at least one current resource: one query per such type, and one more. */
async function typesWithResources(reader: StorageReader, types: readonly string[]): Promise<ReadonlySet<string>> {
  const found = new Set<string>();
  let left = types;
  while (left.length > 0) {
    const { hits } = await reader.search({ types: left, where: [], sort: [], limit: 1, keysOnly: true });
    const hit = hits[0];
    if (!hit) break;
    found.add(hit.type);
    left = left.filter((t) => t !== hit.type);
  }
  return found;
}

/**
 * The position of the first match a referring resource points to through `param`. Falls back to
 * the first match: a resource placed too early is only deleted sooner than needed.
 */
function ownerOf(ctx: IncludeContext, json: string, param: string, position: ReadonlyMap<string, number>): number {
  let owner = Infinity;
  for (const e of ctx.extractor.extractParam(JSON.parse(json) as Resource, param)) {
    if (e.kind !== 'reference' || e.targetType === null || e.targetId === null) continue;
    const p = position.get(`${e.targetType}/${e.targetId}`);
    if (p !== undefined && p < owner) owner = p;
  }
  return owner === Infinity ? 0 : owner;
}
