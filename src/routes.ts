/**
 * The route table: the one map from a request's method and path to the interaction that answers it.
 * `handle()`, bundle entries and the typed methods all come through {@link dispatch}. No FHIR rule
 * lives here: only which interaction a method and path mean, and which request fields it takes.
 * @packageDocumentation
 */
import { processBundle } from './bundle/index.js';
import { badRequest, FhirError, notFound } from './errors.js';
import { formParams, fhirBody, patchDocument } from './interactions/body.js';
import { capabilityStatement } from './interactions/capabilities.js';
import { compartmentScope } from './interactions/compartment.js';
import { everything, type EverythingRequest } from './interactions/everything.js';
import { deleteExport, exportFile, exportStatus, kickOffExport, type ExportContext } from './export/operations.js';
import type { ExportSink } from './export/sink.js';
import type { EngineContext } from './interactions/context.js';
import * as crud from './interactions/crud.js';
import { history, historyOptionsOf } from './interactions/history.js';
import { validateOperation } from './interactions/validate.js';
import type { Criteria, InteractionRequest, Mutable } from './interactions/request.js';
import { JsonText, type InteractionResult } from './interactions/result.js';
import { bulkDeleteStatus, cancelBulkDelete, kickOffBulkDelete } from './jobs/operations.js';
import type { JobRunner } from './jobs/job-runner.js';
import type { Clause } from './storage/query.js';
import type { HistoryScope, StorageTx } from './storage/storage-adapter.js';

/** What the routes run with: the engine's context, its job runner and its error sink. */
export interface Pipeline {
  readonly ctx: EngineContext;
  readonly jobs: JobRunner;
  /** Called with every unexpected (non-FHIR) error, for logging. */
  readonly onUnexpected: (error: unknown) => void;
  /** Where bulk export files go. */
  readonly exportSink: ExportSink;
}

/** The `:name` segments of a matched path. */
interface PathArgs {
  readonly type?: string;
  readonly id?: string;
  readonly versionId?: string;
  /** The type (or `*`) of a compartment search. */
  readonly target?: string;
  /** The file name of an export output. */
  readonly file?: string;
}

type Handler = (p: Pipeline, request: InteractionRequest, args: PathArgs) => Promise<InteractionResult>;

interface Route {
  /** Literal segments, or `:type`, `:id`, `:versionId`. */
  readonly path: readonly string[];
  readonly methods: Readonly<Partial<Record<string, Handler>>>;
}

const HARD_DELETE = new Set(['hardDelete', '_hardDelete']);

/** Options every interaction takes, plus the ones a route adds. */
type RouteOptions = {
  tx?: StorageTx;
  parallel: boolean;
  strict: boolean;
  ifMatch?: string;
  ifNoneExist?: Criteria;
  presetId?: string;
  fullUrls?: ReadonlyMap<string, string>;
  hard?: boolean;
  count?: number;
};

/** The options of an interaction from its request; built field by field (no spread): this runs for every request. */
function interactionOptions(request: InteractionRequest): RouteOptions {
  const options: RouteOptions = { parallel: request.parallelQueries ?? false, strict: request.prefer?.handling === 'strict' };
  if (request.tx !== undefined) options.tx = request.tx;
  if (request.ifMatch !== undefined) options.ifMatch = request.ifMatch;
  if (request.presetId !== undefined) options.presetId = request.presetId;
  if (request.fullUrls !== undefined) options.fullUrls = request.fullUrls;
  return options;
}

const isTrue = (params: Criteria, names: ReadonlySet<string>): boolean =>
  params.some(([k, v]) => names.has(k) && v.toLowerCase() === 'true');

async function search(
  p: Pipeline,
  request: InteractionRequest,
  types: readonly string[],
  params: Criteria,
  scope?: { readonly restrict: readonly Clause[]; readonly path: string },
): Promise<InteractionResult> {
  const { ctx } = p;
  const reader = request.tx ?? ctx.storage;
  const query = {
    types,
    params,
    strict: request.prefer?.handling === 'strict',
    parallel: request.parallelQueries ?? false,
    baseUrl: ctx.baseUrl,
    path: scope?.path ?? (types.length === 1 ? types[0]! : ''),
    ...(scope && { restrict: scope.restrict }),
  };
  // As text, the stored resources are spliced into the Bundle without being parsed.
  const body = request.textBodies ? new JsonText(await ctx.search.searchJson(reader, query)) : await ctx.search.search(reader, query);
  return { outcome: 'searchset', body };
}

