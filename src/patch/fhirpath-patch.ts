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
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { FhirError } from '../errors.js';
import type { Resource } from '../resource/resource.js';
import { assertNoProtoKeys, assertPatchResultAllowed, FORBIDDEN_SEGMENTS, forbiddenSegmentError, isJsonObject } from './guard.js';

/** The operation types of R4 FHIRPath Patch. */
export const FHIRPATH_PATCH_OPERATION_TYPES = ['add', 'insert', 'delete', 'replace', 'move'] as const;
export type FhirPathPatchOperationType = (typeof FHIRPATH_PATCH_OPERATION_TYPES)[number];

// ---------------------------------------------------------------------------------------------
// Model helpers
// ---------------------------------------------------------------------------------------------

interface ModelTables {
  choiceTypePaths: Record<string, string[] | undefined>;
  pathsDefinedElsewhere: Record<string, string | undefined>;
  type2Parent: Record<string, string | undefined>;
  path2Type: Record<string, string | { code: string } | undefined>;
  path2Repeating: Record<string, boolean | undefined>;
}

const model = r4 as unknown as ModelTables;

interface ElementDef {
  /** The model path of the element, e.g. `Patient.contact` or `HumanName.given`. */
  path: string;
  /** The element's type (`HumanName`, `string`, `BackboneElement`), absent for choice elements. */
  type?: string;
  /** Allowed type suffixes of a choice element (`DateTime`, `Period`). */
  choiceTypes?: string[];
  repeating: boolean;
}

const own = (table: Record<string, unknown>, key: string): boolean => Object.hasOwn(table, key);

function lookupElement(typePath: string | null | undefined, name: string): ElementDef | undefined {
  if (!typePath || FORBIDDEN_SEGMENTS.has(name)) return undefined;
  const visited = new Set<string>();
  let current: string | undefined = typePath;
  while (current && !visited.has(current)) {
    visited.add(current);
    let path = `${current}.${name}`;
    if (own(model.pathsDefinedElsewhere, path)) path = model.pathsDefinedElsewhere[path] ?? path;
    const repeating = own(model.path2Repeating, path) && model.path2Repeating[path] === true;
    if (own(model.choiceTypePaths, path)) {
      return { path, choiceTypes: model.choiceTypePaths[path] ?? [], repeating };
    }
    if (own(model.path2Type, path)) {
      const type = model.path2Type[path];
      return { path, type: typeof type === 'string' ? type : type?.code, repeating };
    }
    current = own(model.type2Parent, current)
      ? model.type2Parent[current]
      : current.includes('.')
        ? 'BackboneElement'
        : undefined;
  }
  return undefined;
}

/** Whether the model knows `typePath` at all (so that an unknown child is a client error). */
function isKnownType(typePath: string | null | undefined): typePath is string {
  return !!typePath && (own(model.type2Parent, typePath) || own(model.path2Type, typePath));
}

/** The type path under which the children of a value of element `def` are described. */
function childTypePath(def: ElementDef | undefined, suffix: string | undefined): string | undefined {
  if (!def) return undefined;
  if (def.choiceTypes) {
    if (!suffix) return undefined;
    return own(model.type2Parent, suffix) ? suffix : suffix.charAt(0).toLowerCase() + suffix.slice(1);
  }
  if (def.type === 'BackboneElement' || def.type === 'Element') return def.path;
  return def.type;
}

