/**
 * One unit of a `$bulk-delete` job whose matches take other resources with them: the resources
 * `_include` / `_revinclude` add (deleted in the job's mode, before their match, as Microsoft's
 * service does), and, with `_remove-references` on a hard delete, a new version of every resource
 * that refers to a deleted one, without that reference (reference §7.1).
 *
 * A unit writes at most `chunkSize` versions (deletions and rewrites). It deletes a match only with,
 * or after, everything that goes with it, and rewrites the referrers of what it deletes in the same
 * unit, so that a unit that commits leaves nothing half done, whatever follows it:
 * - the matches of a chunk and their includes form a list in which each match comes after its
 *   includes; a unit takes the longest start of that list that fits (with the referrers of its
 *   entries), and continues the next unit after the last match it took;
 * - when the includes of a chunk cannot all be read within the budget, the chunk is halved (down to
 *   one match, whose includes are then deleted budget by budget before it); the width is kept in
 *   the job's state and doubled again after a unit that took its whole chunk;
 * - deleted resources are no longer found (soft: a tombstone; hard: gone); in purge-history mode,
 *   where they stay current, the job keeps the included ones it has processed in its state, and
 *   never includes a resource that matches the criteria itself (it is processed as a match).
 * The snapshot holds for includes too: only what existed at submission is deleted, as for the
 * matches. Referrers are rewritten whenever they were written, except those the job deletes later
 * (matches, and includes of matches): a rewrite is a new version, which would take them out of the
 * snapshot.
 * @packageDocumentation
 */
import { deleteCurrent, includesOf, keyOf, REFERRERS, removeReferences } from '../interactions/cascade.js';
import type { EngineContext } from '../interactions/context.js';
import type { Resource } from '../resource/resource.js';
import { REFERENCES_PER_QUERY, slices, type Included, type IncludeSpecs } from '../search/include.js';
import type { Clause } from '../storage/query.js';
import type { JobProgress } from '../storage/job-record.js';
import type { ResourceKey, StorageTx, StoredVersion } from '../storage/storage-adapter.js';
import type { BulkDeleteParams, BulkDeleteState } from './bulk-delete-params.js';
import type { StepOutcome } from './job-runner.js';

/** One entry of a chunk's deletion list: an included resource, or a match (`match` = its position in the chunk). */
interface Entry {
  readonly version: StoredVersion;
  readonly match?: number;
}

/** The criteria's own matches among `versions` (snapshot included): never an include, never rewritten. */
function criteriaMatches(tx: StorageTx, params: BulkDeleteParams) {
  return async (versions: readonly ResourceKey[]): Promise<ReadonlySet<string>> => {
    const found = new Set<string>();
    const byType = new Map<string, string[]>();
    for (const v of versions) if (params.types.includes(v.type)) byType.set(v.type, [...(byType.get(v.type) ?? []), v.id]);
    for (const [type, ids] of byType) {
      const { hits } = await tx.search({ types: [type], where: [...params.where, { kind: 'ids', ids }], sort: [], limit: ids.length, keysOnly: true, maxSeq: params.maxSeq });
      for (const h of hits) found.add(keyOf(h));
    }
    return found;
  };
}

/** The local references of a version through the parameters `params`. */
function referencesOf(ctx: EngineContext, version: StoredVersion, params: readonly string[]): ResourceKey[] {
  const resource = JSON.parse(version.json!) as Resource;
  const out: ResourceKey[] = [];
  for (const code of params) {
    for (const e of ctx.extractor.extractParam(resource, code)) {
      if (e.kind !== 'reference' || e.targetType === null || e.targetId === null) continue;
      if (e.url === null || (ctx.baseUrl && e.url.startsWith(`${ctx.baseUrl}/`))) out.push({ type: e.targetType, id: e.targetId });
    }
  }
  return out;
}

const referenceCodes = (ctx: EngineContext, type: string, param: string): string[] =>
  param === '*' ? [...ctx.registry.forType(type).values()].filter((d) => d.type === 'reference').map((d) => d.code) : [param];

