/**
 * Compartment search (search.html §3.1.1.2 / http.html): `GET [base]/Patient/123/Observation?…` is
 * the Observation search restricted to Patient/123's compartment, `GET [base]/Patient/123/*` the same
 * over every type the compartment can hold. Everything else (criteria, paging, `_sort`, `_include`,
 * `_count`, `_total`) is the ordinary search.
 *
 * Membership follows the CompartmentDefinition exactly: a resource is in Patient/123's compartment
 * when one of the definition's parameters for its type points at Patient/123, so Patient/123 itself
 * is not (the Patient definition lists no `{def}`), while Encounter/7 is in Encounter/7's.
 * @packageDocumentation
 */
import { badRequest, notFound } from '../errors.js';
import { compartmentClause } from '../search/compartments.js';
import type { StorageTx } from '../storage/storage-adapter.js';
import type { EngineContext } from './context.js';
import { assertResourceType, read } from './crud.js';

/** `*`: every type of the compartment. */
export const ALL_TYPES = '*';

/** 404 unless `code` names one of the compartments. */
export function assertCompartment(ctx: EngineContext, code: string): void {
  const table = ctx.extractor.compartments;
  if (!table.isCompartment(code)) {
    throw notFound(`'${code}' is not a compartment; the compartments are ${table.codes.join(', ')}.`);
  }
}

/**
 * The types a compartment search over `target` (a type, or `*`) searches. 404 for an unknown type,
 * 400 for a type the compartment never holds.
 */
export function compartmentTypes(ctx: EngineContext, code: string, target: string): readonly string[] {
  assertCompartment(ctx, code);
  const table = ctx.extractor.compartments;
  if (target === ALL_TYPES) return table.memberTypes(code);
  assertResourceType(ctx, target);
  if (table.paramsOf(code, target) === undefined) {
    throw badRequest(`Resources of type '${target}' are never in the ${code} compartment.`);
  }
  return [target];
}

/**
 * What a compartment search needs: its types and the clause restricting it. The compartment's
 * resource must exist: 404 when it never did, 410 when it is deleted.
 */
export async function compartmentScope(
  ctx: EngineContext,
  code: string,
  id: string,
  target: string,
  tx: StorageTx | undefined,
): Promise<{ types: readonly string[]; restrict: ReturnType<typeof compartmentClause> }> {
  const types = compartmentTypes(ctx, code, target);
  await read(ctx, code, id, tx);
  return { types, restrict: compartmentClause(code, id) };
}
