/**
 * Search criteria → storage clauses for background jobs. Chains, `_has` and composites are resolved once, at
 * submit, into reference / id clauses (the same way the search service resolves them), so a job's
 * criteria are fixed JSON that every chunk evaluates identically.
 * @packageDocumentation
 */
import type { ParsedSearch } from '../search/parse.js';
import type { SearchService } from '../search/service.js';
import type { Clause } from '../storage/query.js';
import type { StorageReader } from '../storage/storage-adapter.js';

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
 * `reader`, with the search service's own rules and limits.
 */
export async function resolveCriteria(
  search: SearchService,
  reader: StorageReader,
  types: readonly string[],
  params: readonly (readonly [string, string])[],
  baseUrl: string,
): Promise<ResolvedCriteria> {
  const resolved = await search.resolveCriteria(reader, types, params, { strict: true, baseUrl });
  return { types: resolved.types, where: resolved.where, parsed: resolved.parsed };
}
