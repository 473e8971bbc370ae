import { randomIds, systemClock, type Clock, type IdGenerator } from './clock.js';
import type { ResponseBundle } from './bundle/index.js';
import { FhirError } from './errors.js';
import { HttpEdge, type FhirHttpRequest, type FhirHttpResponse } from './http/handle.js';
import type { Logger, RequestHooks } from './http/hooks.js';
import { capabilityStatement } from './interactions/capabilities.js';
import { DEFAULT_LIMITS, type EngineContext, type Limits, type ValidationMode } from './interactions/context.js';
import { assertResourceType, notFoundError } from './interactions/crud.js';
import { history, type HistoryOptions } from './interactions/history.js';
import { blankRequest, criteriaOf, type Criteria, type InteractionRequest } from './interactions/request.js';
import { conflictError, objectOf, type Body, type DeleteOutcome, type InteractionResult, type WriteKind, type WriteOutcome } from './interactions/result.js';
import type { Meta, OperationOutcome, Resource } from './resource/resource.js';
import type {
  AcceptedResource,
  AnyResource,
  BundleInput,
  CapabilityStatement,
  Given,
  HistoryBundle,
  ResourceOfType,
  ResourceType,
  SearchBundle,
} from './resource/shapes.js';
import { optionsArgument, queryArgument, resourceArgument, stringArgument } from './interactions/arguments.js';
import { assertValidId, ID_PATTERN } from './resource/validate.js';
import { versionIdOfETag, versionUrl, weakETag } from './resource/version.js';
import { dispatch, type Pipeline } from './routes.js';
import { IndexExtractor } from './search/extract.js';
import { SearchParameterRegistry, type SearchParameterDefinition } from './search/registry.js';
import { SearchService } from './search/service.js';
import type { JobRecord } from './storage/job-record.js';
import { RuntimeStorage } from './storage/runtime-storage.js';
import { isStorageConflict, type HistoryScope, type StorageAdapter, type StoredVersion } from './storage/storage-adapter.js';
import { validateResource, validationOutcome } from './validation/index.js';
import { BULK_DELETE, bulkDeleteHandler, InProcessJobRunner, type AnyJobHandler, type BulkDeleteRequest, type JobRunner } from './jobs/index.js';
import { BULK_EXPORT, bulkExportHandler, type BulkExportRequest } from './export/export-job.js';
import type { ExportManifest } from './export/manifest.js';
import { MemoryExportSink, type ExportSink } from './export/sink.js';

/** Options of {@link FhirEngine}. */
export interface FhirEngineOptions extends RequestHooks {
  /**
   * Where resources, history, indexes and jobs live: an adapter, or a {@link RuntimeStorage} around one.
   * Engines given the same adapter share its runtime, so a `serial` adapter still runs one unit at a time.
   */
  readonly storage: StorageAdapter;
  /** Time source; inject `fixedClock()` in tests. Default: the wall clock. */
  readonly clock?: Clock;
  /** Id source; inject `sequentialIds()` in tests. Default: random UUIDs. */
  readonly ids?: IdGenerator;
  /**
   * Base URL of the FHIR endpoint, used in `fullUrl`, `Location` and links (no trailing slash).
   * Default `''`: relative URLs.
   */
  readonly baseUrl?: string;
  /** Custom SearchParameter definitions, added to the R4 ones. */
  readonly searchParameters?: readonly SearchParameterDefinition[];
  /** Limits; each one defaults to {@link DEFAULT_LIMITS}. */
  readonly limits?: Partial<Limits>;
  /**
   * `strict` (default): every resource the engine writes (create, update, their conditional forms,
   * patch results, every bundle entry, contained resources) must be valid against the R4 base
   * definitions, else 400 with an OperationOutcome listing every issue and nothing written.
   * `off`: only the envelope is checked (resourceType, id syntax, meta), e.g. to load legacy data as it is.
   * `$validate` and {@link FhirEngine.validate} validate either way.
   */
  readonly validation?: ValidationMode;
  /**
   * Called with every unexpected (non-FHIR) error before it becomes a generic 500, for logging.
   * An exception thrown here is swallowed.
   */
  readonly onError?: (error: unknown) => void;
  /**
   * A pino-compatible logger: one `info` line per request through {@link FhirEngine.handle}
   * (`{ method, url, status, durationMs }`), and unexpected errors at `error` (`{ err }`).
   */
  readonly logger?: Logger;
  /**
   * Runs background jobs (bulk delete). Default: an {@link InProcessJobRunner} with the engine's
   * limits. It starts lazily on first use; call {@link FhirEngine.start} to resume unfinished jobs
   * right after a restart.
   */
  readonly jobs?: JobRunner;
  /**
   * Where bulk export (`$export`) files go. Default: a {@link MemoryExportSink}, whose files live as
   * long as the engine's process. On a durable storage, give one that is durable too, such as
   * `DirectoryExportSink` (`fhir-engine/adapters/directory-export`), so that an export survives a
   * restart.
   */
  readonly exportSink?: ExportSink;
}