/** Primitive FHIR types start with a lower-case letter (`string`, `dateTime`) or are `System.*`. */
function isPrimitiveType(type: string | undefined): boolean {
  return !!type && (/^[a-z]/.test(type) || type.startsWith('System.'));
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

function invalid(diagnostics: string, expression?: string): FhirError {
  return new FhirError(400, 'invalid', diagnostics, expression ? { expression: [expression] } : {});
}

// ---------------------------------------------------------------------------------------------
// Parsing the Parameters resource
// ---------------------------------------------------------------------------------------------

/** A value given in a `value` part: JSON, its value[x] type suffix, and an optional `_value[x]`. */
interface PatchValue {
  json: unknown;
  /** `DateTime` for `valueDateTime`; undefined for a value built from nested parts. */
  suffix?: string;
  /** The primitive extension object (`_valueString`), if any. */
  extension?: unknown;
  /** The nested parts, when the value is an anonymous (backbone) value built from parts. */
  parts?: Record<string, unknown>[];
}

interface ParsedOperation {
  type: FhirPathPatchOperationType;
  where: string;
  path?: string;
  name?: string;
  value?: PatchValue;
  index?: number;
  source?: number;
  destination?: number;
}

function valueKeys(part: Record<string, unknown>): string[] {
  return Object.keys(part).filter((key) => /^value[A-Z]/.test(key));
}

function readPatchValue(part: Record<string, unknown>, where: string): PatchValue | undefined {
  const keys = valueKeys(part);
  const nested = part['part'];
  if (keys.length > 1) throw invalid(`Part '${String(part['name'])}' has more than one value[x] (${keys.join(', ')}).`, where);
  if (keys.length === 1 && nested !== undefined) {
    throw invalid(`Part '${String(part['name'])}' has both a value[x] and nested parts.`, where);
  }
  const key = keys[0];
  if (key !== undefined) {
    const json = part[key];
    if (json === null || json === undefined) throw invalid(`Part '${String(part['name'])}' has an empty ${key}.`, where);
    assertNoProtoKeys(json, where);
    const value: PatchValue = { json: structuredClone(json), suffix: key.slice('value'.length) };
    const ext = part[`_${key}`];
    if (isJsonObject(ext)) {
      assertNoProtoKeys(ext, where);
      value.extension = structuredClone(ext);
    }
    return value;
  }
  if (nested !== undefined) {
    if (!Array.isArray(nested) || nested.length === 0 || !nested.every(isJsonObject)) {
      throw invalid(`Part '${String(part['name'])}' must have a non-empty array of parts.`, where);
    }
    return { json: undefined, parts: nested };
  }
  // A part holding only a primitive extension: `_valueString` without `valueString`.
  const extKey = Object.keys(part).find((k) => /^_value[A-Z]/.test(k));
  if (extKey !== undefined && isJsonObject(part[extKey])) {
    assertNoProtoKeys(part[extKey], where);
    return { json: null, suffix: extKey.slice('_value'.length), extension: structuredClone(part[extKey]) };
  }
  return undefined;
}

function readString(part: Record<string, unknown>, what: string, where: string): string {
  const keys = valueKeys(part);
  const key = keys[0];
  const value = key !== undefined ? part[key] : undefined;
  if (keys.length !== 1 || typeof value !== 'string') {
    throw invalid(`The '${what}' part must have a string value (valueString or valueCode).`, where);
  }
  return value;
}

function readInteger(part: Record<string, unknown>, what: string, where: string): number {
  const keys = valueKeys(part);
  const key = keys[0];
  const value = key !== undefined ? part[key] : undefined;
  if (keys.length !== 1 || typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw invalid(`The '${what}' part must be a non-negative integer (valueInteger).`, where);
  }
  return value;
}

function parseParameters(parameters: unknown): ParsedOperation[] {
  if (!isJsonObject(parameters) || parameters['resourceType'] !== 'Parameters') {
    throw invalid('A FHIRPath Patch document must be a Parameters resource.');
  }
  const params = parameters['parameter'];
  if (params === undefined) return [];
  if (!Array.isArray(params)) throw invalid('Parameters.parameter must be an array.', 'Parameters.parameter');
  return params.map((param, i) => parseOperation(param, `Parameters.parameter[${i}]`));
}

const PART_NAMES = new Set(['type', 'path', 'name', 'value', 'index', 'source', 'destination']);

function parseOperation(param: unknown, where: string): ParsedOperation {
  if (!isJsonObject(param)) throw invalid('Each parameter of a FHIRPath Patch must be an object.', where);
  if (param['name'] !== 'operation') {
    throw invalid(`Unexpected parameter '${String(param['name'])}': a FHIRPath Patch has only 'operation' parameters.`, where);
  }
  const parts = param['part'];
  if (!Array.isArray(parts) || parts.length === 0) {
    throw invalid("A FHIRPath Patch 'operation' parameter must have parts.", where);
  }
  const byName = new Map<string, Record<string, unknown>>();
  for (const part of parts) {
    if (!isJsonObject(part) || typeof part['name'] !== 'string') {
      throw invalid("Each part of a FHIRPath Patch operation must be an object with a 'name'.", where);
    }
    const name = part['name'];
    if (!PART_NAMES.has(name)) throw invalid(`Unknown part '${name}' in a FHIRPath Patch operation.`, where);
    if (byName.has(name)) throw invalid(`A FHIRPath Patch operation must have only one '${name}' part.`, where);
    byName.set(name, part);
  }
  const typePart = byName.get('type');
  if (!typePart) throw invalid("Patch operations must have the 'type' part.", where);
  const type = readString(typePart, 'type', where);
  if (!(FHIRPATH_PATCH_OPERATION_TYPES as readonly string[]).includes(type)) {
    throw invalid(
      `Invalid patch operation type: '${type}'. Only 'add', 'insert', 'delete', 'replace', and 'move' are allowed.`,
      where,
    );
  }
  const op: ParsedOperation = { type: type as FhirPathPatchOperationType, where };
  const require = (name: string): Record<string, unknown> => {
    const part = byName.get(name);
    if (!part) throw invalid(`Patch ${type} operations must have the '${name}' part.`, where);
    return part;
  };
  op.path = readString(require('path'), 'path', where);
  if (op.path.trim() === '') throw invalid(`Patch ${type} operations must have a non-empty 'path' part.`, where);
  if (type === 'add') {
    op.name = readString(require('name'), 'name', where);
    if (FORBIDDEN_SEGMENTS.has(op.name)) throw forbiddenSegmentError(op.name, `${where} name`);
  }
  if (type === 'add' || type === 'insert' || type === 'replace') {
    const value = readPatchValue(require('value'), where);
    if (!value) throw invalid(`Patch ${type} operations must have the 'value' part.`, where);
    op.value = value;
  }
  if (type === 'insert') op.index = readInteger(require('index'), 'index', where);
  if (type === 'move') {
    op.source = readInteger(require('source'), 'source', where);
    op.destination = readInteger(require('destination'), 'destination', where);
  }
  return op;
}

// ---------------------------------------------------------------------------------------------
// FHIRPath evaluation
// ---------------------------------------------------------------------------------------------

/** The parts of fhirpath.js's `ResourceNode` used here. */
interface FpNode {
  data: unknown;
  _data: unknown;
  parentResNode: FpNode | null;
  path: string | null;
  propName: string | null;
  index: number | null;
  fhirNodeDataType: string | null;
}

type CompiledPath = (resource: unknown) => unknown[];

const MAX_CACHED_EXPRESSIONS = 1000;
const compiled = new Map<string, CompiledPath>();

const KEYWORD_MEMBERS = /^(div|mod|and|or|xor|implies|true|false)(?![A-Za-z0-9_])/;

/**
 * FHIR element names that are FHIRPath keywords (`Narrative.div`) are not identifiers in the
 * FHIRPath grammar, yet FHIRPath Patch paths use them (`Patient.text.div`, as HAPI and the HL7 test
 * cases do). After a `.`, such a name is rewritten as a delimited identifier (`` .`div` ``).
 */
export function normaliseFhirPath(expression: string): string {
  let out = '';
  let quote: string | null = null;
  for (let i = 0; i < expression.length; i++) {
    const ch = expression.charAt(i);
    out += ch;
    if (quote) {
      if (ch === '\\') {
        out += expression.charAt(i + 1);
        i++;
      } else if (ch === quote) quote = null;
      continue;
    }
    if (ch === "'" || ch === '`' || ch === '"') {
      quote = ch;
    } else if (ch === '.') {
      const rest = expression.slice(i + 1);
      const match = KEYWORD_MEMBERS.exec(rest);
      if (match?.[1]) {
        out += `\`${match[1]}\``;
        i += match[1].length;
      }
    }
  }
  return out;
}

/** Compiles (once, cached by expression string) a FHIRPath expression against the R4 model. */
function compilePath(expression: string, where: string): CompiledPath {
  const cached = compiled.get(expression);
  if (cached) return cached;
  let fn: CompiledPath;
  try {
    const compiledFn = fhirpath.compile(normaliseFhirPath(expression), r4, { resolveInternalTypes: false, async: false });
    fn = (resource: unknown) => compiledFn(resource) as unknown[];
  } catch (error) {
    throw invalid(`Invalid FHIRPath expression '${expression}': ${error instanceof Error ? error.message : String(error)}`, where);
  }
  if (compiled.size >= MAX_CACHED_EXPRESSIONS) {
    const oldest = compiled.keys().next();
    if (!oldest.done) compiled.delete(oldest.value);
  }
  compiled.set(expression, fn);
  return fn;
}

/** Refuses `__proto__`, `constructor`, `prototype` used as identifiers in a FHIRPath expression. */
function assertSafeExpression(expression: string, where: string): void {
  const withoutStrings = expression.replace(/'(?:\\.|[^'\\])*'/g, "''");
  const match = /(?:^|[^A-Za-z0-9_])`?(__proto__|constructor|prototype)`?(?![A-Za-z0-9_])/.exec(withoutStrings);
  if (match?.[1]) throw forbiddenSegmentError(match[1], `${where} path`);
}

