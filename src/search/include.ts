/**
 * `_include` and `_revinclude`: the resources a searchset adds to its matches (search.html §3.1.1.5.4),
 * each at most once and never a match again.
 * @packageDocumentation
 */
import type { Resource } from '../resource/resource.js';
import type { Clause, SearchHit } from '../storage/query.js';
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
  readonly hit: SearchHit;
  readonly resource: Resource;
}

/**
 * `_include`: the current resources that the matches' references of each spec's parameter (`*`:
 * every reference parameter of the source type) point to, optionally of one target type. External
 * references are skipped. `seen` holds the `Type/id` of every resource in the Bundle and grows.
 */
export async function forwardIncludes(
  ctx: IncludeContext,
  specs: readonly IncludeSpec[],
  matches: readonly IncludeSource[],
  seen: Set<string>,
): Promise<Resource[]> {
  const wanted: { type: string; id: string }[] = [];
  for (const spec of specs) {
    for (const m of matches) {
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
          const key = `${e.targetType}/${e.targetId}`;
          if (seen.has(key)) continue;
          seen.add(key);
          wanted.push({ type: e.targetType, id: e.targetId });
        }
      }
    }
  }
  const read = async (k: { type: string; id: string }) => {
    const v = await ctx.reader.readCurrent(k);
    return v && !v.deleted && v.json !== undefined ? (JSON.parse(v.json) as Resource) : undefined;
  };
  const got = await Promise.all(wanted.map((k) => ctx.limit(() => read(k))));
  return got.filter((r): r is Resource => r !== undefined);
}

/**
 * `_revinclude`: the resources of each spec's source type whose parameter references one of the
 * matches (of the spec's target type, when given), at most `maxCount` per spec. `seen` grows as in
 * {@link forwardIncludes}.
 */
export async function reverseIncludes(
  ctx: IncludeContext,
  specs: readonly IncludeSpec[],
  matches: readonly IncludeSource[],
  seen: Set<string>,
  maxCount: number,
): Promise<Resource[]> {
  const out: Resource[] = [];
  for (const spec of specs) {
    const of = matches
      .filter((m) => spec.targetType === undefined || m.hit.type === spec.targetType)
      .map((m) => ({ kind: 'reference' as const, targetType: m.hit.type, targetId: m.hit.id }));
    if (of.length === 0) continue;
    const where: Clause[] = spec.param === '*' ? [] : [{ kind: 'any', param: spec.param, of }];
    if (where.length === 0) continue;
    const res = await ctx.reader.search({ types: [spec.sourceType], where, sort: [], limit: maxCount });
    for (const h of res.hits) {
      const key = `${h.type}/${h.id}`;
      if (seen.has(key) || h.json === undefined) continue;
      seen.add(key);
      out.push(JSON.parse(h.json) as Resource);
    }
  }
  return out;
}
