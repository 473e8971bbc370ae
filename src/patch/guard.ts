/**
 * Checks shared by JSON Patch and FHIRPath Patch: immutable elements, resource identity and
 * prototype-pollution defences.
 * @packageDocumentation
 */
import { jsonEqual } from '../resource/equal.js';
import { FhirError } from '../errors.js';
import type { Resource } from '../resource/resource.js';

/** The diagnostics text used (verbatim, as Microsoft's FHIR service does) for immutable elements. */
export const IMMUTABLE_MESSAGE = 'Patching immutable properties is not allowed.';

/**
 * Elements a patch may not change. `id`, `meta.versionId`, `meta.lastUpdated` are managed by the
 * server; `text.div` and `text.status` follow Microsoft's FHIR service; `resourceType` cannot change
 * the identity of the resource. `meta.tag`, `meta.security`, `meta.profile` etc. MAY be patched.
 */
export const IMMUTABLE_ELEMENTS: readonly (readonly string[])[] = [
  ['resourceType'],
  ['id'],
  ['meta', 'versionId'],
  ['meta', 'lastUpdated'],
  ['text', 'div'],
  ['text', 'status'],
];

/** Path segments / property names that are refused everywhere (prototype pollution). */
export const FORBIDDEN_SEGMENTS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** True for a non-null, non-array object (the JSON notion of an object). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function getPath(value: unknown, path: readonly string[]): unknown {
  let current: unknown = value;
  for (const segment of path) {
    if (!isJsonObject(current) || !Object.hasOwn(current, segment)) return undefined;
    current = current[segment];
  }
  return current;
}

/** A 400 `invalid` error for a forbidden (prototype-polluting) property name. */
export function forbiddenSegmentError(segment: string, where: string): FhirError {
  return new FhirError(
    400,
    'invalid',
    `The property name '${segment}' is not allowed in a patch (${where}).`,
  );
}

/** Throws 400 if any of `segments` is `__proto__`, `constructor` or `prototype`. */
export function assertSafeSegments(segments: readonly string[], where: string): void {
  for (const segment of segments) {
    if (FORBIDDEN_SEGMENTS.has(segment)) throw forbiddenSegmentError(segment, where);
  }
}

/**
 * Throws 400 if a JSON value carries an own `__proto__` key anywhere (possible after
 * `JSON.parse`). Such a value is harmless to us but dangerous to any naive merge downstream.
 */
export function assertNoProtoKeys(value: unknown, where: string): void {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (Array.isArray(current)) {
      for (const item of current) stack.push(item);
    } else if (isJsonObject(current)) {
      for (const key of Object.keys(current)) {
        if (key === '__proto__') throw forbiddenSegmentError(key, where);
        stack.push(current[key]);
      }
    }
  }
}

/**
 * Checks a patch result against the original resource: it must still be a resource object of the same
 * `resourceType` with the same `id`, and no immutable element may have changed (added, removed or
 * modified). Throws `FhirError` 400 `invalid` "Patching immutable properties is not allowed.".
 */
export function assertPatchResultAllowed(original: Resource, patched: unknown): asserts patched is Resource {
  if (!isJsonObject(patched) || typeof patched['resourceType'] !== 'string') {
    throw new FhirError(400, 'invalid', 'The patched document is not a FHIR resource (a JSON object with a resourceType).');
  }
  for (const path of IMMUTABLE_ELEMENTS) {
    if (!jsonEqual(getPath(original, path), getPath(patched, path))) {
      throw new FhirError(400, 'invalid', IMMUTABLE_MESSAGE, { expression: [[original.resourceType, ...path].join('.')] });
    }
  }
}
