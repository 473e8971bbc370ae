/**
 * The resource-level interactions: create, read, vread, update, patch, delete, purge history, and
 * their conditional forms. Each runs inside one unit of work (the caller's, for a transaction bundle).
 * @packageDocumentation
 */
import { badRequest, FhirError, notFound, preconditionFailed } from '../errors.js';
import { applyFhirPathPatch, applyJsonPatch } from '../patch/index.js';
import { sameContent } from '../resource/equal.js';
import type { Resource } from '../resource/resource.js';
import { assertValidId } from '../resource/validate.js';
import { weakETag } from '../resource/version.js';
import type { SearchHit } from '../storage/query.js';
import type { StorageReader, StorageTx, StoredVersion } from '../storage/storage-adapter.js';
import { checkedResource, linkedResource } from './content.js';
import { inUnit, readerOf, type EngineContext } from './context.js';
import type { IncludeSpecs } from '../search/include.js';
import { deleteCurrent, includesOf } from './cascade.js';
import type { Criteria } from './request.js';
import type { DeleteOutcome, WriteOutcome } from './result.js';
import { commitVersion, mayHaveSameContent, prepareVersion, resourceOf } from './write.js';

export type { Criteria } from './request.js';

/** Options shared by every interaction. */
export interface InteractionOptions {
  /** The unit of work to run in (transaction bundles); a new one when absent. */
  readonly tx?: StorageTx;
  /** `x-conditionalquery-processing-logic: parallel`. */
  readonly parallel?: boolean;
  /** `Prefer: handling=strict`. */
  readonly strict?: boolean;
  /** A transaction's entry fullUrls → their `Type/id`: links to them in the content are rewritten. */
  readonly fullUrls?: ReadonlyMap<string, string>;
}

/** A patch document and its format. */
export type PatchDocument =
  | { readonly format: 'json-patch'; readonly operations: unknown }
  | { readonly format: 'fhirpath-patch'; readonly parameters: unknown };

/** Throws 404 unless `type` is a known resource type. */
export function assertResourceType(ctx: EngineContext, type: string): void {
  if (!ctx.registry.resourceTypes.has(type)) throw notFound(`Resource type '${type}' is not supported.`);
}

/** 404 for a resource that does not exist. */
export const notFoundError = (type: string, id: string): FhirError =>
  notFound(`Resource type '${type}' with id '${id}' couldn't be found.`);

/** 410 for a deleted resource, carrying the tombstone's ETag. */
const goneError = (version: StoredVersion): FhirError =>
  new FhirError(410, 'deleted', `Resource '${version.type}/${version.id}' was deleted.`, {
    headers: { etag: weakETag(version.versionId) },
  });

const notSelectiveText = (type: string): string =>
  `Conditional operation on ${type} was not attempted because search criteria was not selective enough.`;

const notSelective = (type: string): FhirError => preconditionFailed(notSelectiveText(type));

/**
 * The one rule for conditional interactions whose criteria cannot pick a resource (create with
 * `If-None-Exist`, update, delete and patch on `[type]?query`; the typed API, bundle entries and
 * HTTP all come through here):
 * - no query at all (`PUT Patient`, `If-None-Exist: &`): **400**, the request is not a conditional
 *   request (Azure 2.2 step 1, 2.4 and 3.4 answer so for create, update and delete; for patch
 *   Azure answers 412, and this engine 400 like the three others, so that one rule holds);
 * - a query none of whose parameters selects anything (unknown names, empty values, only
 *   result-control parameters such as `_count` or the delete's `hardDelete`): **412**, never
 *   "everything" (Azure 9.1; the spec leaves it open);
 * - several matches where one is required: **412** (http.html, conditional create, update, patch,
 *   and a conditional delete without `_count`).
 * This checks the first; `matchCriteria` the other two.
 */
export function requireQuery(type: string, query: Criteria | undefined): void {
  if (query === undefined || query.length === 0) throw badRequest(notSelectiveText(type));
}

/**
 * The current resources matching conditional criteria (at most `limit`), under a lock on the
 * normalised criteria so that racing conditional interactions on one criteria run one at a time.
 * No usable criteria → 412, never "match everything". With `includes`, also the criteria's
 * `_include` / `_revinclude`.
 */
async function findConditional(
  ctx: EngineContext,
  tx: StorageTx,
  type: string,
  criteria: Criteria,
  limit: number,
  options: InteractionOptions & { includes?: boolean },
): Promise<{ hits: readonly SearchHit[]; specs: IncludeSpecs }> {
  const canonical = [...criteria].map(([k, v]) => `${k}=${v}`).sort().join('&');
  await tx.lock(`cond:${type}?${canonical}`);
  const found = await ctx.search.findMatches(tx, type, criteria, {
    limit,
    strict: options.strict ?? false,
    parallel: options.parallel ?? false,
    includes: options.includes ?? false,
  });
  if (!found.selective) throw notSelective(type);
  return found;
}