function isNode(value: unknown): value is FpNode {
  return typeof value === 'object' && value !== null && 'parentResNode' in value && 'data' in value;
}

function evaluatePath(resource: unknown, expression: string, where: string): FpNode[] {
  assertSafeExpression(expression, where);
  const fn = compilePath(expression, where);
  let result: unknown[];
  try {
    result = fn(resource);
  } catch (error) {
    throw invalid(`Error evaluating FHIRPath expression '${expression}': ${error instanceof Error ? error.message : String(error)}`, where);
  }
  if (!Array.isArray(result)) return [];
  return result.map((item) => {
    if (!isNode(item)) {
      throw invalid(`The path '${expression}' does not select elements of the resource.`, where);
    }
    return item;
  });
}

// ---------------------------------------------------------------------------------------------
// Locating nodes in the JSON
// ---------------------------------------------------------------------------------------------

interface Location {
  container: Record<string, unknown>;
  key: string;
  index: number | null;
  /** Model path of the container (`Patient`, `HumanName`, `Patient.contact`). */
  containerType: string | null;
  /** Property name as the model knows it (choice base name for choice elements). */
  propName: string;
}

function assertSafeObject(value: unknown, where: string): Record<string, unknown> {
  if (!isJsonObject(value) || value === Object.prototype) {
    throw invalid('The path does not select an element that can be patched.', where);
  }
  return value;
}