/** The result of a write through the typed API. */
export interface WriteResult<T extends AnyResource = Resource> {
  /** The stored resource: always with its id and meta (versionId, lastUpdated). */
  readonly resource: T & { id: string; meta: Meta };
  /** `created` (201), `updated`, `unchanged` (no new version) or `matched` (conditional create found one). */
  readonly outcome: WriteKind;
  readonly versionId: string;
  readonly lastUpdated: string;
  /** `W/"n"`. */
  readonly etag: string;
  /** `[base]/Type/id/_history/n`. */
  readonly location: string;
}

/** The result of a delete through the typed API. */
export interface DeleteResult {
  /** Resources deleted: 0 when there was nothing to delete. */
  readonly deleted: number;
  /** Version id of the tombstone of a single soft delete. */
  readonly versionId?: string;
}

/** A patch for {@link FhirEngine.patch}: RFC 6902 operations, or a FHIRPath Patch `Parameters`. */
export type PatchInput =
  | { readonly jsonPatch: readonly object[] }
  | { readonly fhirPathPatch: AnyResource };

/**
 * An embeddable FHIR R4 engine: the REST semantics of a FHIR server over a pluggable storage adapter.
 *
 * `R` is the union of resource types the typed API speaks: the untyped default takes any object
 * with a `resourceType` and returns {@link Resource}; given a union such as `fhir4.FhirResource`
 * (from `@types/fhir`) or `Resource` from `@medplum/fhirtypes`, `read('Patient', id)` returns that
 * union's Patient and a `resourceType: 'Patinet'` does not compile. Any method that returns a
 * resource also takes the type explicitly: `engine.read<fhir4.Patient>('Patient', id)`.
 *
 * @example
 * ```ts
 * import { FhirEngine } from 'fhir-engine';
 * import { MemoryAdapter } from 'fhir-engine/adapters/memory';
 *
 * const engine = new FhirEngine({ storage: new MemoryAdapter() });
 * const { resource } = await engine.create({ resourceType: 'Patient', name: [{ family: 'Doe' }] });
 * const response = await engine.handle({ method: 'GET', url: `/Patient/${resource.id}` });
 * ```
 */
export class FhirEngine<R extends AnyResource = Resource> {
  readonly #ctx: EngineContext;
  readonly #jobs: JobRunner;
  readonly #pipeline: Pipeline;
  readonly #edge: HttpEdge;

