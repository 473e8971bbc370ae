/**
 * The errors of FHIRPath Patch: 400 `invalid` with the offending parameter as the issue expression.
 * @packageDocumentation
 */
import { FhirError } from '../../errors.js';

/** A 400 `invalid` error, pointing at the operation parameter `expression` when given. */
export function invalid(diagnostics: string, expression?: string): FhirError {
  return new FhirError(400, 'invalid', diagnostics, expression ? { expression: [expression] } : {});
}

/** The Microsoft-style suffix of runtime errors: " at {path} when processing patch {type} operation." */
export function describe(_where: string, path: string, type: string): string {
  return ` at ${path} when processing patch ${type} operation.`;
}
