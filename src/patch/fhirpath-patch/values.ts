/**
 * Building the JSON of a patch value for an element: choice keys, value shape checks, values from nested parts.
 * @packageDocumentation
 */
import { FORBIDDEN_SEGMENTS, forbiddenSegmentError, isJsonObject } from '../guard.js';
import { childTypePath, isKnownType, isPrimitiveType, lookupElement, type ElementDef } from './model.js';
import { describe, invalid } from './errors.js';
import { readPatchValue, type PatchValue } from './parse.js';

interface Resolved {
  key: string;
  def: ElementDef | undefined;
}

/** Turns a patch element name into the JSON key (choice elements: `time` + DateTime → `timeDateTime`). */
export function resolveName(typePath: string | null, name: string, suffix: string | undefined, where: string, at: string, opType: string): Resolved {
  if (FORBIDDEN_SEGMENTS.has(name) || name.startsWith('_') || !/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) {
    if (FORBIDDEN_SEGMENTS.has(name)) throw forbiddenSegmentError(name, where);
    throw invalid(`Invalid element name '${name}'${describe(where, at, opType)}`, where);
  }
  const def = lookupElement(typePath, name);
  if (def?.choiceTypes) {
    if (!suffix) throw invalid(`Element ${name} is a choice element: its value must be a typed value[x]${describe(where, at, opType)}`, where);
    if (!def.choiceTypes.includes(suffix)) {
      throw invalid(`Invalid input for ${name}: type ${suffix} is not allowed (${def.choiceTypes.join(', ')})${describe(where, at, opType)}`, where);
    }
    return { key: name + suffix, def };
  }
  if (def) return { key: name, def };
  // A full choice name, e.g. `deceasedBoolean`.
  for (let i = 1; i < name.length; i++) {
    const rest = name.slice(i);
    if (!/^[A-Z]/.test(rest)) continue;
    const base = lookupElement(typePath, name.slice(0, i));
    if (base?.choiceTypes?.includes(rest)) {
      if (suffix && suffix !== rest) {
        throw invalid(`Invalid input for ${name}: expected a value${rest}, got value${suffix}${describe(where, at, opType)}`, where);
      }
      return { key: name, def: { ...base, choiceTypes: undefined, type: childTypePath(base, rest) } };
    }
  }
  if (isKnownType(typePath)) {
    throw invalid(`Element ${name} not found${describe(where, at, opType)}`, where);
  }
  return { key: name, def: undefined };
}

/** Checks a value against the element's type as far as the JSON shape allows. */
export function checkValueShape(def: ElementDef | undefined, suffix: string | undefined, json: unknown, name: string, where: string, at: string, opType: string): void {
  const type = def?.choiceTypes ? childTypePath(def, suffix) : def?.type;
  if (!type || json === null) return;
  const primitive = isPrimitiveType(type);
  const isPrimitiveJson = typeof json === 'string' || typeof json === 'number' || typeof json === 'boolean';
  if (primitive !== isPrimitiveJson || (!primitive && !isJsonObject(json))) {
    throw invalid(`Invalid input for ${name}${describe(where, at, opType)}`, where);
  }
}

/** Materialises a patch value: value[x] JSON as is, nested parts as an object of the element's type. */
export function materialise(value: PatchValue, typePath: string | undefined, where: string, at: string, opType: string): unknown {
  if (!value.parts) return value.json;
  const object: Record<string, unknown> = {};
  for (const part of value.parts) {
    const name = part['name'];
    if (typeof name !== 'string') throw invalid('Each nested part must have a name.', where);
    const nested = readPatchValue(part, where);
    if (!nested) throw invalid(`Nested part '${name}' has no value${describe(where, at, opType)}`, where);
    const { key, def } = resolveName(typePath ?? null, name, nested.suffix, where, at, opType);
    const json = materialise(nested, childTypePath(def, nested.suffix), where, at, opType);
    checkValueShape(def, nested.suffix, json, name, where, at, opType);
    const repeating = def ? def.repeating : Object.hasOwn(object, key);
    if (repeating) {
      const list = Object.hasOwn(object, key) ? object[key] : (object[key] = []);
      if (!Array.isArray(list)) throw invalid(`Element ${name} given more than once${describe(where, at, opType)}`, where);
      list.push(json);
      if (nested.extension !== undefined || Object.hasOwn(object, `_${key}`)) {
        const ext = (object[`_${key}`] ??= list.slice(0, -1).map(() => null)) as unknown[];
        ext.push(nested.extension ?? null);
      }
    } else {
      if (Object.hasOwn(object, key) || Object.hasOwn(object, `_${key}`)) {
        throw invalid(`Element ${name} given more than once${describe(where, at, opType)}`, where);
      }
      if (json !== null) object[key] = json;
      if (nested.extension !== undefined) object[`_${key}`] = nested.extension;
    }
  }
  return object;
}