/** {@link findConditional} for the interactions that act on the matches alone. */
async function matchCriteria(
  ctx: EngineContext,
  tx: StorageTx,
  type: string,
  criteria: Criteria,
  limit: number,
  options: InteractionOptions,
): Promise<readonly SearchHit[]> {
  return (await findConditional(ctx, tx, type, criteria, limit, options)).hits;
}

/**
 * `POST [type]`: creates a resource with a server-assigned id (a client id is ignored).
 * With `ifNoneExist` (conditional create): 0 matches → create; 1 → that resource, nothing written;
 * more → 412.
 */
export async function create(
  ctx: EngineContext,
  type: string,
  body: unknown,
  options: InteractionOptions & { ifNoneExist?: Criteria; presetId?: string } = {},
): Promise<WriteOutcome> {
  assertResourceType(ctx, type);
  const id = options.presetId ?? ctx.ids.resourceId();
  const checked = checkedResource(ctx, body, type);
  /** Links the resource through `reader` (conditional references, fullUrls), then writes it through `writer`. */
  const createWith = async (reader: StorageReader, writer: Pick<StorageTx, 'writeVersion'>): Promise<WriteOutcome> => {
    const resource = await linkedResource(ctx, reader, checked, options.fullUrls);
    const { version, resource: stored } = await commitVersion(ctx, writer, { type, id, resource, previous: undefined, method: 'POST' });
    return { outcome: 'created', version, resource: stored };
  };
  // Nothing to read in the unit: the write is a unit of work of its own (one round trip on
  // PostgreSQL). Conditional references resolve against committed state, as they would in the unit.
  if (options.tx === undefined && options.ifNoneExist === undefined) return createWith(ctx.storage, ctx.storage);
  return inUnit(ctx, options.tx, async (tx) => {
    if (options.ifNoneExist) {
      const hits = await matchCriteria(ctx, tx, type, options.ifNoneExist, 2, options);
      if (hits.length > 1) throw notSelective(type);
      if (hits.length === 1) {
        const version = hits[0]!;
        return { outcome: 'matched', version, resource: resourceOf(version) };
      }
    }
    return createWith(tx, tx);
  });
}

/** Reads the current version; 404 when absent, 410 when deleted. */
export async function read(ctx: EngineContext, type: string, id: string, tx?: StorageTx): Promise<StoredVersion> {
  assertResourceType(ctx, type);
  const version = await readerOf(ctx, tx).readCurrent({ type, id });
  if (!version) throw notFoundError(type, id);
  if (version.deleted) throw goneError(version);
  return version;
}

/** Reads one version; 404 when absent or purged, 410 for a delete marker. */
export async function vread(
  ctx: EngineContext,
  type: string,
  id: string,
  versionId: string,
  tx?: StorageTx,
): Promise<StoredVersion> {
  assertResourceType(ctx, type);
  const version = await readerOf(ctx, tx).readVersion({ type, id }, versionId);
  if (!version) throw notFound(`Resource type '${type}' with id '${id}' and version '${versionId}' couldn't be found.`);
  if (version.deleted) throw goneError(version);
  return version;
}

/** Writes `resource` over `current` unless nothing changed. */
async function updateOver(
  ctx: EngineContext,
  tx: StorageTx,
  type: string,
  id: string,
  resource: Resource,
  current: StoredVersion | undefined,
  method: 'PUT' | 'PATCH',
  ifMatch: boolean,
): Promise<WriteOutcome> {
  const pending = { type, id, resource, previous: current, method, ifMatch };
  const prepared = prepareVersion(ctx, pending);
  if (current && !current.deleted && mayHaveSameContent(prepared, current)) {
    const existing = resourceOf(current);
    if (sameContent(existing, resource)) return { outcome: 'unchanged', version: current, resource: existing };
  }
  const { version, resource: stored } = await commitVersion(ctx, tx, pending, prepared);
  // A revived (previously deleted) resource is an update of its history, as Microsoft's service answers.
  return { outcome: current ? 'updated' : 'created', version, resource: stored };
}

/**
 * `PUT [type]/[id]`: updates, or creates with the client's id (update-as-create). The body id must
 * equal the URL id. With `ifMatch` (a version id), the current version must be that one: 412
 * otherwise, 404 when the resource does not exist.
 */
