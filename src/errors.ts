import type { IssueCode, OperationOutcome, OperationOutcomeIssue } from './resource/resource.js';

/**
 * An error a client caused (or a server failure), carrying the HTTP status and the
 * OperationOutcome issue that explain it. Every engine method throws only this for FHIR errors;
 * `engine.handle()` turns it into a response.
 *
 * @example
 * ```ts
 * throw new FhirError(412, 'conflict', "The supplied version '2' did not match.");
 * ```
 */
export class FhirError extends Error {
  /** Marks a FhirError from any copy of this package (its ESM and CommonJS builds are two): see {@link isFhirError}. */
  readonly code = 'FHIR_ERROR' as const;
  /** Extra headers for the error response, e.g. the ETag of a deleted resource on 410. */
  readonly headers: Readonly<Record<string, string>>;
  readonly issues: readonly OperationOutcomeIssue[];

  constructor(
    readonly status: number,
    code: IssueCode,
    diagnostics: string,
    options: { expression?: string[]; headers?: Record<string, string>; issues?: OperationOutcomeIssue[] } = {},
  ) {
    super(diagnostics);
    this.name = 'FhirError';
    this.headers = options.headers ?? {};
    const first: OperationOutcomeIssue = { severity: 'error', code, diagnostics };
    if (options.expression) first.expression = options.expression;
    this.issues = [first, ...(options.issues ?? [])];
  }

  /** The OperationOutcome a client receives. */
  toOperationOutcome(): OperationOutcome {
    return operationOutcome(this.issues);
  }
}

/**
 * True for a {@link FhirError} from any copy of this package: the ESM and CommonJS builds each
 * have their own class, so `instanceof` fails across them (a CommonJS dependency's error seen from
 * an ES module); this checks the error's `code` and shape instead.
 *
 * @example
 * ```ts
 * try { await engine.read('Patient', id); } catch (error) {
 *   if (isFhirError(error) && error.status === 404) return undefined;
 *   throw error;
 * }
 * ```
 */
export function isFhirError(error: unknown): error is FhirError {
  if (error instanceof FhirError) return true;
  if (typeof error !== 'object' || error === null) return false;
  const e = error as Partial<FhirError>;
  return e.code === 'FHIR_ERROR' && typeof e.status === 'number' && Array.isArray(e.issues) && typeof e.toOperationOutcome === 'function';
}

/** Builds an OperationOutcome from issues. */
export function operationOutcome(issues: readonly OperationOutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues.map((issue) => ({ ...issue })) };
}

/** 400 `invalid`: the request is malformed. */
export const badRequest = (diagnostics: string, expression?: string[]): FhirError =>
  new FhirError(400, 'invalid', diagnostics, expression ? { expression } : {});

/** 404 `not-found`. */
export const notFound = (diagnostics: string): FhirError => new FhirError(404, 'not-found', diagnostics);

/** 412 `conflict`: a precondition (If-Match, conditional criteria) did not hold. */
export const preconditionFailed = (diagnostics: string): FhirError =>
  new FhirError(412, 'conflict', diagnostics);

/** 422 `processing`: the request is well-formed but cannot be applied. */
export const unprocessable = (diagnostics: string, expression?: string[]): FhirError =>
  new FhirError(422, 'processing', diagnostics, expression ? { expression } : {});
