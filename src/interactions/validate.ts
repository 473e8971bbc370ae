/**
 * `$validate` (R4 resource-operation-validate.html): `POST [type]/$validate` and
 * `POST [type]/[id]/$validate`, with the resource as the body or in a `Parameters` (`resource`, `mode`,
 * `profile`). The answer is 200 with an OperationOutcome whether or not the resource is valid; only a
 * request that cannot be validated at all is a 4xx.
 * @packageDocumentation
 */
import { badRequest, operationOutcome } from '../errors.js';
import type { OperationOutcome, OperationOutcomeIssue, Resource } from '../resource/resource.js';
import { validateResource, validationOutcome } from '../validation/index.js';
import type { EngineContext } from './context.js';
import { read } from './crud.js';
import type { Criteria } from './request.js';
import type { BodyOutcome } from './result.js';

/** `create` and `update` validate the resource for that interaction, `delete` whether it may be deleted, `profile` against the profile only. */
const MODES = new Set(['create', 'update', 'delete', 'profile']);

interface ValidateInput {
  readonly resource: unknown;
  readonly mode: string | undefined;
  readonly profile: string | undefined;
}

type Parameter = { name?: unknown; resource?: unknown; valueCode?: unknown; valueUri?: unknown; valueCanonical?: unknown };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The body as `$validate` reads it. A `Parameters` body is the operation's parameters, unless the URL
 * names `Parameters` itself and the body has no `resource` parameter: then it is the resource to validate.
 */
function inputOf(type: string, body: unknown, query: Criteria): ValidateInput {
  const fromQuery = (name: string) => query.find(([k]) => k === name)?.[1];
  const parameters = isObject(body) && body.resourceType === 'Parameters' && Array.isArray(body.parameter) ? (body.parameter as unknown[]).filter(isObject) as Parameter[] : undefined;
  const named = (name: string) => parameters?.find((p) => p.name === name);
  if (parameters === undefined || (type === 'Parameters' && named('resource') === undefined)) {
    return { resource: body, mode: fromQuery('mode'), profile: fromQuery('profile') };
  }
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const profile = named('profile');
  return {
    resource: named('resource')?.resource,
    mode: text(named('mode')?.valueCode) ?? fromQuery('mode'),
    profile: text(profile?.valueUri) ?? text(profile?.valueCanonical) ?? fromQuery('profile'),
  };
}

/**
 * Runs `$validate` on `type` (and `id` at instance level). 400 for an unknown mode, a missing resource
 * (but for `mode=delete`) and `mode=delete` at type level; 404/410 for `mode=delete` on a resource that
 * is not there.
 */
export async function validateOperation(
  ctx: EngineContext,
  type: string,
  id: string | undefined,
  body: unknown,
  query: Criteria,
): Promise<BodyOutcome> {
  const { resource, mode, profile } = inputOf(type, body, query);
  if (mode !== undefined && !MODES.has(mode)) {
    throw badRequest(`Unknown $validate mode '${mode}': expected create, update, delete or profile.`, ['mode']);
  }
  const notes: OperationOutcomeIssue[] = [];
  if (profile !== undefined) {
    notes.push({ severity: 'warning', code: 'not-supported', diagnostics: `Profile '${profile}' was not checked: only the R4 base definitions are validated.`, expression: ['profile'] });
  }
  if (mode === 'delete') {
    if (id === undefined) throw badRequest('$validate with mode=delete needs a resource id: POST [type]/[id]/$validate.', ['mode']);
    await read(ctx, type, id); // 404 or 410 when there is nothing to delete; the engine refuses no other delete
    return { outcome: 'operation-outcome', body: withNotes(validationOutcome([]), notes) };
  }
  if (resource === undefined) throw badRequest('$validate needs a resource: the body, or the "resource" parameter of a Parameters body.', ['resource']);
  const issues: OperationOutcomeIssue[] = validateResource(resource);
  const declared = isObject(resource) ? resource.resourceType : undefined;
  if (typeof declared === 'string' && declared !== type) {
    issues.unshift({ severity: 'error', code: 'invalid', diagnostics: `Resource type in the body ('${declared}') does not match the URL ('${type}').`, expression: ['resourceType'] });
  }
  const bodyId = isObject(resource) ? (resource as Partial<Resource>).id : undefined;
  if (id !== undefined && bodyId !== undefined && bodyId !== id) {
    issues.push({ severity: 'error', code: 'invalid', diagnostics: `Id in the URL ('${id}') must match id in the resource ('${String(bodyId)}').`, expression: [`${type}.id`] });
  }
  if (mode === 'update' && bodyId === undefined) {
    issues.push({ severity: 'error', code: 'required', diagnostics: 'Id must be specified in the resource for an update.', expression: [`${type}.id`] });
  }
  return { outcome: 'operation-outcome', body: withNotes(validationOutcome(issues), notes) };
}

const withNotes = (outcome: OperationOutcome, notes: readonly OperationOutcomeIssue[]): OperationOutcome =>
  notes.length === 0 ? outcome : operationOutcome([...outcome.issue, ...notes]);
