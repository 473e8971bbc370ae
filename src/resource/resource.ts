/**
 * The minimal shape of a FHIR resource the engine relies on. Everything else is carried as JSON.
 * @packageDocumentation
 */

/** `Resource.meta`, as far as the engine reads or writes it. */
export interface Meta {
  versionId?: string;
  lastUpdated?: string;
  source?: string;
  profile?: string[];
  tag?: Coding[];
  security?: Coding[];
}

/** A FHIR Coding. */
export interface Coding {
  system?: string;
  version?: string;
  code?: string;
  display?: string;
}

/** Any FHIR resource: a JSON object with a `resourceType`. */
export interface Resource {
  resourceType: string;
  id?: string;
  meta?: Meta;
  [element: string]: unknown;
}

/** An OperationOutcome issue. */
export interface OperationOutcomeIssue {
  severity: 'fatal' | 'error' | 'warning' | 'information';
  code: IssueCode;
  diagnostics?: string;
  expression?: string[];
}

/** An OperationOutcome resource. */
export interface OperationOutcome extends Resource {
  resourceType: 'OperationOutcome';
  issue: OperationOutcomeIssue[];
}

/** FHIR issue type codes the engine uses (http://hl7.org/fhir/valueset-issue-type.html). */
export type IssueCode =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'invariant'
  | 'processing'
  | 'not-supported'
  | 'duplicate'
  | 'not-found'
  | 'deleted'
  | 'too-long'
  | 'too-costly'
  | 'conflict'
  | 'transient'
  | 'exception'
  | 'informational'
  | 'business-rule'
  | 'forbidden'
  | 'security'
  | 'login'
  | 'incomplete';
