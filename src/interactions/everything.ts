/**
 * `Patient/[id]/$everything` and `Patient/$everything` (patient-operation-everything.html): the
 * patient (or every patient), every resource in its compartment, and the resources those reference,
 * one level out, as a paged searchset Bundle. `_since`, `_type` and `_count` are honoured.
 *
 * Paging: the result is a sequence of phases, each an ordinary keyset-paged storage query: first the
 * patient(s), then the compartment's members. A page is filled from the phase its cursor names and
 * runs on into the next phase when one ends; the cursor (`_cursor`, in the next link) is the phase
 * and the storage position of the last resource given. Every member is a match on exactly one page,
 * whatever is written between pages (keyset positions stay valid). The referenced resources come as
 * `include` entries on the page of a resource that references them, unless they are matches of the
 * operation themselves (then they are on their own page): a resource outside the compartment
 * referenced from two pages comes on both, as `_include` does (search.html).
 * @packageDocumentation
 */
import { badRequest, FhirError, operationOutcome } from '../errors.js';
import type { OperationOutcomeIssue, Resource } from '../resource/resource.js';
import { COMPARTMENT_PARAM, compartmentClause } from '../search/compartments.js';
import { parseReference } from '../search/normalize.js';
import { linkUrl } from '../search/service.js';
import { sinceClause } from '../search/since.js';
import type { Clause, SearchHit } from '../storage/query.js';
import type { StorageReader, StorageTx } from '../storage/storage-adapter.js';
import { readerOf, type EngineContext } from './context.js';
import { read } from './crud.js';
import { forEachReference } from './references.js';
import type { Criteria } from './request.js';
import { JsonText, type Body } from './result.js';

/** The compartment `$everything` walks. */
const PATIENT = 'Patient';

/** Parameters that change nothing in the result. */
const IGNORED = new Set(['_format', '_pretty']);

/** What a `$everything` request asks for. */
export interface EverythingRequest {
  /** The patient; undefined for every patient (type level). */
  readonly id?: string;
  readonly params: Criteria;
  readonly strict: boolean;
  /** Answer with JSON text, stored resources spliced in unparsed (`handle()`). */
  readonly text: boolean;
  /** The unit of work to read in (a transaction's GET entry). */
  readonly tx?: StorageTx;
}

/** One phase of the result: an ordinary storage query. */
interface Phase {
  readonly types: readonly string[];
  readonly where: readonly Clause[];
}

interface Options {
  readonly types: ReadonlySet<string> | undefined;
  readonly since: Clause | undefined;
  readonly count: number;
  readonly cursor: { readonly phase: number; readonly after?: string } | undefined;
  readonly warnings: OperationOutcomeIssue[];
}

function parseOptions(ctx: EngineContext, params: Criteria, strict: boolean): Options {
  const warnings: OperationOutcomeIssue[] = [];
  let types: Set<string> | undefined;
  let since: Clause | undefined;
  let count = ctx.limits.defaultCount;
  let cursor: Options['cursor'];
  for (const [name, value] of params) {
    switch (name) {
      case '_type':
        types ??= new Set();
        for (const t of value.split(',').map((s) => s.trim()).filter(Boolean)) {
          if (!ctx.registry.resourceTypes.has(t)) throw badRequest(`Unknown resource type '${t}' in _type.`, ['_type']);
          types.add(t);
        }
        break;
      case '_since':
        since = sinceClause(ctx.search.parser, value);
        break;
      case '_count':
        if (!/^\d+$/.test(value) || Number(value) === 0) throw badRequest(`Invalid _count value '${value}': expected a positive integer.`, ['_count']);
        count = Math.min(Number(value), ctx.limits.maxCount);
        break;
      case '_cursor': {
        const m = /^(\d+)(?:\.(.*))?$/s.exec(value);
        if (!m) throw badRequest(`Invalid _cursor '${value}'.`, ['_cursor']);
        cursor = m[2] === undefined ? { phase: Number(m[1]) } : { phase: Number(m[1]), after: m[2] };
        break;
      }
      default: {
        if (IGNORED.has(name)) break;
        const message = `The parameter '${name}' is not supported by $everything.`;
        if (strict) throw new FhirError(400, 'not-supported', message, { expression: [name] });
        warnings.push({ severity: 'warning', code: 'not-supported', diagnostics: message, expression: [name] });
      }
    }
  }
  return { types, since, count, cursor, warnings };
}

