/**
 * A stored version of a resource: what every read, search hit and history entry returns. Its own
 * module, so that the query types (`query.ts`) and the adapter contract (`storage-adapter.ts`) both
 * build on it without importing each other.
 * @packageDocumentation
 */

/** Identifies one logical resource. */
export interface ResourceKey {
  readonly type: string;
  readonly id: string;
}

/** The interaction that produced a version; history shows it as `request.method`. */
export type VersionMethod = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One stored version, exactly as the engine wrote it. */
export interface StoredVersion extends ResourceKey {
  readonly versionId: string;
  /** Adapter-assigned commit sequence: unique, increases with every write, never reused. */
  readonly seq: number;
  readonly lastUpdated: string;
  readonly method: VersionMethod;
  /** True for the tombstone a soft delete writes. */
  readonly deleted: boolean;
  /**
   * The resource JSON as the engine serialised it (meta included). Present for every version,
   * tombstones included (`{resourceType, id, meta}`). May be undefined on search hits when the
   * query set `keysOnly`.
   */
  readonly json: string | undefined;
}
