/**
 * JSON Patch (RFC 6902) for FHIR resources, built on `fast-json-patch`.
 * @packageDocumentation
 */
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { z } from 'zod';
import { FhirError, badRequest } from '../errors.js';
import { cloneJson } from '../resource/equal.js';
import type { Resource } from '../resource/resource.js';
import { assertNoProtoKeys, assertPatchResultAllowed, assertSafeSegments, isJsonObject } from './guard.js';

/** The RFC 6902 operation names. */
export const JSON_PATCH_OPS = ['add', 'remove', 'replace', 'move', 'copy', 'test'] as const;
export type JsonPatchOpName = (typeof JSON_PATCH_OPS)[number];

/** One validated JSON Patch operation. */
export interface JsonPatchOperation {
  op: JsonPatchOpName;
  path: string;
  value?: unknown;
  from?: string;
}

/** The content type of a JSON Patch document. */
export const JSON_PATCH_CONTENT_TYPE = 'application/json-patch+json';

const operationShape = z.array(
  z.looseObject({
    op: z.string({ error: "'op' must be a string" }),
    path: z.string({ error: "'path' must be a string (a JSON Pointer)" }),
    from: z.string({ error: "'from' must be a string (a JSON Pointer)" }).optional(),
  }),
  { error: 'A JSON Patch document must be an array of operations.' },
);

/** Members an operation needs, and members that belong only to *other* operations. */
const NEEDS: Record<JsonPatchOpName, { value: boolean; from: boolean }> = {
  add: { value: true, from: false },
  replace: { value: true, from: false },
  test: { value: true, from: false },
  remove: { value: false, from: false },
  move: { value: false, from: true },
  copy: { value: false, from: true },
};

function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function checkPointer(pointer: string, index: number, member: 'path' | 'from'): void {
  if (pointer !== '' && !pointer.startsWith('/')) {
    throw badRequest(`Invalid JSON Patch operation ${index}: '${member}' must be a JSON Pointer starting with '/' (got '${pointer}').`);
  }
  if (/~[^01]|~$/.test(pointer)) {
    throw badRequest(`Invalid JSON Patch operation ${index}: '${member}' contains an invalid '~' escape ('${pointer}').`);
  }
  assertSafeSegments(pointerSegments(pointer), `operation ${index} '${member}'`);
}

/**
 * Validates the shape of a JSON Patch document and returns a deep copy of its operations.
 * Throws `FhirError` 400 `invalid` for a malformed document.
 *
 * Besides RFC 6902's required members, an operation that carries a member belonging only to other
 * operations (`value` on remove/move/copy, `from` on add/replace/test/remove) is refused: this is what
 * a document with two `op` members (RFC 6902 A.13, "duplicate ops" in the json-patch-tests suite)
 * looks like once parsed, and such a document is invalid per the RFC. Truly unknown members
 * (e.g. `"xyz": 123`) are ignored, as RFC 6902 §4 requires.
 */