/**
 * The referrers among `versions` that the job deletes later anyway: matches of the criteria, and
 * resources an include of a match brings in (a `_revinclude` one refers to a match; an `_include`
 * one is referred to by a match). They are left as they are: a rewrite would take them out of the
 * snapshot.
 */
function deletedLater(ctx: EngineContext, tx: StorageTx, params: BulkDeleteParams) {
  const matchesOf = criteriaMatches(tx, params);
  const excludedTypes = new Set(params.excludedResourceTypes);
  return async (versions: readonly StoredVersion[]): Promise<ReadonlySet<string>> => {
    const later = new Set(await matchesOf(versions));
    const candidates = versions.filter((v) => v.seq <= params.maxSeq && !excludedTypes.has(v.type) && !later.has(keyOf(v)));
    for (const spec of params.revinclude ?? []) {
      for (const v of candidates) {
        if (later.has(keyOf(v)) || (spec.sourceType !== '*' && spec.sourceType !== v.type)) continue;
        const targets = referencesOf(ctx, v, referenceCodes(ctx, v.type, spec.param)).filter((t) => spec.targetType === undefined || t.type === spec.targetType);
        if (targets.length > 0 && (await matchesOf(targets)).size > 0) later.add(keyOf(v));
      }
    }
    for (const spec of params.include ?? []) {
      if (!params.types.includes(spec.sourceType)) continue;
      const wanted = new Map(
        candidates.filter((v) => !later.has(keyOf(v)) && (spec.targetType === undefined || spec.targetType === v.type)).map((v) => [keyOf(v), v]),
      );
      if (wanted.size === 0) continue;
      const refs = [...wanted.values()].map((v) => ({ kind: 'reference' as const, targetType: v.type, targetId: v.id }));
      for (const code of referenceCodes(ctx, spec.sourceType, spec.param)) {
        for (const of of slices(refs, REFERENCES_PER_QUERY)) {
          const where: Clause[] = [...params.where, { kind: 'any', param: code, of }];
          let after: string | undefined;
          for (;;) {
            const page = await tx.search({ types: [spec.sourceType], where, sort: [], limit: 500, maxSeq: params.maxSeq, ...(after !== undefined && { after }) });
            for (const h of page.hits) {
              for (const t of referencesOf(ctx, h, [code])) if (wanted.has(keyOf(t))) later.add(keyOf(t));
            }
            const last = page.hits[page.hits.length - 1];
            if (page.hits.length < 500 || !last) break;
            after = last.position;
          }
        }
      }
    }
    return later;
  };
}

/** The list of a chunk: each match after the includes it brings in first. */
function deletionList(chunk: readonly StoredVersion[], included: readonly Included[], withMatches: boolean): Entry[] {
  const list: Entry[] = [];
  let next = 0;
  chunk.forEach((match, i) => {
    while (next < included.length && included[next]!.owner === i) list.push({ version: included[next++]!.version });
    if (withMatches) list.push({ version: match, match: i });
  });
  return list;
}

