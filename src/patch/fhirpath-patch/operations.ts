/**
 * The five operations (add, insert, delete, replace, move) on the cloned resource.
 * @packageDocumentation
 */
import { isJsonObject } from '../guard.js';
import { childTypePath, lookupElement, type ElementDef } from './model.js';
import { describe, invalid } from './errors.js';
import type { ParsedOperation, PatchValue } from './parse.js';
import { evaluatePath, type FpNode } from './evaluate.js';
import { assertSafeObject, childContainer, locate, type Location } from './locate.js';
import { checkValueShape, materialise, resolveName } from './values.js';
import { cleanUp, listLength, spliceList } from './lists.js';

function single(nodes: FpNode[], op: ParsedOperation, path: string): FpNode {
  const node = nodes[0];
  if (!node) throw invalid(`No content found${describe(op.where, path, op.type)}`, op.where);
  if (nodes.length > 1) throw invalid(`Multiple elements found${describe(op.where, path, op.type)}`, op.where);
  return node;
}

function doAdd(root: Record<string, unknown>, op: ParsedOperation, path: string): void {
  const node = single(evaluatePath(root, path, op.where), op, path);
  const value = op.value as PatchValue;
  const name = op.name as string;
  let target: Record<string, unknown>;
  if (isJsonObject(node.data)) {
    target = assertSafeObject(node.data, op.where);
  } else {
    // Adding a child (extension, id) to a primitive: it goes into the `_x` companion object.
    const location = locate(node, root, op.where);
    if (!location) throw invalid(`Cannot add to the resource root${describe(op.where, path, op.type)}`, op.where);
    const { container, key, index } = location;
    if (index === null) {
      target = assertSafeObject((container[`_${key}`] ??= {}), op.where);
    } else {
      const length = listLength(container, key);
      const ext = (container[`_${key}`] ??= Array.from({ length }, () => null)) as unknown[];
      while (ext.length < length) ext.push(null);
      target = assertSafeObject((ext[index] ??= {}), op.where);
    }
  }
  const { key, def } = resolveName(node.path, name, value.suffix, op.where, path, op.type);
  const json = materialise(value, childTypePath(def, value.suffix), op.where, path, op.type);
  checkValueShape(def, value.suffix, json, name, op.where, path, op.type);
  const repeating = def?.repeating ?? Array.isArray(target[key]);
  if (repeating) {
    if (target[key] !== undefined && !Array.isArray(target[key])) {
      throw invalid(`Existing element ${name} is not a list${describe(op.where, path, op.type)}`, op.where);
    }
    spliceList(target, key, listLength(target, key), 0, [{ value: json, extension: value.extension }]);
    return;
  }
  const base = def?.choiceTypes ? name : undefined;
  const exists = Object.keys(target).some((k) => {
    const bare = k.startsWith('_') ? k.slice(1) : k;
    return bare === key || (base !== undefined && def?.choiceTypes?.some((t) => bare === base + t));
  });
  if (exists) throw invalid(`Existing element ${name} found${describe(op.where, path, op.type)}`, op.where);
  if (json !== null) target[key] = json;
  if (value.extension !== undefined) target[`_${key}`] = value.extension;
}

function doDelete(root: Record<string, unknown>, op: ParsedOperation, path: string): void {
  const nodes = evaluatePath(root, path, op.where);
  if (nodes.length === 0) return; // the spec: deleting nothing is not an error
  if (nodes.length > 1) throw invalid(`Multiple elements found${describe(op.where, path, op.type)}`, op.where);
  const location = locate(nodes[0] as FpNode, root, op.where);
  if (!location) throw invalid(`Cannot delete the resource itself${describe(op.where, path, op.type)}`, op.where);
  const { container, key, index } = location;
  if (index === null) {
    delete container[key];
    delete container[`_${key}`];
  } else {
    spliceList(container, key, index, 1, []);
  }
  pruneEmptyAncestors(nodes[0] as FpNode, root, op.where);
}

/** FHIR JSON has no empty objects: after a delete, remove ancestors the delete left empty. */
function pruneEmptyAncestors(node: FpNode, root: Record<string, unknown>, where: string): void {
  let current = node.parentResNode;
  while (current?.parentResNode) {
    const object = childContainer(current);
    if (!object || Object.keys(object).length > 0) return;
    const location = locate(current, root, where);
    if (!location) return;
    const { container, key, index } = location;
    const companionKey = `_${key}`;
    if (index === null) {
      if (container[key] === object) delete container[key];
      else if (container[companionKey] === object) delete container[companionKey];
    } else if (Array.isArray(container[key]) && (container[key] as unknown[])[index] === object) {
      spliceList(container, key, index, 1, []);
    } else if (Array.isArray(container[companionKey]) && (container[companionKey] as unknown[])[index] === object) {
      (container[companionKey] as unknown[])[index] = null;
      cleanUp(container, key);
    }
    current = current.parentResNode;
  }
}