async function historyOf(p: Pipeline, request: InteractionRequest, scope: HistoryScope): Promise<InteractionResult> {
  const body = await history(p.ctx, scope, historyOptionsOf(request.params ?? []), request.tx ?? p.ctx.storage);
  return { outcome: 'history', body };
}

/** Asynchronous operations start work of their own: they cannot be part of a transaction's unit of work. */
function outsideTransaction(request: InteractionRequest): void {
  if (request.tx !== undefined) throw badRequest(`The operation '${request.segments.join('/')}' cannot be part of a transaction.`);
}

const systemSearch: Handler = (p, r) => search(p, r, [], r.params ?? []);

const typeSearch: Handler = (p, r, { type }) => search(p, r, [type!], r.params ?? []);

/** `GET [Compartment]/[id]/[type | *]` (and its `_search` form): a search within one compartment. */
const compartmentSearch =
  (form: boolean): Handler =>
  async (p, r, { type, id, target }) => {
    const { types, restrict } = await compartmentScope(p.ctx, type!, id!, target!, r.tx);
    const params = form ? [...(r.params ?? []), ...formParams(r)] : (r.params ?? []);
    return search(p, r, types, params, { restrict: [restrict], path: `${type}/${id}/${target}` });
  };

/** `GET Patient/[id]/$everything` and `GET Patient/$everything`. */
const everythingOf: Handler = async (p, r, { type, id }) => {
  if (type !== 'Patient') throw notFound(`The operation '$everything' is not supported on '${type}'.`);
  const request: Mutable<EverythingRequest> = { params: r.params ?? [], strict: r.prefer?.handling === 'strict', text: r.textBodies ?? false };
  if (id !== undefined) request.id = id;
  if (r.tx !== undefined) request.tx = r.tx;
  return { outcome: 'searchset', body: await everything(p.ctx, request) };
};

const exportContext = (p: Pipeline): ExportContext => ({ ctx: p.ctx, jobs: p.jobs, sink: p.exportSink });

/** `GET $export`, `GET Patient/$export`, `GET Group/[id]/$export`. */
const exportKickOff: Handler = async (p, r, { type, id }) => {
  outsideTransaction(r);
  if (type === undefined) return kickOffExport(exportContext(p), r, 'system');
  if (id === undefined && type === 'Patient') return kickOffExport(exportContext(p), r, 'patient');
  if (id !== undefined && type === 'Group') return kickOffExport(exportContext(p), r, 'group', id);
  throw notFound(`The operation '$export' is not supported on '${id === undefined ? type : `${type}/${id}`}'.`);
};

const bundle: Handler = (p, r) => processBundle(p.ctx, r, (entry) => dispatch(p, entry), p.onUnexpected);

const bulkDelete: Handler = async (p, r, { type }) => {
  outsideTransaction(r);
  return kickOffBulkDelete(p.jobs, p.ctx.baseUrl, r, type);
};

const create: Handler = async (p, r, { type }) => {
  const body = fhirBody(r);
  if (r.ifNoneExist !== undefined) crud.requireQuery(type!, r.ifNoneExist);
  const options = interactionOptions(r);
  if (r.ifNoneExist !== undefined) options.ifNoneExist = r.ifNoneExist;
  return crud.create(p.ctx, type!, body, options);
};

const conditionalUpdate: Handler = async (p, r, { type }) => {
  crud.requireQuery(type!, r.params);
  return crud.conditionalUpdate(p.ctx, type!, r.params!, fhirBody(r), interactionOptions(r));
};

