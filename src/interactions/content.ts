/**
 * What a write stores, decided in one place for every interaction that writes content (create,
 * update, their conditional forms and patch; single requests and bundle entries alike): the content
 * is checked, then its links are resolved.
 * @packageDocumentation
 */
import { badRequest } from '../errors.js';
import type { Resource } from '../resource/resource.js';
import { checkEnvelope } from '../resource/validate.js';
import type { StorageReader } from '../storage/storage-adapter.js';
import { invalidResourceError, validateResource } from '../validation/index.js';
import type { EngineContext } from './context.js';
import { resolveConditionalReferences, rewriteFullUrls } from './references.js';

/**
 * The resource a write of `type` stores, from a request body or a patch result. A resource of another
 * type is a 400. With `validation: 'strict'` the resource must be valid against the R4 base definitions:
 * otherwise a 400 whose OperationOutcome lists every issue (http.html: 400 for a resource that "failed
 * basic FHIR validation rules"; 422 is for profiles and business rules). With `validation: 'off'` only
 * the envelope is checked (resourceType, id syntax, meta).
 *
 * A patch result is checked the same way, as the update it is (Microsoft's service: 400 too).
 */
export function checkedResource(ctx: EngineContext, content: unknown, type: string): Resource {
  const declared = typeof content === 'object' && content !== null ? (content as Partial<Resource>).resourceType : undefined;
  if (typeof declared === 'string' && declared !== type) {
    throw badRequest(`Resource type in the body ('${declared}') does not match the URL ('${type}').`, ['resourceType']);
  }
  if (ctx.validation === 'off') return checkEnvelope(content);
  const issues = validateResource(content);
  if (issues.length > 0) throw invalidResourceError(issues);
  return content as Resource;
}

/**
 * `resource` with its links resolved, inside the unit of work `reader`: links to the fullUrls of a
 * transaction's entries rewritten (after validation: what the client sent is what was validated), then
 * conditional references replaced by the one resource each matches. `resource` itself when it has none.
 */
export function linkedResource(
  ctx: EngineContext,
  reader: StorageReader,
  resource: Resource,
  fullUrls: ReadonlyMap<string, string> | undefined,
): Resource | Promise<Resource> {
  const linked = fullUrls === undefined ? resource : rewriteFullUrls(resource, fullUrls);
  return resolveConditionalReferences(ctx, reader, linked);
}
