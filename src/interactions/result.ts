/**
 * What an interaction answers, free of any transport: what happened, the version written or read,
 * and the body. The FHIR REST status of a result is decided here, once, because both the HTTP edge
 * and `Bundle.entry.response.status` need it; headers and wire text are the HTTP edge's.
 * @packageDocumentation
 */
import { FhirError, isFhirError } from '../errors.js';
import type { OperationOutcome, Resource } from '../resource/resource.js';
import type { ExportManifest } from '../export/manifest.js';
import type { JobRecord } from '../storage/job-record.js';
import { isStorageConflict, type StorageConflictError, type StoredVersion } from '../storage/storage-adapter.js';
import type { Preferences } from './request.js';

/**
 * JSON text standing for a resource or Bundle, kept as it was stored or serialised so that it can
 * be sent on without parsing it and writing it out again; `value` is the parsed form when the
 * producer had it at hand anyway (a write).
 */
export class JsonText {
  constructor(
    readonly text: string,
    readonly value?: Resource,
  ) {}

  /** The parsed form. */
  parse(): Resource {
    return this.value ?? (JSON.parse(this.text) as Resource);
  }
}

/** A body: a resource (or Bundle) as an object, or as JSON text. */
export type Body = Resource | JsonText;

/** The parsed form of a body. */
export const objectOf = (body: Body): Resource => (body instanceof JsonText ? body.parse() : body);

/** What a write did. */
export type WriteKind = 'created' | 'updated' | 'unchanged' | 'matched';

/** create, update, patch and their conditional forms. */
export interface WriteOutcome {
  /** `created` (201), `updated`, `unchanged` (no new version) or `matched` (conditional create found one). */
  readonly outcome: WriteKind;
  /** The version written (or, for `unchanged` and `matched`, the current one); `json` is its text. */
  readonly version: StoredVersion;
  /** The same resource, parsed. */
  readonly resource: Resource;
}

/** read and vread. */
export interface ReadOutcome {
  readonly outcome: 'read';
  /** The version read; `json` is sent as it is. */
  readonly version: StoredVersion;
}

/** delete and conditional delete. */
export interface DeleteOutcome {
  readonly outcome: 'deleted';
  /** Resources deleted (0 when there was nothing to delete). */
  readonly deleted: number;
  /** The tombstone written by a soft delete of a single resource. */
  readonly version?: StoredVersion;
  /** The client asked for a count (`_count` of a conditional delete): report how many were deleted. */
  readonly counted?: boolean;
}

/** `$purge-history`. */
export interface PurgeOutcome {
  readonly outcome: 'purged';
  /** Versions removed. */
  readonly removed: number;
}

/** An interaction whose answer is a resource: a Bundle, the CapabilityStatement, an OperationOutcome. */
export interface BodyOutcome {
  readonly outcome: 'searchset' | 'history' | 'batch-response' | 'transaction-response' | 'capabilities' | 'operation-outcome';
  readonly body: Body;
}

/** An asynchronous operation accepted as a job (`$bulk-delete` kick-off). */
export interface JobAccepted {
  readonly outcome: 'job-accepted';
  readonly job: JobRecord;
  /** Where the job's status is polled (the `Content-Location` of the 202). */
  readonly statusUrl: string;
}

/** The status of a job, with its report (a `Parameters`, or an OperationOutcome for a failed one). */
export interface JobStatus {
  readonly outcome: 'job-status';
  readonly job: JobRecord;
  readonly body: Resource;
  /** What `X-Progress` says while the job runs; default `in progress`. */
  readonly progress?: string;
  /** Seconds a client should wait before polling again (`Retry-After`) while the job runs. */
  readonly retryAfter?: number;
}

/** The manifest of a completed bulk export (plain JSON, not a FHIR resource). */
export interface ExportManifestOutcome {
  readonly outcome: 'export-manifest';
  readonly manifest: ExportManifest;
}

