/**
 * Validation issues as the engine answers them: a 400 `FhirError` for a write, an OperationOutcome
 * for `$validate`.
 * @packageDocumentation
 */
import { FhirError, operationOutcome } from '../errors.js';
import type { OperationOutcome, OperationOutcomeIssue } from '../resource/resource.js';
import { validateResource, type ValidationIssue, type ValidationOptions } from './validate.js';

/** The 400 error for an invalid resource: one OperationOutcome listing every issue. `issues` must not be empty. */
export function invalidResourceError(issues: readonly ValidationIssue[]): FhirError {
  const [first, ...rest] = issues;
  if (!first) throw new TypeError('invalidResourceError needs at least one issue');
  return new FhirError(400, first.code, first.diagnostics, {
    ...(first.expression ? { expression: first.expression } : {}),
    issues: rest,
  });
}

/** Throws {@link invalidResourceError} unless `resource` is valid; see {@link validateResource}. */
export function assertValidResource(resource: unknown, options?: ValidationOptions): void {
  const issues = validateResource(resource, options);
  if (issues.length > 0) throw invalidResourceError(issues);
}

/** The OperationOutcome of `$validate`: the issues, or one information issue "All OK" when there are none. */
export function validationOutcome(issues: readonly OperationOutcomeIssue[]): OperationOutcome {
  return operationOutcome(issues.length > 0 ? issues : [{ severity: 'information', code: 'informational', diagnostics: 'All OK' }]);
}
