/**
 * What a `bulk-delete` job is asked (the typed request) and what it stores (parameters and cursor):
 * apart from the handler, so that the handler's parts import the types without a cycle.
 * @packageDocumentation
 */
import type { IncludeSpec } from '../search/parse.js';
import type { Clause } from '../storage/query.js';

/** The job kind. */
export const BULK_DELETE = 'bulk-delete';

/** Search criteria: a query string (`_tag=x&identifier=y`), name/value pairs, or a record. */
export type CriteriaInput = string | readonly (readonly [string, string])[] | Readonly<Record<string, string>>;

/** A bulk-delete request, as the typed API takes it. */
export interface BulkDeleteRequest {
  /** A resource type (`Patient/$bulk-delete`), or undefined for every type (`$bulk-delete`). */
  readonly type?: string;
  /** FHIR search criteria; none = every resource of the type(s). */
  readonly criteria?: CriteriaInput;
  /** Remove every version (read → 404). Wins over `purgeHistory`. Default false. */
  readonly hardDelete?: boolean;
  /** Keep the current version, remove the older ones. Default false. */
  readonly purgeHistory?: boolean;
  /** Types never touched (system level); neither matched nor included. */
  readonly excludedResourceTypes?: readonly string[];
  /**
   * With `hardDelete`: every resource that refers to a deleted one gets a new version in which that
   * reference is `{ display: "Referenced resource deleted" }` (Microsoft's `_remove-references`).
   * Ignored for soft deletes and history purges, as there. Default false.
   */
  readonly removeReferences?: boolean;
}

/** How matches are deleted. */
export type BulkDeleteMode = 'soft' | 'hard' | 'purge-history';

/** A bulk-delete job's fixed parameters (stored with the job). */
export interface BulkDeleteParams {
  /** `system` for `$bulk-delete`, `type` for `Type/$bulk-delete`. */
  readonly level: 'system' | 'type';
  readonly type?: string;
  /** The criteria as submitted. */
  readonly criteria: readonly (readonly [string, string])[];
  readonly mode: BulkDeleteMode;
  readonly excludedResourceTypes: readonly string[];
  /** Types searched, exclusions removed. */
  readonly types: readonly string[];
  /** The criteria as clauses, chains and `_has` resolved at submit. */
  readonly where: readonly Clause[];
  /** Snapshot: only resources whose current version has `seq <= maxSeq`. */
  readonly maxSeq: number;
  /** `_include` of the criteria: what the matches refer to is deleted too. */
  readonly include?: readonly IncludeSpec[];
  /** `_revinclude` of the criteria: what refers to the matches is deleted too. */
  readonly revinclude?: readonly IncludeSpec[];
  /** Rewrite the references to deleted resources (hard deletes only). */
  readonly removeReferences?: boolean;
}

/** A bulk-delete job's cursor: the keyset position of the last processed hit. */
export interface BulkDeleteState {
  readonly after?: string;
  /** Matches per unit when includes are deleted too (halved while a chunk's includes do not fit). */
  readonly width?: number;
  /** Purge-history mode with includes: the included resources processed so far (`Type/id`). */
  readonly purged?: readonly string[];
}