/** The object holding the children of `node`: its data, or the `_x` companion of a primitive. */
function childContainer(node: FpNode): Record<string, unknown> | undefined {
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
function locate(node: FpNode, root: Record<string, unknown>, where: string): Location | null {
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

/** The Microsoft-style suffix of runtime errors: " at {path} when processing patch {type} operation." */
function describe(_where: string, path: string, type: string): string {
  return ` at ${path} when processing patch ${type} operation.`;
}

// ---------------------------------------------------------------------------------------------
// Building values
// ---------------------------------------------------------------------------------------------

interface Resolved {
  key: string;
  def: ElementDef | undefined;
}

/** Turns a patch element name into the JSON key (choice elements: `time` + DateTime → `timeDateTime`). */
function resolveName(typePath: string | null, name: string, suffix: string | undefined, where: string, at: string, opType: string): Resolved {
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
function checkValueShape(def: ElementDef | undefined, suffix: string | undefined, json: unknown, name: string, where: string, at: string, opType: string): void {
  const type = def?.choiceTypes ? childTypePath(def, suffix) : def?.type;
  if (!type || json === null) return;
  const primitive = isPrimitiveType(type);
  const isPrimitiveJson = typeof json === 'string' || typeof json === 'number' || typeof json === 'boolean';
  if (primitive !== isPrimitiveJson || (!primitive && !isJsonObject(json))) {
    throw invalid(`Invalid input for ${name}${describe(where, at, opType)}`, where);
  }
}

/** Materialises a patch value: value[x] JSON as is, nested parts as an object of the element's type. */
function materialise(value: PatchValue, typePath: string | undefined, where: string, at: string, opType: string): unknown {
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

// ---------------------------------------------------------------------------------------------
// Array helpers (values and their `_x` companions move together)
// ---------------------------------------------------------------------------------------------

function listLength(container: Record<string, unknown>, key: string): number {
  const values = container[key];
  const ext = container[`_${key}`];
  return Math.max(Array.isArray(values) ? values.length : 0, Array.isArray(ext) ? ext.length : 0);
}

function cleanUp(container: Record<string, unknown>, key: string): void {
  const values = container[key];
  if (Array.isArray(values) && (values.length === 0 || values.every((v) => v === null))) delete container[key];
  const ext = container[`_${key}`];
  if (Array.isArray(ext) && ext.every((e) => e === null)) delete container[`_${key}`];
}

function spliceList(container: Record<string, unknown>, key: string, start: number, deleteCount: number, items: { value: unknown; extension?: unknown }[]): void {
  const length = listLength(container, key);
  const values = Array.isArray(container[key]) ? (container[key] as unknown[]) : undefined;
  const ext = Array.isArray(container[`_${key}`]) ? (container[`_${key}`] as unknown[]) : undefined;
  const needExt = ext !== undefined || items.some((item) => item.extension !== undefined);
  const valueList = values ?? (container[key] = Array.from({ length }, () => null) as unknown[]);
  while (valueList.length < length) valueList.push(null);
  valueList.splice(start, deleteCount, ...items.map((item) => item.value));
  if (needExt) {
    const extList = ext ?? (container[`_${key}`] = Array.from({ length }, () => null) as unknown[]);
    while (extList.length < length) extList.push(null);
    extList.splice(start, deleteCount, ...items.map((item) => item.extension ?? null));
  }
  cleanUp(container, key);
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

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

function applyOperation(root: Record<string, unknown>, op: ParsedOperation): void {
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

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

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