/** Runs one unit; see the module comment. */
export async function cascadeStep(
  ctx: EngineContext,
  tx: StorageTx,
  params: BulkDeleteParams,
  state: BulkDeleteState,
  progress: JobProgress,
  budget: number,
): Promise<StepOutcome<BulkDeleteState>> {
  const specs: IncludeSpecs = { include: params.include ?? [], revinclude: params.revinclude ?? [] };
  const purging = params.mode === 'purge-history';
  const purged = new Set(state.purged ?? []);
  const excludedTypes = new Set(params.excludedResourceTypes);
  let width = Math.min(state.width ?? budget, budget);

  for (;;) {
    const { hits } = await tx.search({
      types: params.types,
      where: params.where,
      sort: [],
      limit: width + 1,
      keysOnly: specs.include.length === 0,
      maxSeq: params.maxSeq,
      ...(state.after !== undefined && { after: state.after }),
    });
    const chunk = hits.slice(0, width);
    const more = hits.length > width;
    if (chunk.length === 0) return { state, progress: { ...progress, chunks: progress.chunks + 1 }, done: true };

    const includes = await includesOf(ctx, tx, specs, chunk, {
      limit: budget,
      excludedTypes,
      maxSeq: params.maxSeq,
      skip: purged,
      ...(purging && { exclude: criteriaMatches(tx, params) }),
    });
    if (!includes.complete && width > 1) {
      width = Math.ceil(width / 2);
      continue;
    }
    // Incomplete with one match: its includes go first, the match waits for a later unit.
    const list = deletionList(chunk, includes.included, includes.complete);

    let take = Math.min(list.length, budget);
    let referrers: Included[] = [];
    if (params.removeReferences) {
      ({ take, referrers } = await referrersToRewrite(ctx, tx, params, list, budget));
    }

    const byType: Record<string, number> = { ...progress.byType };
    let deleted = 0;
    const removed = new Set(list.slice(0, Math.max(take, 1)).map((e) => keyOf(e.version)));
    for (const r of referrers) await removeReferences(ctx, tx, r.version, removed);
    let lastMatch: number | undefined;
    for (const entry of list.slice(0, take)) {
      const n = await deleteCurrent(ctx, tx, entry.version, params.mode);
      byType[entry.version.type] = (byType[entry.version.type] ?? 0) + n;
      deleted += n;
      if (entry.match !== undefined) lastMatch = entry.match;
      else if (purging) purged.add(keyOf(entry.version));
    }

    const last = lastMatch === undefined ? undefined : chunk[lastMatch]!;
    const wholeChunk = lastMatch === chunk.length - 1;
    // The next unit starts with as many matches as this one took (twice as many when it took all
    // of them with room to spare), so that it does not read what it cannot take again.
    const taken = lastMatch === undefined ? 1 : lastMatch + 1;
    const roomy = wholeChunk && (take + referrers.length) * 2 <= budget;
    const next: BulkDeleteState = {
      ...(last ? { after: last.position } : state.after !== undefined && { after: state.after }),
      width: roomy ? Math.min(width * 2, budget) : taken,
      ...(purging && { purged: [...purged] }),
    };
    return {
      state: next,
      progress: { processed: progress.processed + deleted, byType, chunks: progress.chunks + 1 },
      done: wholeChunk && !more,
    };
  }
}

/**
 * How much of `list` a unit takes when the referrers of what it deletes are rewritten in it: the
 * longest start whose entries and referrers fit in `budget`. When even the first entry has more
 * referrers than that, the unit rewrites `budget` of them and deletes nothing (`take` 0).
 * Referrers that are in the list, or that the job deletes later, are never rewritten.
 */
async function referrersToRewrite(
  ctx: EngineContext,
  tx: StorageTx,
  params: BulkDeleteParams,
  list: readonly Entry[],
  budget: number,
): Promise<{ take: number; referrers: Included[] }> {
  const skip = new Set(list.map((e) => keyOf(e.version)));
  const exclude = deletedLater(ctx, tx, params);
  let take = Math.min(list.length, budget);
  for (;;) {
    const targets = list.slice(0, take).map((e) => e.version);
    const found = await includesOf(ctx, tx, REFERRERS, targets, { limit: budget, skip, exclude });
    if (!found.complete && take > 1) {
      take = Math.ceil(take / 2);
      continue;
    }
    if (!found.complete) return { take: 0, referrers: found.included };
    // Longest start: entry i costs itself plus the referrers whose first target it is.
    const per = new Array<number>(take).fill(0);
    for (const r of found.included) per[r.owner]!++;
    let used = 0;
    let fits = 0;
    while (fits < take && used + 1 + per[fits]! <= budget) used += 1 + per[fits++]!;
    if (fits === 0) return { take: 0, referrers: found.included.filter((r) => r.owner === 0) };
    return { take: fits, referrers: found.included.filter((r) => r.owner < fits) };
  }
}