  constructor(options: FhirEngineOptions) {
    const registry = SearchParameterRegistry.r4(options.searchParameters ?? []);
    const extractor = new IndexExtractor(registry);
    const limits: Limits = Object.freeze({ ...DEFAULT_LIMITS, ...options.limits });
    const validation = options.validation ?? 'strict';
    if (validation !== 'strict' && validation !== 'off') throw new TypeError(`validation must be 'strict' or 'off', not '${String(validation)}'`);
    const storage = RuntimeStorage.of(options.storage);
    storage.useIndexer((json, params) => extractor.extract(JSON.parse(json) as Resource, params));
    this.#ctx = {
      storage,
      clock: options.clock ?? systemClock,
      ids: options.ids ?? randomIds,
      registry,
      extractor,
      search: new SearchService(registry, extractor, { defaultCount: limits.defaultCount, maxCount: limits.maxCount }),
      baseUrl: (options.baseUrl ?? '').replace(/\/+$/, ''),
      limits,
      validation,
    };
    const { onError, logger } = options;
    const onUnexpected = (error: unknown): void => {
      try {
        logger?.error({ err: error }, 'unexpected error');
        onError?.(error);
      } catch {
        // A failing logger must not turn one error into two.
      }
    };
    this.#jobs = options.jobs ?? new InProcessJobRunner();
    const exportSink = options.exportSink ?? new MemoryExportSink();
    this.#jobs.attach({
      storage,
      durable: storage.durable,
      clock: this.#ctx.clock,
      ids: this.#ctx.ids,
      handlers: new Map<string, AnyJobHandler>([
        [BULK_DELETE, bulkDeleteHandler(this.#ctx)],
        [BULK_EXPORT, bulkExportHandler(this.#ctx, exportSink)],
      ]),
      chunkSize: limits.bulkDeleteChunkSize,
      maxConcurrentJobs: limits.maxConcurrentJobs,
      onError: onUnexpected,
    });
    this.#pipeline = { ctx: this.#ctx, jobs: this.#jobs, onUnexpected, exportSink };
    this.#edge = new HttpEdge(this.#pipeline, { onRequest: options.onRequest, onResponse: options.onResponse, logger });
  }

  /** @internal The context interactions run with. */
  protected get context(): EngineContext {
    return this.#ctx;
  }

  /** The engine's limits: the defaults with the options' `limits` applied. */
  get limits(): Limits {
    return this.#ctx.limits;
  }

  /** The storage the engine runs on: its adapter under the adapter's {@link RuntimeStorage}. */
  get storage(): RuntimeStorage {
    return this.#ctx.storage;
  }

  /**
   * Runs an HTTP-shaped request (`url` relative to the FHIR base). Never rejects: every error comes
   * back as a 4xx/5xx response with an OperationOutcome body.
   *
   * @example
   * ```ts
   * const res = await engine.handle({
   *   method: 'POST', url: '/Patient',
   *   headers: { 'content-type': 'application/fhir+json' },
   *   body: JSON.stringify({ resourceType: 'Patient' }),
   * });
   * // res.status === 201, res.headers.location === '/Patient/<id>/_history/1'
   * ```
   */
  handle(request: FhirHttpRequest): Promise<FhirHttpResponse> {
    return this.#edge.handle(request);
  }

  /** Runs a request through the route table, as `handle()` and bundle entries do (in the one request shape). */
  #run(request: InteractionRequest): Promise<InteractionResult> {
    return dispatch(this.#pipeline, Object.assign(blankRequest(request.method, request.segments), request)).catch(rethrowConflict);
  }

  /** The path of a resource type, for the typed API: checked here, so that no type name reads as a route (`metadata`). */
  #typePath(type: string): string[] {
    assertResourceType(this.#ctx, stringArgument(type, 'resource type'));
    return [type];
  }

  /**
   * The path of one resource, for the typed API. An id that is no FHIR id never reaches the route
   * table (where `_history` would read as a route): a read answers 404, as for any missing
   * resource; a write 400, as the interaction would.
   */
  #resourcePath(type: string, id: string, invalidId: 'not-found' | 'invalid'): string[] {
    stringArgument(type, 'resource type');
    if (!ID_PATTERN.test(stringArgument(id, 'id'))) {
      assertResourceType(this.#ctx, type);
      if (invalidId === 'not-found') throw notFoundError(type, id);
      assertValidId(id);
    }
    return [type, id];
  }

  #writeResult<T extends AnyResource>(result: InteractionResult): WriteResult<T> {
    const write = expectWrite(result);
    const v = write.version;
    return {
      resource: write.resource as unknown as T & { id: string; meta: Meta },
      outcome: write.outcome,
      versionId: v.versionId,
      lastUpdated: v.lastUpdated,
      etag: weakETag(v.versionId),
      location: versionUrl(this.#ctx.baseUrl, v),
    };
  }

  /**
   * Creates a resource with a new server-assigned id. With `ifNoneExist` (a query such as
   * `identifier=http://x|1`) it is a conditional create: an existing single match is returned
   * (`outcome: 'matched'`) and nothing is written; several matches or criteria none of which can be
   * used → 412, an empty query → 400.
   */
  async create<T extends AcceptedResource<R>>(resource: T, options: { ifNoneExist?: string } = {}): Promise<WriteResult<T>> {
    const type = resourceArgument(resource).resourceType;
    const { ifNoneExist: query } = optionsArgument(options);
    const ifNoneExist = query === undefined ? undefined : criteriaOf(queryArgument(query, 'ifNoneExist'), type);
    return this.#writeResult(await this.#run({ method: 'POST', segments: this.#typePath(type), body: resource, ...(ifNoneExist && { ifNoneExist }) }));
  }

  /** Reads the current version. Throws FhirError 404 (never existed) or 410 (deleted). */
  async read<T extends AnyResource = never, K extends ResourceType<R> = ResourceType<R>>(type: K, id: string): Promise<Given<T, ResourceOfType<R, K>>> {
    return parse(expectRead(await this.#run({ method: 'GET', segments: this.#resourcePath(type, id, 'not-found') })));
  }

  /** Reads one version. Throws FhirError 404, or 410 for the version a delete wrote. */
  async vread<T extends AnyResource = never, K extends ResourceType<R> = ResourceType<R>>(
    type: K,
    id: string,
    versionId: string,
  ): Promise<Given<T, ResourceOfType<R, K>>> {
    const segments = [...this.#resourcePath(type, id, 'not-found'), '_history', stringArgument(versionId, 'version id')];
    return parse(expectRead(await this.#run({ method: 'GET', segments })));
  }

  /**
   * Updates `resource` (its `id` is required), or creates it with that id. `ifMatch` is a version
   * id or ETag (`W/"2"`): a different current version → 412. Content equal to the current version
   * writes nothing (`outcome: 'unchanged'`).
   */
  async update<T extends AcceptedResource<R>>(resource: T, options: { ifMatch?: string } = {}): Promise<WriteResult<T>> {
    const { resourceType, id } = resourceArgument(resource);
    if (id === undefined) throw new FhirError(400, 'invalid', 'Id must be specified in the resource.');
    const segments = this.#resourcePath(resourceType, id, 'invalid');
    const { ifMatch: etag } = optionsArgument(options);
    const ifMatch = etag === undefined ? undefined : versionIdOfETag(stringArgument(etag, 'ifMatch'));
    return this.#writeResult(await this.#run({ method: 'PUT', segments, body: resource, ...(ifMatch !== undefined && { ifMatch }) }));
  }

  /**
   * Conditional update `PUT [type]?query`: 0 matches → create, 1 → update it, more (or criteria none
   * of which can be used) → 412, an empty query → 400.
   */
  async conditionalUpdate<T extends AcceptedResource<R>>(query: string, resource: T): Promise<WriteResult<T>> {
    const type = resourceArgument(resource).resourceType;
    const params = criteriaOf(queryArgument(query));
    return this.#writeResult(await this.#run({ method: 'PUT', segments: this.#typePath(type), params, body: resource }));
  }

  /**
   * Patches a resource by id, or by a query (`{ query: 'identifier=x' }`: 0 matches → 404,
   * several → 412, an empty query → 400).
   */
  async patch<T extends AnyResource = never, K extends ResourceType<R> = ResourceType<R>>(
    type: K,
    target: string | { query: string },
    patch: PatchInput,
    options: { ifMatch?: string } = {},
  ): Promise<WriteResult<Given<T, ResourceOfType<R, K>>>> {
    const document: Pick<InteractionRequest, 'body' | 'mediaType'> = patchDocumentOf(patch);
    const { ifMatch: etag } = optionsArgument(options);
    const ifMatch = etag === undefined ? undefined : versionIdOfETag(stringArgument(etag, 'ifMatch'));
    const request: InteractionRequest =
      typeof target === 'string'
        ? { method: 'PATCH', segments: this.#resourcePath(type, target, 'invalid'), ...document }
        : { method: 'PATCH', segments: this.#typePath(type), params: criteriaOf(queryArgument(optionsArgument(target, 'patch target').query)), ...document };
    return this.#writeResult(await this.#run({ ...request, ...(ifMatch !== undefined && { ifMatch }) }));
  }

  /**
   * Deletes a resource: soft by default (a tombstone version; read → 410, history kept), or with
   * `hard: true` every version (read → 404). Deleting what is not there does nothing.
   */
  async delete(type: ResourceType<R>, id: string, options: { hard?: boolean } = {}): Promise<DeleteResult> {
    const params: Criteria = optionsArgument(options).hard ? [['hardDelete', 'true']] : [];
    return deleteResult(await this.#run({ method: 'DELETE', segments: this.#resourcePath(type, id, 'invalid'), params }));
  }

  /**
   * Conditional delete `DELETE [type]?query`: one match is deleted, several → 412; with `count`
   * (1–100) up to that many are deleted. Criteria none of which can be used → 412, no criteria and
   * no options → 400.
   */
  async conditionalDelete(
    type: ResourceType<R>,
    query: string,
    options: { count?: number; hard?: boolean } = {},
  ): Promise<DeleteResult> {
    const params: [string, string][] = criteriaOf(queryArgument(query));
    const { count, hard } = optionsArgument(options);
    if (count !== undefined) params.push(['_count', String(count)]);
    if (hard) params.push(['hardDelete', 'true']);
    return deleteResult(await this.#run({ method: 'DELETE', segments: this.#typePath(type), params }));
  }

  /** `$purge-history`: removes every version but the current one. */
  async purgeHistory(type: ResourceType<R>, id: string): Promise<void> {
    await this.#run({ method: 'DELETE', segments: [...this.#resourcePath(type, id, 'invalid'), '$purge-history'] });
  }

  /**
   * A FHIR search; returns a `searchset` Bundle.
   * @param type a resource type, or undefined for a system-level search
   * @param query e.g. `name=smith&birthdate=ge1990&_count=10`
   */
  async search<T extends AnyResource = never, K extends ResourceType<R> = ResourceType<R>>(
    type: K | undefined,
    query = '',
  ): Promise<SearchBundle<Given<T, ResourceOfType<R, K>>>> {
    const params = criteriaOf(queryArgument(query));
    const segments = type === undefined ? [] : this.#typePath(type);
    return expectBody(await this.#run({ method: 'GET', segments, params })) as unknown as SearchBundle<Given<T, ResourceOfType<R, K>>>;
  }

  /** A page of history (newest first) of a resource, a type or everything; a `history` Bundle. */
  async history<T extends AnyResource = R>(scope: HistoryScope, options: HistoryOptions = {}): Promise<HistoryBundle<T>> {
    if (typeof scope !== 'object' || scope === null) throw new FhirError(400, 'invalid', "The history scope must be an object such as { level: 'system' }.");
    if (scope.level !== 'system') {
      stringArgument(scope.type, 'resource type');
      if (scope.level === 'instance') stringArgument(scope.id, 'id');
    }
    return (await history(this.#ctx, scope, optionsArgument(options))) as unknown as HistoryBundle<T>;
  }

  /**
   * `$validate` without a server round trip: checks `resource` against the R4 base definitions and
   * returns the OperationOutcome `POST [type]/$validate` answers: every issue with its FHIRPath
   * location, or one information issue "All OK". Writes nothing; the engine's `validation` option
   * does not apply.
   *
   * @example
   * ```ts
   * const outcome = await engine.validate({ resourceType: 'Patient', birthDate: 'garbage' });
   * // outcome.issue[0]: { severity: 'error', code: 'value', expression: ['Patient.birthDate'], … }
   * ```
   */
  async validate(resource: unknown): Promise<OperationOutcome> {
    return validationOutcome(validateResource(resource));
  }

  /** The CapabilityStatement of this engine. */
  capabilities(): CapabilityStatement {
    return capabilityStatement(this.#ctx) as unknown as CapabilityStatement;
  }

  /**
   * Processes a `batch` Bundle: every entry is its own interaction (as through {@link handle}), and
   * one entry's failure never affects another. Entries run one after the other, or concurrently
   * with `parallel: true` (then entries writing the same resource make it a 400).
   * Throws FhirError for a body that is not a batch Bundle (400) or has too many entries (413).
   *
   * @example
   * ```ts
   * const response = await engine.batch({ resourceType: 'Bundle', type: 'batch', entry: [
   *   { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
   *   { request: { method: 'GET', url: 'Patient?_count=5' } },
   * ] });
   * // response.entry[0].response.status === '201 Created'
   * ```
   */
  async batch(bundle: BundleInput, options: { parallel?: boolean } = {}): Promise<ResponseBundle> {
    const body = resourceArgument(bundle, 'bundle');
    if (body.resourceType === 'Bundle' && body['type'] !== 'batch') {
      throw new FhirError(400, 'invalid', `Expected a Bundle of type 'batch', got '${String(body['type'])}'.`);
    }
    const result = await this.#run({ method: 'POST', segments: [], body, parallelEntries: optionsArgument(options).parallel ?? false });
    return expectBody(result) as ResponseBundle;
  }

  /**
   * Processes a `transaction` Bundle atomically: DELETE, POST, PUT/PATCH then GET entries in one
   * unit of work, with `urn:uuid:` fullUrl references rewritten to the assigned ids. Any failing
   * entry rolls everything back and is thrown as a FhirError (its status; first issue "Transaction
   * failed on …", then the entry's issues). The response Bundle is built as objects: the resources
   * written are the objects the engine serialised, never parsed back.
   */
  async transaction(bundle: BundleInput): Promise<ResponseBundle> {
    const body = resourceArgument(bundle, 'bundle');
    if (body.resourceType === 'Bundle' && body['type'] !== 'transaction') {
      throw new FhirError(400, 'invalid', `Expected a Bundle of type 'transaction', got '${String(body['type'])}'.`);
    }
    return expectBody(await this.#run({ method: 'POST', segments: [], body })) as ResponseBundle;
  }

  /**
   * Starts a bulk delete (`$bulk-delete`) as a background job and returns it `queued`. Deletes the
   * current resources matching `criteria` that exist now (later writes survive): soft by default,
   * `hardDelete` removes every version, `purgeHistory` keeps only the current version. `_include`
   * and `_revinclude` in the criteria delete what they add too; `removeReferences` (with
   * `hardDelete`) rewrites the references to deleted resources. Throws FhirError 400 for unknown
   * parameters.
   *
   * @example
   * ```ts
   * const job = await engine.bulkDelete({ type: 'Patient', criteria: '_tag=old' });
   * const done = await engine.jobs.settled(job.id); // done.progress.byType.Patient
   * ```
   */
  async bulkDelete(request: BulkDeleteRequest): Promise<JobRecord> {
    return this.#jobs.submit(BULK_DELETE, request);
  }

  /**
   * Compartment search: the resources of `type` (or of every type the compartment holds, `*`) in
   * the compartment of `compartment`/`id` (`Patient/123/Observation?code=…`), as a searchset Bundle.
   * Throws FhirError 404 when the compartment's resource does not exist (410 when deleted), 400 for a
   * type the compartment never holds.
   *
   * @example
   * ```ts
   * const observations = await engine.compartment('Patient', '123', 'Observation', 'code=http://loinc.org|8867-4');
   * ```
   */
  async compartment<T extends AnyResource = R>(compartment: string, id: string, type = '*', query = ''): Promise<SearchBundle<T>> {
    const segments = [...this.#resourcePath(stringArgument(compartment, 'compartment'), stringArgument(id, 'id'), 'not-found'), stringArgument(type, 'type')];
    return expectBody(await this.#run({ method: 'GET', segments, params: criteriaOf(queryArgument(query)) })) as unknown as SearchBundle<T>;
  }

  /**
   * `Patient/[id]/$everything` (or, without an id, `Patient/$everything`): one page of a searchset
   * Bundle with the patient, its compartment and the resources those reference. `query` takes
   * `_since`, `_type`, `_count` and the `_cursor` of a next link.
   */
  async everything<T extends AnyResource = R>(id: string | undefined, query = ''): Promise<SearchBundle<T>> {
    const segments = id === undefined ? ['Patient', '$everything'] : [...this.#resourcePath('Patient', id, 'not-found'), '$everything'];
    return expectBody(await this.#run({ method: 'GET', segments, params: criteriaOf(queryArgument(query)) })) as unknown as SearchBundle<T>;
  }

  /**
   * Starts a bulk export (`$export`) as a background job and returns it `queued`: every current
   * resource that exists now (later writes are left out), of the whole server, of every patient's
   * compartment, or of a group's patients, into one NDJSON file per type in the engine's
   * {@link FhirEngineOptions.exportSink}.
   *
   * @example
   * ```ts
   * const job = await engine.bulkExport({ level: 'patient', types: ['Patient', 'Observation'] });
   * await engine.jobs.settled(job.id);
   * const manifest = await engine.exportManifest(job.id);
   * for await (const bytes of await engine.exportFile(job.id, 'Observation.ndjson')) process.stdout.write(bytes);
   * ```
   */
  async bulkExport(request: BulkExportRequest): Promise<JobRecord> {
    return this.#jobs.submit(BULK_EXPORT, request);
  }

  /**
   * The manifest of a completed export; undefined while it runs. Throws FhirError 404 for an unknown,
   * cancelled or deleted export, 500 for a failed one.
   */
  async exportManifest(jobId: string): Promise<ExportManifest | undefined> {
    const result = await this.#run({ method: 'GET', segments: ['_operations', 'export', jobId] });
    if (result.outcome === 'export-manifest') return result.manifest;
    if (result.outcome === 'job-status' && result.job.status === 'failed') {
      throw new FhirError(500, 'exception', result.job.error?.message ?? 'The export failed.');
    }
    return undefined;
  }

  /** An output file of a completed export (`Patient.ndjson`), read as it is iterated. Throws FhirError 404 when there is none. */
  async exportFile(jobId: string, file: string): Promise<AsyncIterable<Uint8Array>> {
    const result = await this.#run({ method: 'GET', segments: ['_operations', 'export', jobId, file] });
    if (result.outcome !== 'ndjson') throw new Error(`Expected an export file, got '${result.outcome}'.`);
    return result.content;
  }

  /** Deletes an export: cancels it while it runs, and removes its files. Throws FhirError 404 for an unknown or deleted one. */
  async deleteExport(jobId: string): Promise<void> {
    await this.#run({ method: 'DELETE', segments: ['_operations', 'export', jobId] });
  }

  /** The background jobs: `get`, `cancel`, `settled`, `on('progress', …)`. */
  get jobs(): JobRunner {
    return this.#jobs;
  }

  /** Starts the job runner now: resumes every unfinished job (otherwise it starts on first use). */
  async start(): Promise<void> {
    await this.#jobs.start();
  }

  /** Closes the storage adapter. */
  async close(): Promise<void> {
    await this.#jobs.stop();
    await this.#ctx.storage.close();
  }
}

const parse = <T>(version: StoredVersion): T => JSON.parse(version.json!) as T;

/** The body and media type of a typed patch: 400 for anything but the two documented shapes. */
function patchDocumentOf(patch: PatchInput): Pick<InteractionRequest, 'body' | 'mediaType'> {
  const input = (typeof patch === 'object' && patch !== null ? patch : {}) as Partial<Record<'jsonPatch' | 'fhirPathPatch', unknown>>;
  if (Array.isArray(input.jsonPatch)) return { body: input.jsonPatch, mediaType: 'application/json-patch+json' };
  if ('fhirPathPatch' in input) return { body: resourceArgument(input.fhirPathPatch, 'FHIRPath Patch'), mediaType: 'application/fhir+json' };
  throw new FhirError(400, 'invalid', 'The patch must be { jsonPatch: [operations] } or { fhirPathPatch: Parameters }.');
}

// The route table answers each typed request with the kind of result its route gives; these say so.
function expectWrite(result: InteractionResult): WriteOutcome {
  if (result.outcome === 'created' || result.outcome === 'updated' || result.outcome === 'unchanged' || result.outcome === 'matched') {
    return result;
  }
  throw new Error(`Expected the result of a write, got '${result.outcome}'.`);
}

function expectRead(result: InteractionResult): StoredVersion {
  if (result.outcome === 'read') return result.version;
  throw new Error(`Expected the result of a read, got '${result.outcome}'.`);
}

function expectBody(result: InteractionResult): Resource {
  if ('body' in result) return objectOf(result.body as Body);
  throw new Error(`Expected a result with a body, got '${result.outcome}'.`);
}

function deleteResult(result: InteractionResult): DeleteResult {
  if (result.outcome !== 'deleted') throw new Error(`Expected the result of a delete, got '${result.outcome}'.`);
  const deleted: DeleteOutcome = result;
  return deleted.version ? { deleted: deleted.deleted, versionId: deleted.version.versionId } : { deleted: deleted.deleted };
}

/** The typed API throws FhirError only: a storage conflict as its 409, as `handle()` answers it. */
function rethrowConflict(error: unknown): never {
  throw isStorageConflict(error) ? conflictError(error) : error;
}