const conditionalDelete: Handler = async (p, r, { type }) => {
  crud.requireQuery(type!, r.params);
  const params = r.params!;
  const countParam = params.find(([k]) => k === '_count');
  if (countParam && !/^-?\d+$/.test(countParam[1])) throw badRequest('The _count parameter must be an integer.');
  const count = countParam === undefined ? undefined : Number(countParam[1]);
  // `_count` and `hardDelete` say how to delete, not what: they are no criteria.
  const criteria = params.filter(([k]) => k !== '_count' && !HARD_DELETE.has(k));
  const options = interactionOptions(r);
  options.hard = isTrue(params, HARD_DELETE);
  if (count !== undefined) options.count = count;
  return crud.conditionalDelete(p.ctx, type!, criteria, options);
};

/** `$validate`: the body is optional only for `mode=delete`, which the operation itself checks. */
const validate: Handler = (p, r, { type, id }) => {
  const body = r.body === undefined || r.body === '' ? undefined : fhirBody(r);
  return validateOperation(p.ctx, type!, id, body, r.params ?? []);
};

const conditionalPatch: Handler = async (p, r, { type }) => {
  crud.requireQuery(type!, r.params);
  return crud.conditionalPatch(p.ctx, type!, r.params!, patchDocument(r), interactionOptions(r));
};

/** The one route table. Literal segments win over `:name` ones: their routes come first. */
const ROUTES: readonly Route[] = [
  { path: [], methods: { GET: systemSearch, POST: bundle } },
  { path: ['metadata'], methods: { GET: async (p) => ({ outcome: 'capabilities', body: capabilityStatement(p.ctx) }) } },
  { path: ['_history'], methods: { GET: (p, r) => historyOf(p, r, { level: 'system' }) } },
  { path: ['_search'], methods: { POST: (p, r) => search(p, r, [], [...(r.params ?? []), ...formParams(r)]) } },
  // The bulk-delete article spells the operation `$bulkDelete`; Microsoft's service and its
  // OperationDefinition `$bulk-delete`. Both are the one operation (one status URL, listed once).
  { path: ['$bulk-delete'], methods: { DELETE: bulkDelete } },
  { path: ['$bulkDelete'], methods: { DELETE: bulkDelete } },
  {
    path: ['_operations', 'bulk-delete', ':id'],
    methods: {
      GET: async (p, r, { id }) => {
        outsideTransaction(r);
        return bulkDeleteStatus(p.jobs, id!);
      },
      DELETE: async (p, r, { id }) => {
        outsideTransaction(r);
        return cancelBulkDelete(p.jobs, id!);
      },
    },
  },
  { path: ['$export'], methods: { GET: exportKickOff } },
  {
    path: ['_operations', 'export', ':id'],
    methods: {
      GET: async (p, r, { id }) => {
        outsideTransaction(r);
        return exportStatus(exportContext(p), id!);
      },
      DELETE: async (p, r, { id }) => {
        outsideTransaction(r);
        return deleteExport(exportContext(p), id!);
      },
    },
  },
  {
    path: ['_operations', 'export', ':id', ':file'],
    methods: {
      GET: async (p, r, { id, file }) => {
        outsideTransaction(r);
        return exportFile(exportContext(p), id!, file!);
      },
    },
  },
  {
    path: [':type'],
    methods: { GET: typeSearch, POST: create, PUT: conditionalUpdate, DELETE: conditionalDelete, PATCH: conditionalPatch },
  },
  { path: [':type', '_search'], methods: { POST: (p, r, { type }) => search(p, r, [type!], [...(r.params ?? []), ...formParams(r)]) } },
  { path: [':type', '_history'], methods: { GET: (p, r, { type }) => historyOf(p, r, { level: 'type', type: type! }) } },
  { path: [':type', '$bulk-delete'], methods: { DELETE: bulkDelete } },
  { path: [':type', '$validate'], methods: { POST: validate } },
  { path: [':type', '$bulkDelete'], methods: { DELETE: bulkDelete } },
  { path: [':type', '$everything'], methods: { GET: everythingOf } },
  { path: [':type', '$export'], methods: { GET: exportKickOff } },
  {
    path: [':type', ':id'],
    methods: {
      GET: async (p, r, { type, id }) => ({ outcome: 'read', version: await crud.read(p.ctx, type!, id!, r.tx) }),
      PUT: (p, r, { type, id }) => crud.update(p.ctx, type!, id!, fhirBody(r), interactionOptions(r)),
      DELETE: (p, r, { type, id }) => {
        const options = interactionOptions(r);
        options.hard = isTrue(r.params ?? [], HARD_DELETE);
        return crud.remove(p.ctx, type!, id!, options);
      },
      PATCH: (p, r, { type, id }) => crud.patch(p.ctx, type!, id!, patchDocument(r), interactionOptions(r)),
    },
  },
  {
    path: [':type', ':id', '$purge-history'],
    methods: {
      DELETE: async (p, r, { type, id }) => ({
        outcome: 'purged',
        removed: await crud.purgeHistory(p.ctx, type!, id!, interactionOptions(r)),
      }),
    },
  },
  { path: [':type', ':id', '$validate'], methods: { POST: validate } },
  { path: [':type', ':id', '$everything'], methods: { GET: everythingOf } },
  { path: [':type', ':id', '$export'], methods: { GET: exportKickOff } },
  { path: [':type', ':id', '_history'], methods: { GET: (p, r, { type, id }) => historyOf(p, r, { level: 'instance', type: type!, id: id! }) } },
  { path: [':type', ':id', ':target'], methods: { GET: compartmentSearch(false) } },
  {
    path: [':type', ':id', '_history', ':versionId'],
    methods: {
      GET: async (p, r, { type, id, versionId }) => ({ outcome: 'read', version: await crud.vread(p.ctx, type!, id!, versionId!, r.tx) }),
    },
  },
  { path: [':type', ':id', ':target', '_search'], methods: { POST: compartmentSearch(true) } },
];

