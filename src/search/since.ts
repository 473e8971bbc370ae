/**
 * `_since` of `$everything` and `$export`: the resources whose `meta.lastUpdated` is at or after an
 * instant, as a `_lastUpdated` clause.
 * @packageDocumentation
 */
import { badRequest } from '../errors.js';
import type { Clause } from '../storage/query.js';
import type { SearchParser } from './parse.js';

/**
 * The clause of `_since=value`. `ge`, where the operations say "after": a client that passes the
 * time of its last call (an export's `transactionTime`) then gets a resource written in that same
 * millisecond again, rather than never. 400 for a value that is no date.
 */
export function sinceClause(parser: SearchParser, value: string): Clause {
  let where: readonly Clause[] = [];
  try {
    where = parser.parse(['Patient'], [['_lastUpdated', `ge${value.trim()}`]], { strict: true }).where;
  } catch {
    // reported below, as a _since error
  }
  if (where.length !== 1 || value.trim() === '') throw badRequest(`Invalid _since value '${value}': expected an instant such as 2024-01-01T00:00:00Z.`, ['_since']);
  return where[0]!;
}
