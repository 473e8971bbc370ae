/**
 * The search parameter registry: R4 (4.0.1) definitions as data plus custom definitions registered at
 * engine construction. Not global: the engine holds one instance (the base table is parsed once and
 * cached).
 * @packageDocumentation
 */
import definitions from './definitions-r4.json' with { type: 'json' };

/** A search parameter, as far as the engine uses it. */
export interface SearchParameterDefinition {
  readonly code: string;
  readonly type: 'number' | 'date' | 'string' | 'token' | 'reference' | 'composite' | 'quantity' | 'uri' | 'special';
  readonly base: readonly string[];
  readonly expression: string;
  readonly target?: readonly string[];
  readonly url?: string;
  /**
   * The parts of a composite parameter, in the order of the `$`-separated value: each names the
   * definition (by canonical url) that gives its type, and a FHIRPath expression relative to a node
   * of `expression` (R4 SearchParameter.component).
   */
  readonly components?: readonly CompositeComponent[];
}

/** One part of a composite search parameter. */
export interface CompositeComponent {
  /** Canonical url of the search parameter that gives this part its type and syntax. */
  readonly definition: string;
  /** Relative to a node of the composite's expression; `%resource` is the whole resource. */
  readonly expression: string;
}

type ParamTuple = readonly [string, string, readonly string[], string, readonly string[] | 0, string, (readonly [string, string])[]?];

/** Types whose parameters apply to every resource type. */
const COMMON_BASES = new Set(['Resource', 'DomainResource']);

let baseCache: { resourceTypes: ReadonlySet<string>; defs: readonly SearchParameterDefinition[] } | undefined;

function baseTable(): { resourceTypes: ReadonlySet<string>; defs: readonly SearchParameterDefinition[] } {
  if (!baseCache) {
    const data = definitions as unknown as { resourceTypes: string[]; params: ParamTuple[] };
    const defs = data.params.map(([code, type, base, expression, target, url, components]): SearchParameterDefinition => ({
      code,
      type: type as SearchParameterDefinition['type'],
      base,
      expression,
      ...(target ? { target } : {}),
      url,
      ...(components && { components: components.map(([definition, expression]) => ({ definition, expression })) }),
    }));
    baseCache = { resourceTypes: new Set(data.resourceTypes), defs };
  }
  return baseCache;
}

/** Search parameter definitions per resource type. */
export class SearchParameterRegistry {
  /** Every R4 resource type (and every base type of a custom definition). */
  readonly resourceTypes: ReadonlySet<string>;
  private readonly common = new Map<string, SearchParameterDefinition>();
  private readonly byType = new Map<string, Map<string, SearchParameterDefinition>>();
  private readonly merged = new Map<string, ReadonlyMap<string, SearchParameterDefinition>>();
  private readonly byUrl = new Map<string, SearchParameterDefinition>();

  /** The R4 base table plus `extra` definitions (an extra definition replaces a base one with the same base and code). */
  static r4(extra: readonly SearchParameterDefinition[] = []): SearchParameterRegistry {
    const base = baseTable();
    return new SearchParameterRegistry(base.resourceTypes, [...base.defs, ...extra]);
  }

  constructor(resourceTypes: Iterable<string>, defs: readonly SearchParameterDefinition[]) {
    const types = new Set(resourceTypes);
    for (const def of defs) {
      if (def.url) this.byUrl.set(def.url, def);
      for (const b of def.base) {
        if (COMMON_BASES.has(b)) {
          this.common.set(def.code, def);
          continue;
        }
        types.add(b);
        let m = this.byType.get(b);
        if (!m) this.byType.set(b, (m = new Map()));
        m.set(def.code, def);
      }
    }
    this.resourceTypes = types;
  }

  /** Parameters of `type`, common ones (`_id`, `_lastUpdated`, …) included. Empty for unknown types. */
  forType(type: string): ReadonlyMap<string, SearchParameterDefinition> {
    let m = this.merged.get(type);
    if (!m) {
      const own = this.byType.get(type);
      const all = new Map<string, SearchParameterDefinition>();
      if (this.resourceTypes.has(type)) {
        for (const [code, def] of this.common) all.set(code, def);
        if (own) for (const [code, def] of own) all.set(code, def);
      }
      m = all;
      this.merged.set(type, m);
    }
    return m;
  }

  /** One parameter of a type, or undefined. */
  get(type: string, code: string): SearchParameterDefinition | undefined {
    return this.forType(type).get(code);
  }

  /** A definition by its canonical url (how composite parameters name their parts), or undefined. */
  definition(url: string): SearchParameterDefinition | undefined {
    return this.byUrl.get(url);
  }

  /** Parameters that apply to every resource type. */
  commonParameters(): ReadonlyMap<string, SearchParameterDefinition> {
    return this.common;
  }
}

/**
 * The branches of `def.expression` that apply to `type`: the union is split at top level and only the
 * branches rooted at `type` (or `Resource`/`DomainResource`) are kept. `.where(resolve() is X)` is
 * removed from a branch and returned as `targetType` (the extractor filters references by it instead,
 * so no reference is ever resolved).
 */
export function branchesFor(def: SearchParameterDefinition, type: string): { expression: string; targetType?: string }[] {
  const parts = splitUnion(def.expression);
  const keep = parts.filter((p) => {
    const root = /^\(*\s*([A-Za-z_]\w*)/.exec(p)?.[1];
    return root === type || (root !== undefined && COMMON_BASES.has(root));
  });
  const chosen = keep.length > 0 ? keep : parts.filter((p) => !/^\(*\s*[A-Z]/.test(p) || def.base.includes(type)) ;
  return chosen.map((expr) => {
    const m = /\.where\(resolve\(\)\s+is\s+([A-Za-z]+)\)/.exec(expr);
    if (!m) return { expression: expr };
    return { expression: expr.replace(m[0], ''), targetType: m[1] as string };
  });
}

/** Splits a FHIRPath union `a | b | c` at top level (outside parentheses and strings). */
export function splitUnion(expression: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === "'") quote = false;
    } else if (c === "'") quote = true;
    else if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (c === '|' && depth === 0) {
      out.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(expression.slice(start).trim());
  return out.filter((s) => s.length > 0);
}
