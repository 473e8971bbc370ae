/**
 * One compile cache for every FHIRPath expression the engine evaluates with fhirpath.js: search
 * parameter expressions and FHIRPath Patch paths. Compiling costs far more than evaluating, and
 * patch paths come from clients, so the cache is bounded.
 * @packageDocumentation
 */
import fhirpath from 'fhirpath';
import { R4_MODEL } from './r4-model.js';

/**
 * A compiled expression: the result collection for a resource (or, for an expression compiled with
 * a `base`, for a value of that element; `env` then supplies `%resource`).
 */
export type CompiledFhirPath = (resource: unknown, env?: Readonly<Record<string, unknown>>) => unknown[];

/** How one family of expressions is compiled. */
export interface FhirPathDialect {
  /** Tells the family apart in the cache. */
  readonly name: string;
  /** Rewrites an expression before it is compiled (work-arounds for fhirpath.js). */
  readonly rewrite: (expression: string) => string;
  /**
   * Results are fhirpath.js `ResourceNode`s (which know their parent node, property name and index)
   * instead of plain JSON values (`resolveInternalTypes: false`).
   */
  readonly nodes: boolean;
}

/** Compiled expressions (or the compile error) kept at most per dialect; the oldest goes first. */
const MAX_CACHED_EXPRESSIONS = 1000;
/** Dialect name → expression → compiled function or compile error. */
const caches = new Map<string, Map<string, CompiledFhirPath | Error>>();

/**
 * Compiles `expression` against the R4 model once per dialect and returns the cached function;
 * throws the compile error of fhirpath.js (also cached) for an invalid expression. With `base` (a
 * model path such as `Observation.component`), the expression is relative to a value of that element.
 */
export function compileFhirPath(expression: string, dialect: FhirPathDialect, base?: string): CompiledFhirPath {
  let cache = caches.get(dialect.name);
  if (cache === undefined) caches.set(dialect.name, (cache = new Map()));
  const key = base === undefined ? expression : `${base}\u0000${expression}`;
  let entry = cache.get(key);
  if (entry === undefined) {
    try {
      // Plain values are fhirpath.js's defaults (and synchronous evaluation in both).
      const options = dialect.nodes ? ({ resolveInternalTypes: false, async: false } as const) : undefined;
      const rewritten = dialect.rewrite(expression);
      const fn = fhirpath.compile(base === undefined ? rewritten : { base, expression: rewritten }, R4_MODEL, options);
      entry = (resource, env) => {
        const result = (env === undefined ? fn(resource) : fn(resource, env as Record<string, unknown>)) as unknown;
        return Array.isArray(result) ? result : [];
      };
    } catch (error) {
      entry = error instanceof Error ? error : new Error(String(error));
    }
    if (cache.size >= MAX_CACHED_EXPRESSIONS) cache.delete(cache.keys().next().value as string);
    cache.set(key, entry);
  }
  if (entry instanceof Error) throw entry;
  return entry;
}
