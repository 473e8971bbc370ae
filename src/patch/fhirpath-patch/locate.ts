/**
 * Finding the JSON container, key and index of a node selected by a path, on the cloned resource.
 * @packageDocumentation
 */
import { FORBIDDEN_SEGMENTS, forbiddenSegmentError, isJsonObject } from '../guard.js';
import { invalid } from './errors.js';
import type { FpNode } from './evaluate.js';

/** Where a selected element lives in the resource JSON. */
export interface Location {
  container: Record<string, unknown>;
  key: string;
  index: number | null;
  /** Model path of the container (`Patient`, `HumanName`, `Patient.contact`). */
  containerType: string | null;
  /** Property name as the model knows it (choice base name for choice elements). */
  propName: string;
}

/** `value` as a patchable JSON object; 400 otherwise (including `Object.prototype`). */
export function assertSafeObject(value: unknown, where: string): Record<string, unknown> {
  if (!isJsonObject(value) || value === Object.prototype) {
    throw invalid('The path does not select an element that can be patched.', where);
  }
  return value;
}

/** The object holding the children of `node`: its data, or the `_x` companion of a primitive. */
export function childContainer(node: FpNode): Record<string, unknown> | undefined {
  if (isJsonObject(node.data)) return node.data;
  if (isJsonObject(node._data)) return node._data;
  return undefined;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function jsonKey(container: Record<string, unknown>, node: FpNode, where: string): string {
  const prop = node.propName;
  if (prop === null) throw invalid('The path does not select an element that can be patched.', where);
  if (FORBIDDEN_SEGMENTS.has(prop)) throw forbiddenSegmentError(prop, where);
  if (Object.hasOwn(container, prop) || Object.hasOwn(container, `_${prop}`)) return prop;
  const type = node.fhirNodeDataType?.replace(/^System\./, '');
  if (type) {
    const key = prop + capitalize(type);
    if (Object.hasOwn(container, key) || Object.hasOwn(container, `_${key}`)) return key;
  }
  for (const key of Object.keys(container)) {
    const bare = key.startsWith('_') ? key.slice(1) : key;
    if (bare.startsWith(prop) && /^[A-Z]/.test(bare.slice(prop.length))) return bare;
  }
  throw invalid(`Could not locate the element '${prop}' in the resource.`, where);
}

/** Finds the JSON container/key/index of a node; `null` for the resource root. */
export function locate(node: FpNode, root: Record<string, unknown>, where: string): Location | null {
  const parent = node.parentResNode;
  if (!parent) {
    if (node.data === root) return null;
    throw invalid('The path does not select an element that can be patched.', where);
  }
  const container = assertSafeObject(childContainer(parent), where);
  const key = jsonKey(container, node, where);
  const index = node.index;
  if (index !== null && !Array.isArray(container[key]) && !Array.isArray(container[`_${key}`])) {
    throw invalid('The path does not select an element that can be patched.', where);
  }
  if (isJsonObject(node.data)) {
    const actual = index === null ? container[key] : (container[key] as unknown[] | undefined)?.[index];
    if (actual !== node.data) throw invalid('The path does not select an element that can be patched.', where);
  }
  return { container, key, index, containerType: parent.path, propName: node.propName ?? key };
}
