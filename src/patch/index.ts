/**
 * Pure patch functions: JSON Patch (RFC 6902) and FHIRPath Patch, with the shared guards.
 * @packageDocumentation
 */
export {
  applyJsonPatch,
  applyJsonPatchToDocument,
  jsonPatchFromBinary,
  parseJsonPatch,
  JSON_PATCH_CONTENT_TYPE,
  JSON_PATCH_OPS,
} from './json-patch.js';
export type { JsonPatchOperation, JsonPatchOpName, JsonPatchOptions } from './json-patch.js';
export {
  applyFhirPathPatch,
  applyFhirPathPatchUnguarded,
  FHIRPATH_PATCH_OPERATION_TYPES,
} from './fhirpath-patch/index.js';
export type { FhirPathPatchOperationType } from './fhirpath-patch/index.js';
export {
  assertPatchResultAllowed,
  assertSafeSegments,
  assertNoProtoKeys,
  FORBIDDEN_SEGMENTS,
  IMMUTABLE_ELEMENTS,
  IMMUTABLE_MESSAGE,
} from './guard.js';
