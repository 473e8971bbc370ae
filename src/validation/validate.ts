/**
 * Structural validation of a FHIR R4 resource against the base definitions: the JSON representation
 * rules of json.html and the element definitions of each type (cardinality, types, choice variants,
 * primitive formats, required bindings on `code` elements, `Reference.reference` shape), in one walk
 * that reports every problem with its FHIRPath location.
 * @packageDocumentation
 */
import type { OperationOutcomeIssue } from '../resource/resource.js';
import { RESOURCE_TYPES, referenceElementKey, structure, type ElementKey, type Structure } from './definitions.js';
import { validFast } from './compiled.js';
import { primitiveProblem, referenceProblem, show } from './primitives.js';

/** The issue type of a validation problem. */
export type ValidationIssueCode =
  /** Unknown element, wrong JSON type, array vs single value, two choice variants, empty object or array. */
  | 'structure'
  /** A primitive that does not match its type (format, range, empty string), a code outside its required value set, a malformed reference. */
  | 'value'
  /** A required element (min ≥ 1) is missing. */
  | 'required'
  /** Not a resource at all: not an object, no or unknown `resourceType`. */
  | 'invalid'
  /** The resource is nested deeper than `maxDepth`, or has more than `maxIssues` problems. */
  | 'too-costly';

/** One problem found by {@link validateResource}. */
export interface ValidationIssue extends OperationOutcomeIssue {
  severity: 'error';
  code: ValidationIssueCode;
  diagnostics: string;
  /** FHIRPath location, e.g. `Patient.name[0].given[1]`; absent when the body is not a resource at all. */
  expression?: string[];
}

/** Options of {@link validateResource}. */
export interface ValidationOptions {
  /** Deepest nesting of JSON objects walked; deeper content is one `too-costly` issue. Default 100. */
  maxDepth?: number;
  /** Stop after this many issues, adding one `too-costly` issue. Default 1000. */
  maxIssues?: number;
}

/** Default of {@link ValidationOptions.maxDepth}: far deeper than real resources nest (Questionnaire items, extensions). */
export const DEFAULT_MAX_DEPTH = 100;
/** Default of {@link ValidationOptions.maxIssues}. */
export const DEFAULT_MAX_ISSUES = 1000;

/**
 * Validates `resource` (typically the result of `JSON.parse`) against the R4 (4.0.1) base structure
 * definitions and returns every problem found; an empty array means valid. Pure: no I/O, never throws,
 * reads only own keys (`__proto__`, `constructor` are unknown elements like any other).
 *
 * Checked: `resourceType` is a concrete R4 type; every key is an element of its type (or `_x` for a
 * primitive `x`); JSON types; arrays exactly for max `*`, single values otherwise; min 1 elements present;
 * one variant per choice element, of an allowed type; primitive formats (the spec's regexes, integer ranges,
 * real calendar days); no empty strings, objects or arrays; `null` in a primitive array only where the `_x`
 * array has an extension at the same index; codes of required bindings to enumerable value sets;
 * `Reference.reference` shape; resources in `contained`, `Bundle.entry.resource` and other `Resource`
 * elements, recursively. Not checked: invariants (FHIRPath constraints), profiles (`meta.profile`),
 * extensible or preferred bindings.
 *
 * @example
 * ```ts
 * validateResource({ resourceType: 'Patient', birthDate: 'garbage' });
 * // [{ severity: 'error', code: 'value', diagnostics: "Invalid date: \"garbage\"", expression: ['Patient.birthDate'] }]
 * ```
 */
export function validateResource(resource: unknown, options: ValidationOptions = {}): ValidationIssue[] {
  // Nearly every resource written is valid: the generated checks show that without the walk.
  if (validFast(resource, options.maxDepth ?? DEFAULT_MAX_DEPTH)) return [];
  return walkResource(resource, options);
}

/** {@link validateResource} by the walker alone (which the fast path must agree with). @internal */
export function walkResource(resource: unknown, options: ValidationOptions = {}): ValidationIssue[] {
  const walker = new Walker(options.maxDepth ?? DEFAULT_MAX_DEPTH, options.maxIssues ?? DEFAULT_MAX_ISSUES);
  try {
    walker.resource(resource);
  } catch (error) {
    if (error !== STOP) walker.issues.push(issue('invalid', `The resource could not be validated: ${error instanceof Error ? error.message : String(error)}`));
  }
  return walker.issues;
}

