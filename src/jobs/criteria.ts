/**
 * Search criteria → storage clauses for background jobs. Chains and `_has` are resolved once, at
 * submit, into reference / id clauses (the same way the search service resolves them), so a job's
 * criteria are fixed JSON that every chunk evaluates identically.
 * @packageDocumentation
 */
import { FhirError } from '../errors.js';
import type { Resource } from '../resource/resource.js';
import type { ParsedSearch } from '../search/parse.js';
import type { SearchService } from '../search/service.js';
import type { Clause } from '../storage/query.js';
import type { StorageReader } from '../storage/storage-adapter.js';

/** Most chain levels (`a.b.c` is 2), as in the search service. */
const CHAIN_DEPTH = 3;
/** Most resources an inner (chain / `_has`) search may match, as in the search service. */
const CHAIN_FANOUT = 1000;

/** Criteria resolved for a job. */
export interface ResolvedCriteria {
  /** Types searched (every type for a system-level job, narrowed by `_type`). */
  readonly types: readonly string[];
  readonly where: readonly Clause[];
  /** The parsed search (include / revinclude / warnings), for validation. */
  readonly parsed: ParsedSearch;
}

/**
 * Parses `params` strictly (an unknown parameter is a 400) and resolves chains and `_has` against
 * `reader`.
 */
export async function resolveCriteria(
  search: SearchService,
  reader: StorageReader,
  types: readonly string[],
  params: readonly (readonly [string, string])[],
  baseUrl: string,
): Promise<ResolvedCriteria> {
  const parsed = search.parser.parse(types, params, { strict: true, baseUrl });
  const where = await resolve(search, reader, parsed, 0, baseUrl);
  return { types: parsed.types, where, parsed };
}

async function resolve(
  search: SearchService,
  reader: StorageReader,
  parsed: ParsedSearch,
  depth: number,
  baseUrl: string,
): Promise<Clause[]> {
  if (parsed.chains.length === 0 && parsed.has.length === 0) return [...parsed.where];
  if (depth >= CHAIN_DEPTH) throw new FhirError(400, 'too-costly', `Chained search is limited to ${CHAIN_DEPTH} levels.`);
  const out = [...parsed.where];
  for (const chain of parsed.chains) {
    const hits = await inner(search, reader, chain.targetTypes, chain.inner, depth, baseUrl, true, `${chain.param}.${chain.inner[0]}`);
    if (hits) {
      out.push({
        kind: 'any',
        param: chain.param,
        of: hits.map((h) => ({ kind: 'reference' as const, targetType: h.type, targetId: h.id })),
      });
    }
  }
  for (const has of parsed.has) {
    const label = `_has:${has.sourceType}:${has.param}:${has.inner[0]}`;
    const hits = await inner(search, reader, [has.sourceType], has.inner, depth, baseUrl, false, label);
    if (!hits) continue;
    const ids = new Set<string>();
    for (const h of hits) {
      if (h.json === undefined) continue;
      for (const e of search.extractor.extractParam(JSON.parse(h.json) as Resource, has.param)) {
        if (e.kind === 'reference' && e.targetId !== null && e.targetType !== null && parsed.types.includes(e.targetType)) {
          ids.add(e.targetId);
        }
      }
    }
    out.push({ kind: 'ids', ids: [...ids] });
  }
  return out;
}

async function inner(
  search: SearchService,
  reader: StorageReader,
  types: readonly string[],
  param: readonly [string, string],
  depth: number,
  baseUrl: string,
  keysOnly: boolean,
  label: string,
) {
  const parsed = search.parser.parse(types, [param], { strict: true, baseUrl });
  if (parsed.criteria === 0) return undefined;
  const where = await resolve(search, reader, parsed, depth + 1, baseUrl);
  const result = await reader.search({ types, where, sort: [], limit: CHAIN_FANOUT + 1, keysOnly });
  if (result.hits.length > CHAIN_FANOUT) {
    throw new FhirError(400, 'too-costly', `The search '${label}' matches more than ${CHAIN_FANOUT} resources; refine it.`);
  }
  return result.hits;
}