export async function update(
  ctx: EngineContext,
  type: string,
  id: string,
  body: unknown,
  options: InteractionOptions & { ifMatch?: string } = {},
): Promise<WriteOutcome> {
  assertResourceType(ctx, type);
  assertValidId(id);
  const checked = checkedResource(ctx, body, type);
  if (checked.id === undefined) throw badRequest('Id must be specified in the resource.', [`${type}.id`]);
  if (checked.id !== id) throw badRequest('Id in the URL must match id in the resource.', [`${type}.id`]);
  return inUnit(ctx, options.tx, async (tx) => {
    const current = await tx.readCurrent({ type, id });
    checkIfMatch(type, id, current, options.ifMatch);
    const resource = await linkedResource(ctx, tx, checked, options.fullUrls);
    return updateOver(ctx, tx, type, id, resource, current, 'PUT', options.ifMatch !== undefined);
  });
}

function checkIfMatch(type: string, id: string, current: StoredVersion | undefined, ifMatch: string | undefined): void {
  if (ifMatch === undefined) return;
  if (!current) {
    throw notFound(`Resource type '${type}' with id '${id}' and version '${ifMatch}' couldn't be found.`);
  }
  if (current.versionId !== ifMatch) throw preconditionFailed(`The supplied version '${ifMatch}' did not match.`);
}

/**
 * `PUT [type]?criteria`: 0 matches → create (with the body id, if any); 1 → update that one (a
 * body id that differs → 400); more → 412.
 */
export async function conditionalUpdate(
  ctx: EngineContext,
  type: string,
  criteria: Criteria,
  body: unknown,
  options: InteractionOptions & { presetId?: string } = {},
): Promise<WriteOutcome> {
  assertResourceType(ctx, type);
  const checked = checkedResource(ctx, body, type);
  if (checked.id !== undefined) assertValidId(checked.id);
  const newId = checked.id ?? options.presetId ?? ctx.ids.resourceId();
  return inUnit(ctx, options.tx, async (tx) => {
    const hits = await matchCriteria(ctx, tx, type, criteria, 2, options);
    if (hits.length > 1) throw notSelective(type);
    const match = hits[0];
    if (match && checked.id !== undefined && checked.id !== match.id) {
      throw badRequest(`Found result with Id '${match.id}', which did not match the provided Id '${checked.id}'.`, [
        `${type}.id`,
      ]);
    }
    const id = match?.id ?? newId;
    const current = match ?? (await tx.readCurrent({ type, id }));
    const resource = await linkedResource(ctx, tx, { ...checked, id }, options.fullUrls);
    return updateOver(ctx, tx, type, id, resource, current, 'PUT', false);
  });
}

/** Soft-deletes (tombstone version) or hard-deletes (every version) one resource inside `tx`. */
async function deleteOne(
  ctx: EngineContext,
  tx: StorageTx,
  type: string,
  id: string,
  hard: boolean,
): Promise<DeleteOutcome> {
  if (hard) {
    const removed = await tx.purge({ type, id }, 'none');
    return { outcome: 'deleted', deleted: removed > 0 ? 1 : 0 };
  }
  const current = await tx.readCurrent({ type, id });
  if (!current || current.deleted) return { outcome: 'deleted', deleted: 0 };
  const { version } = await commitVersion(ctx, tx, {
    type,
    id,
    resource: { resourceType: type },
    previous: current,
    method: 'DELETE',
    deleted: true,
  });
  return { outcome: 'deleted', deleted: 1, version };
}

/**
 * `DELETE [type]/[id]`: a soft delete writes a tombstone version (read → 410, history kept); a hard
 * delete removes every version (read → 404). Deleting what is absent or already deleted changes
 * nothing.
 */
export async function remove(
  ctx: EngineContext,
  type: string,
  id: string,
  options: InteractionOptions & { hard?: boolean } = {},
): Promise<DeleteOutcome> {
  assertResourceType(ctx, type);
  assertValidId(id);
  return inUnit(ctx, options.tx, (tx) => deleteOne(ctx, tx, type, id, options.hard ?? false));
}

/**
 * `DELETE [type]?criteria`: without `count`, one match is deleted and more than one is a 412; with
 * `count` (1…limits.maxConditionalDelete) up to that many matches are deleted. `_include` and
 * `_revinclude` in the criteria delete the resources they add too, counted with the matches
 * (Microsoft's service); more of them than `limits.maxCount` is a 400 and deletes nothing.
 */
