/**
 * The validator's fast path: one generated JavaScript function per structure that answers only "valid
 * or not", with no locations and no messages. Each function is a `switch` over the JSON keys the
 * structure allows, with the element's checks written out for it, so that a valid resource is checked
 * without a table lookup per key. Anything unusual (a `null` in a primitive array, `_x` arrays, an
 * object that does not inherit from `Object.prototype`) answers "not valid" and leaves the verdict to
 * the walker of `validate.ts`, which also writes the issues: the fast path may only ever say "valid"
 * where the walker finds nothing (checked on every R4 example and on random mutations of them).
 *
 * The generated code holds no value that comes from a request: keys are written as JSON string
 * literals of the R4 element names, and every other constant is passed in by index.
 * @packageDocumentation
 */
import { RESOURCE_TYPES, referenceElementKey, structure, type ElementKey, type Structure } from './definitions.js';
import { primitiveProblem, referenceProblem } from './primitives.js';

/** A generated check: whether `value` (an object) is a valid instance of its structure. */
type Check = (value: Record<string, unknown>, depth: number) => boolean;

const checks = new Map<string, Check>();

/** The generated check of the structure `name`, made on first use. */
function checkOf(name: string): Check {
  let check = checks.get(name);
  if (!check) {
    check = compile(structure(name)!, RESOURCE_TYPES.has(name));
    checks.set(name, check);
  }
  return check;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;

/** A resource (root, `contained`, `Bundle.entry.resource`, …): a known type, checked as that type. */
function resource(value: unknown, depth: number): boolean {
  if (!isPlainObject(value)) return false;
  const type = value['resourceType'];
  return typeof type === 'string' && RESOURCE_TYPES.has(type) && checkOf(type)(value, depth);
}

/**
 * Whether `value` is a valid resource, by the generated checks. `false` means "not shown valid": the
 * caller then runs the walker, which decides and explains.
 */
export function validFast(value: unknown, maxDepth: number): boolean {
  // Inherited enumerable keys would escape the switch's for-in: leave such a process to the walker.
  for (const _ in Object.prototype) return false;
  limit = maxDepth;
  try {
    return resource(value, 0);
  } catch {
    return false; // a getter that throws, a proxy: the walker reports it
  }
}

let limit = 0;
const tooDeep = (depth: number): boolean => depth >= limit;

/** The value check of primitive key `i` of a structure: format, required value set, reference shape. */
interface PrimitiveCheck {
  readonly key: ElementKey;
  readonly reference: boolean;
}

function primitiveOk(value: unknown, check: PrimitiveCheck): boolean {
  const { primitive, element } = check.key;
  if (typeof value !== primitive!.json) return false;
  if (primitiveProblem(value as string | number | boolean, primitive!) !== undefined) return false;
  if (element.valueSet && !element.valueSet.codes.has(value as string)) return false;
  return !check.reference || referenceProblem(value as string) === undefined;
}

/** Generates the check of `of`. */
function compile(of: Structure, isResource: boolean): Check {
  const referenceKey = referenceElementKey();
  const primitives: PrimitiveCheck[] = [];
  const structures: string[] = [];
  const choices = new Map<object, number>();
  let variants = 0;
  const cases: string[] = [];
  if (isResource) cases.push(`case "resourceType": break;`);

  /** The code that checks the object `x` against structure `type`: its check, resolved into C on first use. */
  const structureCheck = (type: string, x: string): string => {
    structures.push(type);
    const i = structures.length - 1;
    return `if (!isPlainObject(${x}) || !(C[${i}] || (C[${i}] = get(S[${i}])))(${x}, depth + 1)) return false;`;
  };

  /** The code that checks `x`, one item of the element of `key`, returning false when it fails. */
  const item = (key: ElementKey): string => {
    if (key.primitive) {
      primitives.push({ key, reference: key === referenceKey });
      return `if (!ok(x, P[${primitives.length - 1}])) return false;`;
    }
    if (key.type === 'Resource') return `if (!resource(x, depth + 1)) return false;`;
    return structureCheck(key.type, 'x');
  };

  for (const key of of.keys.values()) {
    const { element } = key;
    let guard = '';
    if (element.choice) {
      // One variant per choice element: `c<n>` holds the variant seen (its `_x` is the same variant).
      if (!choices.has(element)) choices.set(element, choices.size);
      const c = `c${choices.get(element)}`;
      const variant = ++variants;
      guard = `if (${c} !== 0 && ${c} !== ${variant}) return false; ${c} = ${variant}; `;
    }
    const body = element.array
      ? `{ const a = value[k]; if (!Array.isArray(a) || a.length === 0) return false; for (let i = 0; i < a.length; i++) { const x = a[i]; ${item(key)} } }`
      : `{ const x = value[k]; if (Array.isArray(x)) return false; ${item(key)} }`;
    cases.push(`case ${JSON.stringify(key.key)}: ${guard}${body} break;`);
    // `_x` of a single primitive: its id and extensions (an Element). Arrays of them are the walker's.
    if (key.extensionKey && !element.array && key.primitive!.name !== 'xhtml') {
      cases.push(`case ${JSON.stringify(key.extensionKey)}: ${guard}${structureCheck('Element', 'value[k]')} break;`);
    }
  }
  const required = of.required.map(({ keys }) => `if (!(${keys.map((k) => `hasOwn(value, ${JSON.stringify(k)})`).join(' || ')})) return false;`);
  const source = [
    `if (tooDeep(depth)) return false;`,
    ...[...choices.values()].map((i) => `let c${i} = 0;`),
    `let count = 0;`,
    `for (const k in value) {`,
    `  count++;`,
    `  switch (k) {`,
    ...cases.map((c) => `    ${c}`),
    `    default: return false;`,
    `  }`,
    `}`,
    `if (count === 0) return false;`,
    ...required,
    `return true;`,
  ].join('\n');
  const factory = new Function(
    'P', 'S', 'C', 'ok', 'get', 'resource', 'isPlainObject', 'hasOwn', 'tooDeep',
    `return function check(value, depth) {\n${source}\n};`,
  ) as (...args: unknown[]) => Check;
  // C: the checks of S, resolved on first use (a structure's check may need its own, recursively).
  const resolved: (Check | undefined)[] = [];
  return factory(primitives, structures, resolved, primitiveOk, checkOf, resource, isPlainObject, Object.hasOwn, tooDeep);
}