/**
 * The `:name` segments of `segments` when they fit `path`, else undefined. A `$` segment names an
 * operation, never a type or an id: an operation the table lacks is no route (R4 http.html: 404,
 * "not a FHIR end-point"; Microsoft: 404).
 */
function matchPath(path: readonly string[], segments: readonly string[]): PathArgs | undefined {
  if (path.length !== segments.length) return undefined;
  for (let i = 0; i < path.length; i++) {
    const part = path[i]!;
    if (part.startsWith(':') ? segments[i]!.startsWith('$') : part !== segments[i]) return undefined;
  }
  // Only now, for the one route that fits, the arguments.
  let args: Record<string, string> | undefined;
  for (let i = 0; i < path.length; i++) if (path[i]!.startsWith(':')) (args ??= {})[path[i]!.slice(1)] = segments[i]!;
  return args ?? {};
}

/** The request path below the base, for messages: `Patient/1`, or `/` for the base itself. */
const pathOf = (segments: readonly string[]): string => segments.join('/') || '/';

/**
 * Runs a request through the route table: the first route whose path fits decides; an unknown
 * resource type is a 404, a method the route lacks a 405, a path no route fits a 404. Throws
 * FhirError for every client error.
 */
export async function dispatch(p: Pipeline, request: InteractionRequest): Promise<InteractionResult> {
  for (const route of ROUTES) {
    const args = matchPath(route.path, request.segments);
    if (args === undefined) continue;
    if (args.type !== undefined) crud.assertResourceType(p.ctx, args.type);
    const handler = route.methods[request.method];
    if (handler === undefined) {
      throw new FhirError(405, 'not-supported', `The method ${request.method} is not allowed on '${pathOf(request.segments)}'.`, {
        headers: { allow: allowOf(route) },
      });
    }
    return handler(p, request, args);
  }
  throw notFound(`The requested route '/${request.segments.join('/')}' was not found.`);
}

/** The `Allow` header of a route (RFC 9110 §10.2.1): its methods, HEAD with GET, and OPTIONS. */
const allowOf = (route: Route): string =>
  [...Object.keys(route.methods).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])), 'OPTIONS'].join(', ');

/**
 * The `Allow` header of the route a path names (for OPTIONS), under the same rules as
 * {@link dispatch}: 404 for an unknown resource type or a path no route fits.
 */
export function allowedMethods(p: Pipeline, segments: readonly string[]): string {
  for (const route of ROUTES) {
    const args = matchPath(route.path, segments);
    if (args === undefined) continue;
    if (args.type !== undefined) crud.assertResourceType(p.ctx, args.type);
    return allowOf(route);
  }
  throw notFound(`The requested route '/${segments.join('/')}' was not found.`);
}