const STOP = Symbol('too many issues');

const issue = (code: ValidationIssueCode, diagnostics: string, expression?: string): ValidationIssue =>
  expression ? { severity: 'error', code, diagnostics, expression: [expression] } : { severity: 'error', code, diagnostics };

type JsonObject = Record<string, unknown>;
const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);
const jsonType = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);
const ownValue = (object: JsonObject, key: string): unknown => (Object.hasOwn(object, key) ? object[key] : undefined);
function hasEnumerableKeys(object: object): boolean {
  for (const _ in object) return true;
  return false;
}
function hasAny(object: JsonObject, keys: readonly string[]): boolean {
  for (const key of keys) if (Object.hasOwn(object, key)) return true;
  return false;
}

let elementStructure: Structure | undefined;
/** `Element`, the structure of a `_x` value (a primitive's id and extensions). */
const extensionOf = (): Structure => (elementStructure ??= structure('Element')!);

class Walker {
  readonly issues: ValidationIssue[] = [];
  /** The location being walked: element names and array indexes, joined only when an issue is reported. */
  private readonly path: (string | number)[] = [];
  private depth = 0;
  /** Whether anything made Object.prototype carry enumerable keys (for-in would yield them on every object). */
  private readonly objectPrototypeEnumerable = hasEnumerableKeys(Object.prototype);
  private readonly referenceElement = referenceElementKey();

  constructor(
    private readonly maxDepth: number,
    private readonly maxIssues: number,
  ) {}

  /** A resource: the root, or one inside `contained`, `Bundle.entry.resource`, …. */
  resource(value: unknown): void {
    if (!isObject(value)) return this.report('invalid', `A resource must be a JSON object, not ${jsonType(value)}`);
    const type = ownValue(value, 'resourceType');
    if (type === undefined) return this.report('invalid', 'The resource has no resourceType');
    if (typeof type !== 'string' || !RESOURCE_TYPES.has(type))
      return this.report('invalid', `Unknown resourceType ${show(type)}: not an R4 resource type`);
    const root = this.path.length === 0;
    if (root) this.path.push(type);
    this.object(value, structure(type)!, true);
    if (root) this.path.pop();
  }

  private object(value: JsonObject, of: Structure, isResource: boolean): void {
    if (this.depth >= this.maxDepth) return this.report('too-costly', `Nested deeper than ${this.maxDepth} objects`);
    // for-in rather than Object.keys: V8 then loads `value[key]` through the enum cache (a third faster on a
    // Synthea Patient). for-in also yields inherited enumerable keys: they are skipped unless none can exist.
    const prototype: unknown = Object.getPrototypeOf(value);
    const inherits = prototype !== null && (prototype !== Object.prototype || this.objectPrototypeEnumerable);
    this.depth++;
    let count = 0;
    let chosen: ElementKey[] | undefined;
    for (const key in value) {
      if (inherits && !Object.hasOwn(value, key)) continue;
      count++;
      if (isResource && key === 'resourceType') continue;
      const isExtension = key.charCodeAt(0) === 95; // `_x`: id and extensions of the primitive `x`
      const name = isExtension ? key.slice(1) : key;
      const element = of.keys.get(name);
      if (element === undefined || (isExtension && (!element.primitive || element.primitive.name === 'xhtml'))) {
        this.unknown(key, of);
        continue;
      }
      if (element.element.choice) {
        const other = chosen?.find((c) => c.element === element.element && c !== element);
        if (other) {
          this.report('structure', `Only one type of ${element.element.name}[x] is allowed: found ${name} and ${other.key}`, key);
          continue;
        }
        (chosen ??= []).push(element);
      }
      const item = value[key];
      this.path.push(name);
      if (isExtension) this.primitiveExtension(item, element, ownValue(value, name));
      else if (element.element.array) this.array(item, element, element.extensionKey && ownValue(value, element.extensionKey));
      else if (Array.isArray(item)) this.report('structure', `${name} is a single value (max 1), not an array`);
      else this.single(item, element);
      this.path.pop();
    }
    this.depth--;
    if (count === 0) return this.report('structure', 'An object must have at least one property (json.html)');
    const required = of.required;
    for (let i = 0; i < required.length; i++) {
      const { element, keys: present } = required[i]!;
      if (!hasAny(value, present))
        this.report('required', `Missing required element ${element.name}${element.choice ? '[x]' : ''} (min 1)`, element.choice ? `${element.name}[x]` : element.name);
    }
  }

