/**
 * Reading the `Parameters` resource of a FHIRPath Patch into typed operations.
 * @packageDocumentation
 */
import { assertNoProtoKeys, FORBIDDEN_SEGMENTS, forbiddenSegmentError, isJsonObject } from '../guard.js';
import { invalid } from './errors.js';

/** The operation types of R4 FHIRPath Patch. */
export const FHIRPATH_PATCH_OPERATION_TYPES = ['add', 'insert', 'delete', 'replace', 'move'] as const;
export type FhirPathPatchOperationType = (typeof FHIRPATH_PATCH_OPERATION_TYPES)[number];

export interface PatchValue {
  json: unknown;
  /** `DateTime` for `valueDateTime`; undefined for a value built from nested parts. */
  suffix?: string;
  /** The primitive extension object (`_valueString`), if any. */
  extension?: unknown;
  /** The nested parts, when the value is an anonymous (backbone) value built from parts. */
  parts?: Record<string, unknown>[];
}

export interface ParsedOperation {
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

/** The value of a `value` part (value[x], or nested parts); undefined when the part has none. */
export function readPatchValue(part: Record<string, unknown>, where: string): PatchValue | undefined {
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

/** The operations of a FHIRPath Patch `Parameters` resource, checked; 400 on anything malformed. */
export function parseParameters(parameters: unknown): ParsedOperation[] {
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
