/**
 * The R4 model facts FHIRPath Patch needs: where an element is defined, its type, whether it
 * repeats, its choice types.
 * @packageDocumentation
 */
import r4 from 'fhirpath/fhir-context/r4';
import { FORBIDDEN_SEGMENTS } from '../guard.js';

interface ModelTables {
  choiceTypePaths: Record<string, string[] | undefined>;
  pathsDefinedElsewhere: Record<string, string | undefined>;
  type2Parent: Record<string, string | undefined>;
  path2Type: Record<string, string | { code: string } | undefined>;
  path2Repeating: Record<string, boolean | undefined>;
}

const model = r4 as unknown as ModelTables;

export interface ElementDef {
  /** The model path of the element, e.g. `Patient.contact` or `HumanName.given`. */
  path: string;
  /** The element's type (`HumanName`, `string`, `BackboneElement`), absent for choice elements. */
  type?: string;
  /** Allowed type suffixes of a choice element (`DateTime`, `Period`). */
  choiceTypes?: string[];
  repeating: boolean;
}

const own = (table: Record<string, unknown>, key: string): boolean => Object.hasOwn(table, key);

/** The definition of child `name` of a value of `typePath`, searched up the type hierarchy. */
export function lookupElement(typePath: string | null | undefined, name: string): ElementDef | undefined {
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
export function isKnownType(typePath: string | null | undefined): typePath is string {
  return !!typePath && (own(model.type2Parent, typePath) || own(model.path2Type, typePath));
}

/** The type path under which the children of a value of element `def` are described. */
export function childTypePath(def: ElementDef | undefined, suffix: string | undefined): string | undefined {
  if (!def) return undefined;
  if (def.choiceTypes) {
    if (!suffix) return undefined;
    return own(model.type2Parent, suffix) ? suffix : suffix.charAt(0).toLowerCase() + suffix.slice(1);
  }
  if (def.type === 'BackboneElement' || def.type === 'Element') return def.path;
  return def.type;
}

/** Primitive FHIR types start with a lower-case letter (`string`, `dateTime`) or are `System.*`. */
export function isPrimitiveType(type: string | undefined): boolean {
  return !!type && (/^[a-z]/.test(type) || type.startsWith('System.'));
}