  /** A repeating element (max `*`); `extensions` is the `_x` array of a primitive, aligned by index. */
  private array(value: unknown, element: ElementKey, extensions: unknown): void {
    if (!Array.isArray(value)) return this.report('structure', `${element.element.name} repeats (max *): expected an array, found ${jsonType(value)}`);
    if (value.length === 0) return this.report('structure', 'An array must have at least one item (json.html)');
    for (let i = 0; i < value.length; i++) {
      this.path.push(i);
      const item: unknown = value[i];
      if (item === null && element.primitive) {
        if (!(Array.isArray(extensions) && isObject(extensions[i])))
          this.report('structure', `null is allowed only where _${element.element.name} has an extension at the same index`);
      } else {
        this.single(item, element);
      }
      this.path.pop();
    }
  }

  private single(value: unknown, element: ElementKey): void {
    const primitive = element.primitive;
    if (primitive) {
      if (typeof value !== primitive.json)
        return this.report('structure', `Expected a JSON ${primitive.json} for ${primitive.name}, found ${jsonType(value)}`);
      const problem = primitiveProblem(value as string | number | boolean, primitive);
      if (problem) return this.report('value', problem);
      const valueSet = element.element.valueSet;
      if (valueSet && !valueSet.codes.has(value as string))
        return this.report('value', `${show(value)} is not a code of the required value set ${valueSet.name}${valueSet.codes.size <= 12 ? ` (${[...valueSet.codes].join(' | ')})` : ''}`);
      if (element === this.referenceElement) {
        const bad = referenceProblem(value as string);
        if (bad) this.report('value', bad);
      }
    } else if (element.type === 'Resource') {
      this.resource(value);
    } else if (isObject(value)) {
      this.object(value, element.structure!, false);
    } else {
      this.report('structure', `Expected a JSON object for ${element.type}, found ${jsonType(value)}`);
    }
  }

  /** `_x`: an Element (id, extension), or an array of them aligned with `x`'s items. */
  private primitiveExtension(value: unknown, element: ElementKey, values: unknown): void {
    if (!element.element.array) {
      if (isObject(value)) this.object(value, extensionOf(), false);
      else this.report('structure', `Expected a JSON object for the extensions of ${element.element.name}, found ${jsonType(value)}`);
      return;
    }
    if (!Array.isArray(value)) return this.report('structure', `_${element.element.name} repeats: expected an array, found ${jsonType(value)}`);
    if (value.length === 0) return this.report('structure', 'An array must have at least one item (json.html)');
    if (Array.isArray(values) && values.length !== value.length)
      return this.report('structure', `_${element.element.name} must have as many items as ${element.element.name} (${value.length} vs ${values.length})`);
    for (let i = 0; i < value.length; i++) {
      this.path.push(i);
      const item: unknown = value[i];
      if (item === null) {
        if (!Array.isArray(values)) this.report('structure', `null in _${element.element.name} stands for no extension, but ${element.element.name} has no value either`);
      } else if (isObject(item)) {
        this.object(item, extensionOf(), false);
      } else {
        this.report('structure', `Expected a JSON object or null, found ${jsonType(item)}`);
      }
      this.path.pop();
    }
  }

  private unknown(key: string, of: Structure): void {
    const choice = of.choices.find((c) => key.length > c.name.length && key.startsWith(c.name) && /^[A-Z]/.test(key.slice(c.name.length)));
    const diagnostics = choice
      ? `${key.slice(choice.name.length)} is not an allowed type of ${choice.name}[x]`
      : `Unknown element ${show(key)}`;
    this.report('structure', diagnostics, key);
  }

  /** Records an issue at the current location, plus `child` when it is about an element of it. */
  private report(code: ValidationIssueCode, diagnostics: string, child?: string): void {
    if (this.issues.length >= this.maxIssues) {
      this.issues.push(issue('too-costly', `Stopped after ${this.maxIssues} issues`));
      throw STOP;
    }
    let expression = '';
    for (const segment of this.path) expression += typeof segment === 'number' ? `[${segment}]` : expression ? `.${segment}` : segment;
    if (child !== undefined) expression += expression ? `.${child}` : child;
    this.issues.push(issue(code, diagnostics, expression || undefined));
  }
}