/** The phases of a `$everything`: the patient (or every patient), then the compartment's members. */
function phasesOf(ctx: EngineContext, id: string | undefined, options: Options): Phase[] {
  const wanted = (t: string): boolean => options.types === undefined || options.types.has(t);
  const since = options.since ? [options.since] : [];
  const phases: Phase[] = [];
  if (wanted(PATIENT)) {
    phases.push({ types: [PATIENT], where: id === undefined ? since : [{ kind: 'ids', ids: [id] }, ...since] });
  }
  // At type level every Patient is in the first phase: the ones in a compartment (`link`) would come twice.
  const members = ctx.extractor.compartments.memberTypes(PATIENT).filter((t) => wanted(t) && (id !== undefined || t !== PATIENT));
  if (members.length > 0) phases.push({ types: members, where: [compartmentClause(PATIENT, id), ...since] });
  return phases;
}

/** The page's matches and the cursor of the next page (undefined on the last page). */
async function fillPage(reader: StorageReader, phases: readonly Phase[], options: Options): Promise<{ hits: SearchHit[]; next?: string }> {
  const hits: SearchHit[] = [];
  let phase = options.cursor?.phase ?? 0;
  let after = options.cursor?.after;
  if (phase > phases.length) throw badRequest('Invalid _cursor.', ['_cursor']);
  for (; phase < phases.length; phase++, after = undefined) {
    const room = options.count - hits.length;
    const { types, where } = phases[phase]!;
    // With no room left, one hit says whether this phase (hence a next page) has anything.
    const query = { types, where, sort: [], limit: room + 1, ...(after !== undefined && { after }) };
    let result;
    try {
      result = await reader.search(query);
    } catch (error) {
      if (after !== undefined && !(error instanceof FhirError)) throw badRequest('Invalid _cursor.', ['_cursor']);
      throw error;
    }
    if (result.hits.length > room) {
      hits.push(...result.hits.slice(0, room));
      // The page ends inside this phase (after its last hit), or, when it was full already, right before it.
      return { hits, next: room > 0 ? `${phase}.${hits[hits.length - 1]!.position}` : `${phase}` };
    }
    hits.push(...result.hits);
  }
  return { hits };
}

/** Every local `Type/id` a resource references (any `reference` element, contained resources included), by type. */
function referencesOf(ctx: EngineContext, resource: Resource, out: Map<string, Set<string>>): void {
  forEachReference(resource, ({ reference }) => {
    const ref = parseReference(reference, (t) => ctx.registry.resourceTypes.has(t));
    if (!ref || ref.targetType === null || ref.targetId === null) return;
    if (ref.url !== null && !(ctx.baseUrl !== '' && ref.url.startsWith(`${ctx.baseUrl}/`))) return;
    let ids = out.get(ref.targetType);
    if (!ids) out.set(ref.targetType, (ids = new Set()));
    ids.add(ref.targetId);
  });
}

/**
 * The resources the page's matches reference that are not matches of the operation themselves:
 * not on this page, not the patient(s), not in the compartment (those have a page of their own),
 * and of a wanted type and `_since` when those are given.
 */
