/**
 * Structural validation against the FHIR R4 (4.0.1) base definitions.
 * @packageDocumentation
 */
export {
  validateResource,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_ISSUES,
  type ValidationIssue,
  type ValidationIssueCode,
  type ValidationOptions,
} from './validate.js';
export { assertValidResource, invalidResourceError, validationOutcome } from './outcome.js';
export { RESOURCE_TYPES, mandatoryElements } from './definitions.js';