export function parseJsonPatch(operations: unknown): JsonPatchOperation[] {
  const parsed = operationShape.safeParse(operations);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at operation ${issue.path.join('.')}` : '';
    throw badRequest(`Invalid JSON Patch document${where}: ${issue?.message ?? 'malformed'}`);
  }
  const result: JsonPatchOperation[] = [];
  parsed.data.forEach((raw, index) => {
    const op = raw.op;
    if (!(JSON_PATCH_OPS as readonly string[]).includes(op)) {
      throw badRequest(`Invalid JSON Patch operation ${index}: '${op}' is invalid. Allowed: ${JSON_PATCH_OPS.join(', ')}.`);
    }
    const name = op as JsonPatchOpName;
    const needs = NEEDS[name];
    const hasValue = Object.hasOwn(raw, 'value');
    const hasFrom = Object.hasOwn(raw, 'from');
    if (needs.value && (!hasValue || raw['value'] === undefined)) {
      throw badRequest(`Invalid JSON Patch operation ${index}: '${name}' requires a 'value'.`);
    }
    if (needs.from && !hasFrom) {
      throw badRequest(`Invalid JSON Patch operation ${index}: '${name}' requires a 'from'.`);
    }
    if (!needs.value && hasValue) {
      throw badRequest(`Invalid JSON Patch operation ${index}: '${name}' must not have a 'value' (ambiguous operation).`);
    }
    if (!needs.from && hasFrom) {
      throw badRequest(`Invalid JSON Patch operation ${index}: '${name}' must not have a 'from' (ambiguous operation).`);
    }
    checkPointer(raw.path, index, 'path');
    const operation: JsonPatchOperation = { op: name, path: raw.path };
    if (needs.value) {
      assertNoProtoKeys(raw['value'], `operation ${index} 'value'`);
      operation.value = cloneJson(raw['value']);
    }
    if (needs.from && raw.from !== undefined) {
      checkPointer(raw.from, index, 'from');
      operation.from = raw.from;
    }
    result.push(operation);
  });
  return result;
}

interface PatchErrorLike {
  name: string;
  message: string;
  index?: number;
  operation?: { op?: string; path?: string; from?: string };
}

function isPatchError(error: unknown): error is PatchErrorLike {
  return error instanceof jsonpatch.JsonPatchError;
}

/** RFC 6901 array index: "0" or no leading zero. fast-json-patch accepts "01", the RFC does not. */
function checkArrayIndices(document: unknown, operation: JsonPatchOperation, index: number): void {
  const pointers = operation.from !== undefined ? [operation.path, operation.from] : [operation.path];
  for (const pointer of pointers) {
    let current: unknown = document;
    for (const segment of pointerSegments(pointer)) {
      if (Array.isArray(current)) {
        if (segment !== '-' && !/^(0|[1-9][0-9]*)$/.test(segment)) {
          throw new FhirError(400, 'processing', `JSON Patch operation ${index} (${operation.op}) failed: '${segment}' is not a valid array index in '${pointer}'.`);
        }
        current = segment === '-' ? undefined : current[Number(segment)];
      } else if (isJsonObject(current)) {
        current = Object.hasOwn(current, segment) ? current[segment] : undefined;
      } else {
        break;
      }
    }
  }
}

/** Options of {@link applyJsonPatchToDocument}. */
export interface JsonPatchOptions {
  /** Most characters of JSON that the `copy` operations of one patch may copy, together. Default 16 Mi. */
  readonly maxCopiedChars?: number;
}

const DEFAULT_MAX_COPIED_CHARS = 16 * 1024 * 1024;

/** The length of the JSON text of the value at `pointer`; 0 when there is none (the operation then fails on its own). */
function copiedChars(document: unknown, pointer: string): number {
  try {
    return JSON.stringify(jsonpatch.getValueByPointer(document, pointer))?.length ?? 0;
  } catch {
    return 0;
  }
}

/**
 * Applies a JSON Patch to any JSON document, without FHIR-specific checks. Pure: neither `document`
 * nor `operations` is mutated. Throws only `FhirError`:
 * - malformed patch document → 400 `invalid`;
 * - failing `test` operation → 400 `processing` (what Microsoft's FHIR service returns for a failed
 *   test; not 409/422);
 * - path not found or any other apply error → 400 `processing`.
 */
export function applyJsonPatchToDocument(document: unknown, operations: unknown, options: JsonPatchOptions = {}): unknown {
  const ops = parseJsonPatch(operations);
  const maxCopied = options.maxCopiedChars ?? DEFAULT_MAX_COPIED_CHARS;
  let copied = 0;
  let current: unknown = cloneJson(document);
  ops.forEach((operation, index) => {
    checkArrayIndices(current, operation, index);
    if (operation.op === 'copy') {
      // `copy` into its own source doubles the document: 30 such operations in a 2 KB patch were
      // a billion nodes (the process ran out of memory). What all copies add together is bounded.
      copied += copiedChars(current, operation.from!);
      if (copied > maxCopied) {
        throw new FhirError(400, 'too-costly', `The JSON Patch copies more than ${maxCopied} characters of JSON (operation ${index}).`);
      }
    }
    try {
      const result = jsonpatch.applyOperation(current, operation as Operation, true, true, true, index);
      current = result.newDocument;
    } catch (error) {
      throw translatePatchError(error, operation, index);
    }
  });
  return current;
}

function translatePatchError(error: unknown, operation: JsonPatchOperation, index: number): FhirError {
  if (error instanceof FhirError) return error;
  const where = `JSON Patch operation ${index} (${operation.op} '${operation.path}'${operation.from !== undefined ? ` from '${operation.from}'` : ''})`;
  if (isPatchError(error)) {
    switch (error.name) {
      case 'TEST_OPERATION_FAILED':
        // 400 `processing`, as Microsoft's FHIR service answers a failed `test` (not 409 or 422).
        return new FhirError(400, 'processing', `${where} failed: the test did not match the current value.`);
      case 'OPERATION_PATH_UNRESOLVABLE':
      case 'OPERATION_FROM_UNRESOLVABLE':
        return new FhirError(400, 'processing', `${where} failed: the path does not exist in the resource.`);
      case 'OPERATION_PATH_CANNOT_ADD':
        return new FhirError(400, 'processing', `${where} failed: the parent of the target path does not exist.`);
      case 'OPERATION_VALUE_OUT_OF_BOUNDS':
        return new FhirError(400, 'processing', `${where} failed: the array index is out of bounds.`);
      case 'OPERATION_PATH_ILLEGAL_ARRAY_INDEX':
        return new FhirError(400, 'processing', `${where} failed: invalid array index.`);
      case 'OPERATION_VALUE_CANNOT_CONTAIN_UNDEFINED':
      case 'OPERATION_VALUE_REQUIRED':
      case 'OPERATION_FROM_REQUIRED':
      case 'OPERATION_PATH_INVALID':
      case 'OPERATION_OP_INVALID':
      case 'OPERATION_NOT_AN_OBJECT':
      case 'SEQUENCE_NOT_AN_ARRAY':
        return badRequest(`Invalid ${where}: ${error.message}`);
      default:
        return new FhirError(400, 'processing', `${where} failed: ${error.message}`);
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  return new FhirError(400, 'processing', `${where} failed: ${message}`);
}

/**
 * Applies a JSON Patch (RFC 6902) to a FHIR resource and returns the patched copy; the input is not
 * mutated. Besides the errors of {@link applyJsonPatchToDocument}, refuses (400 `invalid`, "Patching
 * immutable properties is not allowed.") any change to `resourceType`, `id`, `meta.versionId`,
 * `meta.lastUpdated`, `text.div`, `text.status`, and refuses `__proto__`/`constructor`/`prototype`
 * path segments. A patch that changes nothing returns a resource deep-equal to the input.
 */
export function applyJsonPatch(resource: Resource, operations: unknown, options: JsonPatchOptions = {}): Resource {
  const patched = applyJsonPatchToDocument(resource, operations, options);
  assertPatchResultAllowed(resource, patched);
  return patched;
}

/**
 * Extracts the JSON Patch document carried by a `Binary` resource (how a JSON Patch travels in a
 * Bundle entry with `request.method = PATCH`): `contentType` must be `application/json-patch+json`
 * (case-insensitive, parameters such as `; charset=utf-8` allowed) and `data` the base64-encoded
 * patch. Throws `FhirError` 400 `invalid` otherwise. The returned value is then passed to
 * {@link applyJsonPatch}; the Binary itself is never stored.
 */
export function jsonPatchFromBinary(binary: Resource): unknown {
  if (binary.resourceType !== 'Binary') {
    throw badRequest(`Expected a Binary resource carrying a JSON Patch, got '${binary.resourceType}'.`);
  }
  const contentType = binary['contentType'];
  const mediaType = typeof contentType === 'string' ? contentType.split(';')[0]?.trim().toLowerCase() : undefined;
  if (mediaType !== JSON_PATCH_CONTENT_TYPE) {
    throw badRequest(
      `A Binary used as a patch must have contentType '${JSON_PATCH_CONTENT_TYPE}' (got '${String(contentType)}').`,
    );
  }
  const data = binary['data'];
  if (typeof data !== 'string' || data.trim() === '') {
    throw badRequest('The Binary JSON Patch has no data.');
  }
  if (!/^[A-Za-z0-9+/=\s_-]*$/.test(data)) {
    throw badRequest('The Binary JSON Patch data is not valid base64.');
  }
  const text = Buffer.from(data, 'base64').toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw badRequest(`The Binary JSON Patch data is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}