async function referenced(
  ctx: EngineContext,
  reader: StorageReader,
  page: readonly { hit: SearchHit; resource: Resource }[],
  id: string | undefined,
  options: Options,
): Promise<SearchHit[]> {
  const wanted = new Map<string, Set<string>>();
  for (const m of page) referencesOf(ctx, m.resource, wanted);
  for (const m of page) wanted.get(m.hit.type)?.delete(m.hit.id);
  const out: SearchHit[] = [];
  for (const [type, ids] of [...wanted].sort(([a], [b]) => a.localeCompare(b))) {
    if (ids.size === 0 || (options.types !== undefined && !options.types.has(type))) continue;
    if (type === PATIENT && id === undefined) continue; // every patient is a match
    const where: Clause[] = [{ kind: 'ids', ids: [...ids].sort() }];
    if (options.since) where.push(options.since);
    const { hits } = await reader.search({ types: [type], where, sort: [], limit: ids.size });
    for (const hit of hits) {
      if (hit.json === undefined) continue;
      if (type === PATIENT && hit.id === id) continue;
      if (ctx.extractor.compartments.paramsOf(PATIENT, type) !== undefined && inPatientCompartment(ctx, hit.json, id)) continue;
      out.push(hit);
    }
  }
  return out;
}

function inPatientCompartment(ctx: EngineContext, json: string, id: string | undefined): boolean {
  const entries = ctx.extractor.extractParam(JSON.parse(json) as Resource, COMPARTMENT_PARAM);
  return entries.some((e) => e.kind === 'reference' && e.targetType === PATIENT && (id === undefined || e.targetId === id));
}

/** `Patient/[id]/$everything` or `Patient/$everything`: one page of the searchset Bundle. */
export async function everything(ctx: EngineContext, request: EverythingRequest): Promise<Body> {
  const options = parseOptions(ctx, request.params, request.strict);
  const reader = readerOf(ctx, request.tx);
  // 404 for a patient that never existed, 410 for a deleted one.
  if (request.id !== undefined) await read(ctx, PATIENT, request.id, request.tx);
  const phases = phasesOf(ctx, request.id, options);
  const { hits, next } = await fillPage(reader, phases, options);
  const page = hits.filter((h) => h.json !== undefined).map((hit) => ({ hit, resource: JSON.parse(hit.json!) as Resource }));
  const included = await referenced(ctx, reader, page, request.id, options);

  const path = request.id === undefined ? `${PATIENT}/$everything` : `${PATIENT}/${request.id}/$everything`;
  const selfParams = request.params.filter(([k]) => k !== '_cursor');
  const link = [{ relation: 'self', url: linkUrl(ctx.baseUrl, path, request.params) }];
  if (next !== undefined) link.push({ relation: 'next', url: linkUrl(ctx.baseUrl, path, [...selfParams, ['_cursor', next]]) });
  const fullUrl = (h: SearchHit): string => `${ctx.baseUrl}/${h.type}/${h.id}`;
  const entries: { hit: SearchHit; mode: 'match' | 'include' }[] = [
    ...page.map((m) => ({ hit: m.hit, mode: 'match' as const })),
    ...included.map((hit) => ({ hit, mode: 'include' as const })),
  ];
  const outcome = options.warnings.length > 0 ? operationOutcome(options.warnings) : undefined;
  if (request.text) {
    // The stored JSON of each resource goes in as it is.
    const parts = entries.map(
      (e) => `{"fullUrl":${JSON.stringify(fullUrl(e.hit))},"resource":${e.hit.json!},"search":{"mode":"${e.mode}"}}`,
    );
    if (outcome) parts.push(`{"resource":${JSON.stringify(outcome)},"search":{"mode":"outcome"}}`);
    const entry = parts.length > 0 ? `,"entry":[${parts.join(',')}]` : '';
    return new JsonText(`{"resourceType":"Bundle","type":"searchset","link":${JSON.stringify(link)}${entry}}`);
  }
  const byKey = new Map(page.map((m) => [`${m.hit.type}/${m.hit.id}`, m.resource]));
  const entry: Record<string, unknown>[] = entries.map((e) => ({
    fullUrl: fullUrl(e.hit),
    resource: byKey.get(`${e.hit.type}/${e.hit.id}`) ?? (JSON.parse(e.hit.json!) as Resource),
    search: { mode: e.mode },
  }));
  if (outcome) entry.push({ resource: outcome, search: { mode: 'outcome' } });
  const bundle: Resource = { resourceType: 'Bundle', type: 'searchset', link };
  if (entry.length > 0) bundle.entry = entry;
  return bundle;
}
