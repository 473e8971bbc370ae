/**
 * The FHIR R4 model of fhirpath.js (`fhirpath/fhir-context/r4`) behind typed lookups, shared by search
 * extraction and FHIRPath Patch. Every lookup reads own properties only, so that element names such
 * as `constructor` never reach the prototype chain.
 * @packageDocumentation
 */
import r4 from 'fhirpath/fhir-context/r4';

/** The model as fhirpath.js takes it (for `fhirpath.compile`). */
export const R4_MODEL = r4;

interface ModelTables {
  choiceTypePaths: Record<string, string[] | undefined>;
  pathsDefinedElsewhere: Record<string, string | undefined>;
  type2Parent: Record<string, string | undefined>;
  path2Type: Record<string, string | { code: string } | undefined>;
  path2Repeating: Record<string, boolean | undefined>;
}

const tables = r4 as unknown as ModelTables;

function lookup<T>(table: Record<string, T | undefined>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** What the model says about one element. */
export interface ElementDef {
  /** The model path of the element, e.g. `Patient.contact` or `HumanName.given`. */
  path: string;
  /** The element's type (`HumanName`, `string`, `BackboneElement`), absent for choice elements. */
  type?: string;
  /** Allowed type suffixes of a choice element (`DateTime`, `Period`). */
  choiceTypes?: string[];
  repeating: boolean;
}

/** Typed lookups in the R4 model tables. Paths are model paths: `Type.element.child`. */
export const r4Model = {
  /** Where the element at `path` is defined (`Bundle.entry.link` → `Bundle.link`); `path` itself otherwise. */
  definedAt(path: string): string {
    return lookup(tables.pathsDefinedElsewhere, path) ?? path;
  },

  /** The type suffixes of a choice element (`Observation.value` → `Quantity`, `string`, …); undefined otherwise. */
  choiceTypes(path: string): string[] | undefined {
    return lookup(tables.choiceTypePaths, path);
  },

  /** The type of the element at `path` (`Patient.name` → `HumanName`); undefined when the model has no such element. */
  typeOf(path: string): string | undefined {
    const type = lookup(tables.path2Type, path);
    return typeof type === 'string' ? type : type?.code;
  },

  /** Whether the element at `path` repeats. */
  repeats(path: string): boolean {
    return lookup(tables.path2Repeating, path) === true;
  },

  /** The parent of a type (`Patient` → `DomainResource`); undefined for the root or an unknown name. */
  parentOf(type: string): string | undefined {
    return lookup(tables.type2Parent, type);
  },

  /** Whether `name` is a type of the model (`HumanName`, `Patient`, `BackboneElement`). */
  isType(name: string): boolean {
    return Object.hasOwn(tables.type2Parent, name);
  },

  /** Whether the model knows `name` as a type or as an element path. */
  knows(name: string): boolean {
    return r4Model.isType(name) || Object.hasOwn(tables.path2Type, name);
  },

  /**
   * The child `name` of a value of `typePath` (a type, or the path of a backbone element), looked up
   * along the type's ancestors (`Patient` → `DomainResource` → `Resource`; a backbone path →
   * `BackboneElement` → `Element`), through `definedAt`. Undefined when no ancestor has it.
   */
  element(typePath: string, name: string): ElementDef | undefined {
    const visited = new Set<string>();
    let current: string | undefined = typePath;
    while (current && !visited.has(current)) {
      visited.add(current);
      const path = r4Model.definedAt(`${current}.${name}`);
      const repeating = r4Model.repeats(path);
      const choiceTypes = r4Model.choiceTypes(path);
      if (choiceTypes) return { path, choiceTypes, repeating };
      const type = r4Model.typeOf(path);
      if (type !== undefined) return { path, type, repeating };
      current = r4Model.isType(current)
        ? r4Model.parentOf(current)
        : current.includes('.')
          ? 'BackboneElement'
          : undefined;
    }
    return undefined;
  },
} as const;