export async function conditionalDelete(
  ctx: EngineContext,
  type: string,
  criteria: Criteria,
  options: InteractionOptions & { hard?: boolean; count?: number } = {},
): Promise<DeleteOutcome> {
  assertResourceType(ctx, type);
  const max = ctx.limits.maxConditionalDelete;
  const count = options.count;
  if (count !== undefined && (!Number.isInteger(count) || count < 1 || count > max)) {
    throw badRequest(`The _count parameter must be between 1 and ${max}.`);
  }
  return inUnit(ctx, options.tx, async (tx) => {
    const multi = count !== undefined && count > 1;
    const { hits, specs } = await findConditional(ctx, tx, type, criteria, multi ? count : 2, { ...options, includes: true });
    if (!multi && hits.length > 1) throw notSelective(type);
    const mode = options.hard ? 'hard' : 'soft';
    let deleted = 0;
    if (hits.length > 0 && (specs.include.length > 0 || specs.revinclude.length > 0)) {
      const cap = ctx.limits.maxCount;
      const { included, complete } = await includesOf(ctx, tx, specs, hits, { limit: cap });
      if (!complete) {
        throw badRequest(
          `The search criteria provided returns partial included resources: more than ${cap} would be deleted with the matches. Narrow the criteria or use $bulk-delete.`,
        );
      }
      // Included resources first, as Microsoft's service deletes them.
      for (const { version } of included) deleted += await deleteCurrent(ctx, tx, version, mode);
    }
    let version: StoredVersion | undefined;
    for (const hit of hits) {
      const result = await deleteOne(ctx, tx, type, hit.id, options.hard ?? false);
      deleted += result.deleted;
      version = result.version;
    }
    const counted = count !== undefined;
    // The ETag is the one match's tombstone.
    return hits.length === 1 && version ? { outcome: 'deleted', deleted, version, counted } : { outcome: 'deleted', deleted, counted };
  });
}

/** `DELETE [type]/[id]/$purge-history`: keeps the current version, removes the older ones. */
export async function purgeHistory(
  ctx: EngineContext,
  type: string,
  id: string,
  options: InteractionOptions = {},
): Promise<number> {
  assertResourceType(ctx, type);
  assertValidId(id);
  return inUnit(ctx, options.tx, async (tx) => {
    if (!(await tx.readCurrent({ type, id }))) throw notFoundError(type, id);
    return tx.purge({ type, id }, 'current');
  });
}

function applyPatch(resource: Resource, patch: PatchDocument): Resource {
  return patch.format === 'json-patch'
    ? applyJsonPatch(resource, patch.operations)
    : applyFhirPathPatch(resource, patch.parameters);
}

/** Patches the current version of a matched or addressed resource. */
async function patchVersion(
  ctx: EngineContext,
  tx: StorageTx,
  current: StoredVersion,
  patch: PatchDocument,
  options: InteractionOptions & { ifMatch?: string },
): Promise<WriteOutcome> {
  const ifMatch = options.ifMatch;
  checkIfMatch(current.type, current.id, current, ifMatch);
  const patched = checkedResource(ctx, applyPatch(resourceOf(current), patch), current.type);
  const resource = await linkedResource(ctx, tx, patched, options.fullUrls);
  return updateOver(ctx, tx, current.type, current.id, resource, current, 'PATCH', ifMatch !== undefined);
}

/**
 * `PATCH [type]/[id]`: JSON Patch or FHIRPath Patch on the current version; 404 when absent, 410
 * when deleted, 412 on an If-Match mismatch. A patch that changes nothing writes no version.
 */
export async function patch(
  ctx: EngineContext,
  type: string,
  id: string,
  document: PatchDocument,
  options: InteractionOptions & { ifMatch?: string } = {},
): Promise<WriteOutcome> {
  assertResourceType(ctx, type);
  assertValidId(id);
  return inUnit(ctx, options.tx, async (tx) => {
    const current = await tx.readCurrent({ type, id });
    if (!current) throw notFoundError(type, id);
    if (current.deleted) throw goneError(current);
    return patchVersion(ctx, tx, current, document, options);
  });
}

/** `PATCH [type]?criteria`: 0 matches → 404; 1 → patched; more → 412. */
export async function conditionalPatch(
  ctx: EngineContext,
  type: string,
  criteria: Criteria,
  document: PatchDocument,
  options: InteractionOptions & { ifMatch?: string } = {},
): Promise<WriteOutcome> {
  assertResourceType(ctx, type);
  return inUnit(ctx, options.tx, async (tx) => {
    const hits = await matchCriteria(ctx, tx, type, criteria, 2, options);
    if (hits.length > 1) throw notSelective(type);
    const match = hits[0];
    if (!match) throw notFound(`No ${type} matched the criteria of the conditional patch.`);
    const current = (await tx.readCurrent(match))!;
    return patchVersion(ctx, tx, current, document, options);
  });
}
