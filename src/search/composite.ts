/**
 * Composite search parameters (search.html §3.1.1.4.9, R4 SearchParameter.component): a value such
 * as `code-value-quantity=http://loinc.org|8480-6$gt140` matches when, within ONE value of the
 * composite's expression (the resource itself, one `Observation.component`, one `useContext`), every
 * part matches its own part of the value. Parts are evaluated here, in the core, on a resource's
 * JSON, so that no adapter has to store or compare composite index entries: the search service
 * narrows the candidates through the adapter with the parts' own parameters and hands the matches
 * on as an `ids` clause.
 * @packageDocumentation
 */
import { compileFhirPath } from '../fhirpath/compile.js';
import type { Resource } from '../resource/resource.js';
import type { IndexEntry } from '../storage/index-entry.js';
import type { Clause } from '../storage/query.js';
import { compileDirect, elementPathOf, normalizeValue, SEARCH_EXPRESSIONS } from './extract.js';
import { matchClause } from './match.js';
import { branchesFor, splitUnion, type SearchParameterDefinition, type SearchParameterRegistry } from './registry.js';

/** Reads values from a node of the composite's expression (`resource` is the whole resource). */
type PartGetter = (node: unknown, resource: Resource) => unknown[];

/** One part of a composite, ready to evaluate. */
interface CompiledPart {
  /** The definition that gives the part its type; its code names the part's index entries. */
  readonly def: SearchParameterDefinition;
  readonly get: PartGetter;
}

/** One branch of the composite's expression (`Observation | Observation.component` has two). */
interface CompiledBranch {
  readonly nodes: (resource: Resource) => unknown[];
  readonly parts: readonly CompiledPart[];
}

/** A composite parameter compiled for one resource type. */
export interface CompiledComposite {
  readonly def: SearchParameterDefinition;
  /** The definitions of the parts, in the order of the `$`-separated value. */
  readonly parts: readonly SearchParameterDefinition[];
  readonly branches: readonly CompiledBranch[];
}

/**
 * One value of a composite parameter: one clause per part, in order. A clause's `param` is the code
 * of the part's definition.
 */
export type CompositeValue = readonly Clause[];

const SIMPLE_PATH = /^[A-Z][A-Za-z]*(?:\.[a-z]\w*)*$/;

/** Compiles and evaluates composite parameters; one per engine, compiled once per (type, parameter). */
export class CompositeEvaluator {
  private readonly compiled = new Map<string, CompiledComposite | null>();
  private readonly isResourceType: (t: string) => boolean;

  constructor(readonly registry: SearchParameterRegistry) {
    this.isResourceType = (t) => registry.resourceTypes.has(t);
  }

  /** The composite `def` compiled for `type`, or undefined when a part or an expression cannot be evaluated. */
  compile(type: string, def: SearchParameterDefinition): CompiledComposite | undefined {
    const key = `${type}\u0000${def.url ?? def.code}`;
    let c = this.compiled.get(key);
    if (c === undefined) {
      c = this.build(type, def) ?? null;
      this.compiled.set(key, c);
    }
    return c ?? undefined;
  }

  /**
   * Whether `resource` matches at least one of `values` (comma = OR), every part of a value matching
   * within the same node of the composite's expression.
   */
  matches(resource: Resource, composite: CompiledComposite, values: readonly CompositeValue[]): boolean {
    for (const branch of composite.branches) {
      let nodes: unknown[];
      try {
        nodes = branch.nodes(resource);
      } catch {
        continue; // a malformed resource matches nothing here, as it indexes nothing
      }
      for (const node of nodes) {
        const entries = branch.parts.map((part) => this.entriesOf(part, node, resource));
        for (const value of values) {
          if (value.every((clause, i) => matchClause(entries[i]!, clause))) return true;
        }
      }
    }
    return false;
  }

  private entriesOf(part: CompiledPart, node: unknown, resource: Resource): IndexEntry[] {
    const out: IndexEntry[] = [];
    let values: unknown[];
    try {
      values = part.get(node, resource);
    } catch {
      return out;
    }
    for (const v of values) {
      if (v !== null && v !== undefined) normalizeValue(part.def.code, part.def.type, v, undefined, this.isResourceType, out);
    }
    return out;
  }

  private build(type: string, def: SearchParameterDefinition): CompiledComposite | undefined {
    if (def.type !== 'composite' || !def.expression || !def.components || def.components.length === 0) return undefined;
    const parts: SearchParameterDefinition[] = [];
    for (const c of def.components) {
      const partDef = this.registry.definition(c.definition);
      if (!partDef || partDef.type === 'composite' || partDef.type === 'special') return undefined;
      parts.push(partDef);
    }
    const branches: CompiledBranch[] = [];
    for (const { expression } of branchesFor(def, type)) {
      const branch = this.compileBranch(type, expression, def, parts);
      if (!branch) return undefined;
      branches.push(branch);
    }
    return branches.length > 0 ? { def, parts, branches } : undefined;
  }

  private compileBranch(type: string, expression: string, def: SearchParameterDefinition, parts: readonly SearchParameterDefinition[]): CompiledBranch | undefined {
    let nodes: (resource: Resource) => unknown[];
    let from: string | undefined;
    if (expression === type) {
      nodes = (resource) => [resource];
      from = type;
    } else {
      const direct = compileDirect(expression, type);
      from = elementPathOf(expression, type);
      if (direct) nodes = direct;
      else {
        const compiled = tryCompile(expression);
        if (!compiled) return undefined;
        nodes = compiled;
      }
    }
    // fhirpath.js evaluates a relative expression given the model path of its input.
    const fhirpathBase = SIMPLE_PATH.test(expression) ? expression : undefined;
    const compiledParts: CompiledPart[] = [];
    for (let i = 0; i < parts.length; i++) {
      const get = this.compilePart(type, def.components![i]!.expression, from, fhirpathBase);
      if (!get) return undefined;
      compiledParts.push({ def: parts[i]!, get });
    }
    return { nodes, parts: compiledParts };
  }

  /** A part's expression: relative to a node, `%resource.…` on the resource, `a | b` as a union. */
  private compilePart(type: string, expression: string, from: string | undefined, fhirpathBase: string | undefined): PartGetter | undefined {
    const union = splitUnion(expression);
    if (union.length > 1) {
      const getters = union.map((e) => this.compilePart(type, e, from, fhirpathBase));
      if (getters.some((g) => g === undefined)) return undefined;
      return (node, resource) => getters.flatMap((g) => g!(node, resource));
    }
    const onResource = /^%resource\.(.+)$/.exec(expression.trim());
    if (onResource) {
      const direct = compileDirect(`${type}.${onResource[1]}`, type);
      if (direct) return (_node, resource) => direct(resource);
    } else if (from !== undefined) {
      const direct = compileDirect(expression, type, from);
      if (direct) return (node) => direct(node as Resource);
    }
    if (fhirpathBase === undefined) return undefined;
    let compiled;
    try {
      compiled = compileFhirPath(expression, SEARCH_EXPRESSIONS, fhirpathBase);
    } catch {
      return undefined;
    }
    return (node, resource) => compiled(node, { resource });
  }
}

function tryCompile(expression: string): ((resource: Resource) => unknown[]) | undefined {
  try {
    return compileFhirPath(expression, SEARCH_EXPRESSIONS);
  } catch {
    return undefined;
  }
}
