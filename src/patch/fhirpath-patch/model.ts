/**
 * FHIRPath Patch's view of the R4 model (`src/fhirpath/r4-model.ts`): element lookups that refuse
 * forbidden names, and the type under which a new value's children are described.
 * @packageDocumentation
 */
import { r4Model, type ElementDef } from '../../fhirpath/r4-model.js';
import { FORBIDDEN_SEGMENTS } from '../guard.js';

export type { ElementDef };

/** The definition of child `name` of a value of `typePath` (never a forbidden segment such as `__proto__`). */
export function lookupElement(typePath: string | null | undefined, name: string): ElementDef | undefined {
  if (!typePath || FORBIDDEN_SEGMENTS.has(name)) return undefined;
  return r4Model.element(typePath, name);
}

/** Whether the model knows `typePath` at all (so that an unknown child is a client error). */
export function isKnownType(typePath: string | null | undefined): typePath is string {
  return !!typePath && r4Model.knows(typePath);
}

/** The type path under which the children of a value of element `def` are described. */
export function childTypePath(def: ElementDef | undefined, suffix: string | undefined): string | undefined {
  if (!def) return undefined;
  if (def.choiceTypes) {
    if (!suffix) return undefined;
    return r4Model.isType(suffix) ? suffix : suffix.charAt(0).toLowerCase() + suffix.slice(1);
  }
  if (def.type === 'BackboneElement' || def.type === 'Element') return def.path;
  return def.type;
}

/** Primitive FHIR types start with a lower-case letter (`string`, `dateTime`) or are `System.*`. */
export function isPrimitiveType(type: string | undefined): boolean {
  return !!type && (/^[a-z]/.test(type) || type.startsWith('System.'));
}
