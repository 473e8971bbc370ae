/**
 * FHIRPath Patch (http://hl7.org/fhir/R4/fhirpatch.html): a `Parameters` resource whose `operation`
 * parameters add, insert, delete, replace or move elements located by FHIRPath expressions.
 *
 * Technique: every path is evaluated with the `fhirpath` package (R4 model) with
 * `resolveInternalTypes: false`, which returns the library's `ResourceNode`s. Each node knows its
 * parent node, its property name (`propName`, the choice base name for choice elements) and its
 * array index, and — for objects — its `data` is the very object inside the (cloned) resource. That
 * is enough to find the JSON container, key and index of every selected element and edit it in place
 * on the clone. The R4 model (`path2Type`, `path2Repeating`, `choiceTypePaths`, `type2Parent`) tells
 * whether a new element repeats, and turns a choice base name (`time` + `valueDateTime`) into the
 * JSON key (`timeDateTime`).
 * @packageDocumentation
 */
import { FhirError } from '../../errors.js';
import type { Resource } from '../../resource/resource.js';
import { assertPatchResultAllowed, isJsonObject } from '../guard.js';
import { invalid } from './errors.js';
import { parseParameters } from './parse.js';
import { applyOperation } from './operations.js';

export { FHIRPATH_PATCH_OPERATION_TYPES, type FhirPathPatchOperationType } from './parse.js';

/**
 * Applies a FHIRPath Patch without the immutable-element checks (used for the HL7 conformance
 * corpus, which replaces `text.div`). Pure: the input is deep-cloned first. Throws only `FhirError`
 * (400 `invalid` with an OperationOutcome issue whose expression points at the offending parameter).
 */
export function applyFhirPathPatchUnguarded(resource: Resource, parameters: unknown): Resource {
  const operations = parseParameters(parameters);
  const root = structuredClone(resource) as Resource;
  if (!isJsonObject(root)) throw invalid('The resource to patch must be a JSON object.');
  for (const op of operations) {
    try {
      applyOperation(root, op);
    } catch (error) {
      if (error instanceof FhirError) throw error;
      // Never let a raw exception escape (e.g. from fhirpath.js on an unusual expression).
      throw new FhirError(400, 'processing', `Error applying patch ${op.type} operation at ${String(op.path)}: ${error instanceof Error ? error.message : String(error)}`, {
        expression: [op.where],
      });
    }
  }
  return root;
}

/**
 * Applies a FHIRPath Patch (`Parameters` with `operation` parameters) to a resource and returns the
 * patched copy; the input is never mutated. Refuses (400 `invalid`, "Patching immutable properties is
 * not allowed.") any change to `resourceType`, `id`, `meta.versionId`, `meta.lastUpdated`,
 * `text.div`, `text.status`. A patch that changes nothing returns a resource deep-equal to the input.
 */
export function applyFhirPathPatch(resource: Resource, parameters: unknown): Resource {
  const patched = applyFhirPathPatchUnguarded(resource, parameters);
  assertPatchResultAllowed(resource, patched);
  return patched;
}
