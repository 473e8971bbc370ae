import { FhirError } from '../errors.js';
import type { Resource } from '../resource/resource.js';
import { nextLastUpdated, nextVersionId } from '../resource/version.js';
import type { IndexExtractor } from '../search/extract.js';
import type { IndexEntry } from '../storage/index-entry.js';
import {
  isExpectationFailure,
  type Expectation,
  type StorageTx,
  type StoredVersion,
  type VersionMethod,
  type VersionWrite,
} from '../storage/storage-adapter.js';
import type { EngineContext } from './context.js';

/** A new version to commit on top of `previous` (undefined for a new resource). */
export interface PendingVersion {
  readonly type: string;
  readonly id: string;
  /** The content; meta.versionId/lastUpdated are set here. For a delete: ignored. */
  readonly resource: Resource;
  readonly previous: StoredVersion | undefined;
  readonly method: VersionMethod;
  readonly deleted?: boolean;
  /** The client sent If-Match: a lost race is a 412 rather than a 409. */
  readonly ifMatch?: boolean;
}

/** Puts `resourceType`, `id` and `meta` first, as FHIR JSON usually reads. */
function withMeta(resource: Resource, id: string, versionId: string, lastUpdated: string): Resource {
  const { resourceType: _t, id: _i, meta, ...rest } = resource;
  return { resourceType: resource.resourceType, id, meta: { ...meta, versionId, lastUpdated }, ...rest };
}

const ABSENT: Expectation = Object.freeze({ kind: 'absent' });
const expectationOn = (previous: StoredVersion | undefined): Expectation =>
  previous ? { kind: 'current', versionId: previous.versionId } : ABSENT;

/**
 * The write the engine hands to an adapter. Its index entries are extracted when `index` is first
 * read (the memory adapter does not read it for types nobody has searched yet). A class rather than
 * an object literal with a getter: V8 keeps such literals as slow dictionaries, ten times larger.
 */
class EngineWrite implements VersionWrite {
  #index: readonly IndexEntry[] | undefined;

  constructor(
    private readonly extractor: IndexExtractor,
    private readonly resource: Resource,
    readonly type: string,
    readonly id: string,
    readonly versionId: string,
    readonly expect: Expectation,
    readonly lastUpdated: string,
    readonly method: VersionMethod,
    readonly deleted: boolean,
    readonly json: string,
  ) {}

  get index(): readonly IndexEntry[] {
    return (this.#index ??= this.deleted ? [] : this.extractor.extract(this.resource));
  }
}

/** A version ready to write: its versionId, lastUpdated and final content. */
export interface PreparedVersion {
  readonly versionId: string;
  readonly lastUpdated: string;
  readonly resource: Resource;
  readonly json: string;
}

/** Assigns versionId and lastUpdated and serialises the content of a new version. */
export function prepareVersion(ctx: EngineContext, pending: PendingVersion): PreparedVersion {
  const { type, id, previous } = pending;
  const versionId = nextVersionId(previous?.versionId);
  const lastUpdated = nextLastUpdated(ctx.clock.now(), previous?.lastUpdated);
  const resource = pending.deleted
    ? { resourceType: type, id, meta: { versionId, lastUpdated } }
    : withMeta(pending.resource, id, versionId, lastUpdated);
  return { versionId, lastUpdated, resource, json: JSON.stringify(resource) };
}

/**
 * False when `prepared` certainly differs in content from `current` (see `sameContent`), without
 * parsing `current`: content equal up to key order serialises to the same length, and the two differ
 * only in meta.versionId (lastUpdated always has the same width).
 */
export const mayHaveSameContent = (prepared: PreparedVersion, current: StoredVersion): boolean =>
  prepared.json.length - prepared.versionId.length === current.json!.length - current.versionId.length;

/**
 * Commits one new version: assigns versionId and lastUpdated (unless already `prepared`), and writes
 * with compare-and-set on the version it was based on: in `tx`, or, given the storage itself, as a
 * unit of work of its own.
 */
export async function commitVersion(
  ctx: EngineContext,
  tx: Pick<StorageTx, 'writeVersion'>,
  pending: PendingVersion,
  prepared: PreparedVersion = prepareVersion(ctx, pending),
): Promise<{ version: StoredVersion; resource: Resource }> {
  const { type, id, previous, method } = pending;
  const deleted = pending.deleted ?? false;
  const { versionId, lastUpdated, resource, json } = prepared;
  try {
    const seq = await tx.writeVersion(
      new EngineWrite(ctx.extractor, resource, type, id, versionId, expectationOn(previous), lastUpdated, method, deleted, json),
    );
    return { version: { type, id, versionId, seq, lastUpdated, method, deleted, json }, resource };
  } catch (error) {
    // Only a version that did not match is a 412; a transient conflict (a deadlock) is mapped to 409
    // for every interaction alike (see `fhirErrorOf`).
    if (!isExpectationFailure(error)) throw error;
    throw pending.ifMatch
      ? new FhirError(412, 'conflict', `${type}/${id} was changed by another request; the supplied version did not match.`)
      : new FhirError(409, 'conflict', `${type}/${id} was changed concurrently by another request; retry.`);
  }
}

/** Parses a stored version's JSON. */
export const resourceOf = (version: StoredVersion): Resource => JSON.parse(version.json!) as Resource;
