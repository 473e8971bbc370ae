/**
 * The manifest of a completed bulk export (Bulk Data Access IG v2, "Response - Complete Status"):
 * plain JSON (`application/json`), not a FHIR resource.
 * @packageDocumentation
 */

/** One output file: the resources of one type. */
export interface ExportManifestOutput {
  readonly type: string;
  /** Where the file is served (`[base]/_operations/export/[job]/[Type].ndjson`). */
  readonly url: string;
  /** Resources in the file. */
  readonly count: number;
}

/** The manifest a completed export's status URL answers with. */
export interface ExportManifest {
  /** The submission time: the export holds no change made after it. */
  readonly transactionTime: string;
  /** The kick-off request URL. */
  readonly request: string;
  /** Whether the files need the access token of the kick-off (the engine does no authorisation: false). */
  readonly requiresAccessToken: boolean;
  /** One entry per type with at least one resource. */
  readonly output: readonly ExportManifestOutput[];
  /** Files of OperationOutcomes for errors; an export that completed has none. */
  readonly error: readonly ExportManifestOutput[];
}