/** An NDJSON file of a bulk export, read as it is sent. */
export interface NdjsonOutcome {
  readonly outcome: 'ndjson';
  readonly content: AsyncIterable<Uint8Array>;
}

/** A job's cancellation was requested. */
export interface JobCancelRequested {
  readonly outcome: 'job-cancel-requested';
  readonly job: JobRecord;
}

/** The transport-free result of any interaction. */
export type InteractionResult =
  | WriteOutcome
  | ReadOutcome
  | DeleteOutcome
  | PurgeOutcome
  | BodyOutcome
  | JobAccepted
  | JobStatus
  | JobCancelRequested
  | ExportManifestOutcome
  | NdjsonOutcome;

/** The FHIR REST status of a result (http.html): 201 for a create, 204 for a delete, 202 for accepted work… */
export function statusOf(result: InteractionResult): number {
  switch (result.outcome) {
    case 'created':
      return 201;
    case 'deleted':
    case 'purged':
      return 204;
    case 'job-accepted':
    case 'job-cancel-requested':
      return 202;
    case 'job-status':
      return result.job.status === 'failed' ? 500 : result.job.status === 'completed' || result.job.status === 'cancelled' ? 200 : 202;
    default:
      return 200;
  }
}

/**
 * The body a result answers with: for a write, the one `Prefer: return` asks for (the resource by
 * default, nothing for `minimal`, an informational OperationOutcome); otherwise its resource,
 * Bundle or report. Undefined when there is none (204, `return=minimal`).
 */
export function bodyOf(result: InteractionResult, prefer: Preferences | undefined): Body | undefined {
  switch (result.outcome) {
    case 'created':
    case 'updated':
    case 'unchanged':
    case 'matched': {
      if (prefer?.return === 'minimal') return undefined;
      const v = result.version;
      if (prefer?.return === 'OperationOutcome') {
        const outcome: OperationOutcome = {
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'information',
              code: 'informational',
              diagnostics: `${v.type}/${v.id} version ${v.versionId}: ${result.outcome === 'created' ? 'created' : 'ok'}.`,
            },
          ],
        };
        return outcome;
      }
      // The stored JSON is the resource as written: it goes out without serialising it again.
      return new JsonText(v.json!, result.resource);
    }
    case 'read':
      return new JsonText(result.version.json!);
    case 'deleted':
    case 'purged':
    case 'job-accepted':
    case 'job-cancel-requested':
    case 'ndjson':
      return undefined;
    case 'export-manifest':
      // JSON, though no resource: the HTTP edge sends it as application/json.
      return new JsonText(JSON.stringify(result.manifest), result.manifest as unknown as Resource);
    default:
      return result.body;
  }
}

/**
 * A storage conflict that reached the edge of an interaction (a deadlock in `lock()` or a read, a
 * serialization failure at commit, a job revision that moved) as the 409 it is: nothing was written,
 * and the request may be sent again. 409 rather than 503: the clash is with another request, not a
 * server that is unavailable (Microsoft's service answers 409 for its SQL conflicts too). A version
 * expectation that failed under If-Match never gets here: `commitVersion` makes it the 412.
 */
export function conflictError(error: StorageConflictError): FhirError {
  return error.transient
    ? new FhirError(409, 'transient', 'The request clashed with another one running at the same time and was rolled back; nothing was changed. Retry it.')
    : new FhirError(409, 'conflict', 'Something the request relied on was changed concurrently by another request; nothing was changed. Retry it.');
}

/**
 * Any thrown value as a FhirError: a FhirError as it is; a storage conflict as a 409
 * ({@link conflictError}); anything else is reported to `onUnexpected` and becomes a bare 500 that
 * tells nothing about internals.
 */
export function fhirErrorOf(error: unknown, onUnexpected: (error: unknown) => void): FhirError {
  // A hook's FhirError may come from the package's other build (ESM or CommonJS).
  if (isFhirError(error)) return error;
  if (isStorageConflict(error)) return conflictError(error);
  onUnexpected(error);
  return new FhirError(500, 'exception', 'An unexpected error occurred while processing the request.');
}