function doReplace(root: Record<string, unknown>, op: ParsedOperation, path: string): void {
  const node = single(evaluatePath(root, path, op.where), op, path);
  const location = locate(node, root, op.where);
  if (!location) throw invalid(`Cannot replace the resource itself${describe(op.where, path, op.type)}`, op.where);
  const { container, key, index, containerType, propName } = location;
  const value = op.value as PatchValue;
  const def = lookupElement(containerType, propName);
  let newKey = key;
  if (def?.choiceTypes) {
    if (!value.suffix || !def.choiceTypes.includes(value.suffix)) {
      throw invalid(`Invalid input for ${propName}${describe(op.where, path, op.type)}`, op.where);
    }
    newKey = propName + value.suffix;
  }
  const json = materialise(value, childTypePath(def, value.suffix), op.where, path, op.type);
  checkValueShape(def, value.suffix, json, propName, op.where, path, op.type);
  if (index !== null) {
    spliceList(container, key, index, 1, [{ value: json, extension: value.extension }]);
    return;
  }
  // The element is replaced as a whole: a primitive's old `_x` extensions go with it.
  delete container[key];
  delete container[`_${key}`];
  if (json !== null) container[newKey] = json;
  if (value.extension !== undefined) container[`_${newKey}`] = value.extension;
}

/** Finds the list a path designates: the container and key all selected nodes share. */
function resolveList(root: Record<string, unknown>, op: ParsedOperation, path: string): Location | undefined {
  const nodes = evaluatePath(root, path, op.where);
  if (nodes.length === 0) return undefined;
  let list: Location | undefined;
  for (const node of nodes) {
    const location = locate(node, root, op.where);
    if (!location || location.index === null) {
      throw invalid(`The path does not designate a list${describe(op.where, path, op.type)}`, op.where);
    }
    if (list && (list.container !== location.container || list.key !== location.key)) {
      throw invalid(`Multiple elements or collection found${describe(op.where, path, op.type)}`, op.where);
    }
    list ??= location;
  }
  return list;
}

/** Splits `a.b.where(x).c` into `a.b.where(x)` and `c` (for inserting into an empty list). */
function splitLastSegment(expression: string): [string, string] | undefined {
  let depth = 0;
  let quote: string | null = null;
  let lastDot = -1;
  for (let i = 0; i < expression.length; i++) {
    const ch = expression.charAt(i);
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = null;
    } else if (ch === "'" || ch === '`' || ch === '"') quote = ch;
    else if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') depth--;
    else if (ch === '.' && depth === 0) lastDot = i;
  }
  if (lastDot <= 0) return undefined;
  const name = expression.slice(lastDot + 1).trim();
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) return undefined;
  return [expression.slice(0, lastDot), name];
}

function doInsert(root: Record<string, unknown>, op: ParsedOperation, path: string): void {
  const value = op.value as PatchValue;
  const index = op.index as number;
  const list = resolveList(root, op, path);
  let container: Record<string, unknown>;
  let key: string;
  let def: ElementDef | undefined;
  let propName: string;
  if (list) {
    ({ container, key } = list);
    propName = list.propName;
    def = lookupElement(list.containerType, list.propName);
  } else {
    // The list is empty: locate its parent and insert the first element (index must be 0).
    const split = splitLastSegment(path);
    if (!split) throw invalid(`No content found${describe(op.where, path, op.type)}`, op.where);
    const [parentPath, name] = split;
    const parents = evaluatePath(root, parentPath, op.where);
    if (parents.length !== 1) throw invalid(`No content found${describe(op.where, path, op.type)}`, op.where);
    const parent = parents[0] as FpNode;
    container = assertSafeObject(childContainer(parent), op.where);
    ({ key, def } = resolveName(parent.path, name, value.suffix, op.where, path, op.type));
    propName = name;
    if (def && !def.repeating) throw invalid(`Element ${name} is not a list${describe(op.where, path, op.type)}`, op.where);
  }
  const length = listLength(container, key);
  if (index > length) throw invalid(`Index ${index} out of bounds when processing patch insert operation.`, op.where);
  const json = materialise(value, childTypePath(def, value.suffix), op.where, path, op.type);
  checkValueShape(def, value.suffix, json, propName, op.where, path, op.type);
  spliceList(container, key, index, 0, [{ value: json, extension: value.extension }]);
}

function doMove(root: Record<string, unknown>, op: ParsedOperation, path: string): void {
  const list = resolveList(root, op, path);
  if (!list) throw invalid(`No content found${describe(op.where, path, op.type)}`, op.where);
  const { container, key } = list;
  const source = op.source as number;
  const destination = op.destination as number;
  const length = listLength(container, key);
  if (source >= length) throw invalid(`Source ${source} out of bounds when processing patch move operation.`, op.where);
  if (destination >= length) throw invalid(`Destination ${destination} out of bounds when processing patch move operation.`, op.where);
  const values = Array.isArray(container[key]) ? (container[key] as unknown[]) : undefined;
  const ext = Array.isArray(container[`_${key}`]) ? (container[`_${key}`] as unknown[]) : undefined;
  const item = { value: values?.[source] ?? null, extension: ext?.[source] ?? undefined };
  spliceList(container, key, source, 1, []);
  spliceList(container, key, destination, 0, [item]);
}

/** Applies one parsed operation to the (cloned) resource `root`, in place. */
export function applyOperation(root: Record<string, unknown>, op: ParsedOperation): void {
  const path = op.path as string;
  switch (op.type) {
    case 'add':
      return doAdd(root, op, path);
    case 'insert':
      return doInsert(root, op, path);
    case 'delete':
      return doDelete(root, op, path);
    case 'replace':
      return doReplace(root, op, path);
    case 'move':
      return doMove(root, op, path);
  }
}
