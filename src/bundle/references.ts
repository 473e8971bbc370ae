/**
 * fullUrl resolution of transaction bundles (FHIR R4 bundle.html#references, http.html#trules):
 * the ids of new resources are assigned up front, and every link to an entry's fullUrl
 * (`urn:uuid:…`, `urn:oid:…`, or an absolute URL) becomes `Type/id`: in query values here, in the
 * content by the interaction that writes it (`rewriteFullUrls`, after validation).
 * @packageDocumentation
 */
import type { EngineContext } from '../interactions/context.js';
import type { Resource } from '../resource/resource.js';
import type { StorageReader } from '../storage/storage-adapter.js';
import type { Criteria, InteractionRequest, Mutable } from '../interactions/request.js';
import type { EntryRequest } from './preprocess.js';

/** What the up-front resolution decided for the entries of a transaction. */
export interface Assignment {
  /** fullUrl (and, for a RESTful fullUrl, its `Type/id` tail) → `Type/id`. */
  readonly references: Map<string, string>;
  /** Entry index → the id a create of that entry must get. */
  readonly presetIds: Map<number, string>;
  /** Entry index → `Type/id` the entry resolved to (created or matched), checked after it ran. */
  readonly expected: Map<number, string>;
  /** Entry index → `Type/id` of an existing resource a conditional entry matched. */
  readonly matched: Map<number, string>;
}

/** `[base]/Type/id` → `Type/id` (when the last two segments look like one). */
function restfulTail(fullUrl: string, type: string): string | undefined {
  const match = /^https?:\/\/.+\/([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(fullUrl);
  return match && match[1] === type ? `${match[1]}/${match[2]}` : undefined;
}

/**
 * Assigns ids to the creates of a transaction, inside its unit of work `reader` (after its DELETEs):
 * a POST gets a new id; a conditional create (`ifNoneExist`) or conditional update (`PUT Type?q`)
 * that matches exactly one resource maps to that resource, one that matches none gets a new id
 * (a conditional update keeps the id in its body, if any). Several matches are left for the
 * interaction to refuse (412).
 */
export async function assignIds(
  ctx: EngineContext,
  reader: StorageReader,
  entries: readonly EntryRequest[],
): Promise<Assignment> {
  const assignment: Assignment = { references: new Map(), presetIds: new Map(), expected: new Map(), matched: new Map() };
  for (const entry of entries) {
    const { type } = entry;
    if (type === undefined || !entry.writes) continue;
    let target: string | undefined;
    if (entry.method === 'POST' && entry.id === undefined) {
      if (entry.criteriaPairs !== undefined) {
        const found = await ctx.search.findMatches(reader, type, entry.criteriaPairs, { limit: 2 });
        if (found.selective && found.hits.length > 1) continue;
        if (found.selective && found.hits.length === 1) {
          target = `${type}/${found.hits[0]!.id}`;
          assignment.matched.set(entry.index, target);
        }
      }
      if (target === undefined) {
        const id = ctx.ids.resourceId();
        assignment.presetIds.set(entry.index, id);
        target = `${type}/${id}`;
      }
    } else if (entry.method === 'PUT' && entry.criteriaPairs !== undefined) {
      const found = await ctx.search.findMatches(reader, type, entry.criteriaPairs, { limit: 2 });
      if (!found.selective || found.hits.length > 1) continue;
      if (found.hits.length === 1) {
        target = `${type}/${found.hits[0]!.id}`;
        assignment.matched.set(entry.index, target);
      } else {
        const bodyId = (entry.request.body as Resource | undefined)?.id;
        const id = typeof bodyId === 'string' ? bodyId : ctx.ids.resourceId();
        if (typeof bodyId !== 'string') assignment.presetIds.set(entry.index, id);
        target = `${type}/${id}`;
      }
    } else if ((entry.method === 'PUT' || entry.method === 'PATCH') && entry.id !== undefined) {
      target = `${type}/${entry.id}`;
    } else {
      continue;
    }
    assignment.expected.set(entry.index, target);
    if (entry.fullUrl !== undefined && entry.fullUrl !== target) {
      assignment.references.set(entry.fullUrl, target);
      // A POST with a RESTful fullUrl (`http://x/fhir/Patient/a2`) is also what `Patient/a2` means
      // inside the bundle (bundle.html#references: relative references resolve against the fullUrl base).
      const tail = entry.method === 'POST' ? restfulTail(entry.fullUrl, type) : undefined;
      if (tail !== undefined && tail !== target) assignment.references.set(tail, target);
    }
  }
  return assignment;
}

/**
 * Rewrites, in the entry's own request, query values equal to a mapped fullUrl
 * (`Observation?subject=urn:uuid:…`): in its URL and in its `ifNoneExist` criteria.
 */
export function rewriteQueryReferences(request: Mutable<InteractionRequest>, references: ReadonlyMap<string, string>): void {
  if (references.size === 0) return;
  const rewrite = (pairs: Criteria | undefined): Criteria | undefined =>
    pairs?.some(([, v]) => references.has(v)) ? pairs.map(([k, v]) => [k, references.get(v) ?? v] as const) : pairs;
  if (request.params !== undefined) request.params = rewrite(request.params)!;
  if (request.ifNoneExist !== undefined) request.ifNoneExist = rewrite(request.ifNoneExist)!;
}
