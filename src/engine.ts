import { randomIds, systemClock, type Clock, type IdGenerator } from './clock.js';
import type { ResponseBundle } from './bundle/index.js';
import { FhirError } from './errors.js';
import { handle, type FhirHttpRequest, type FhirHttpResponse } from './http/handle.js';
import { capabilityStatement } from './interactions/capabilities.js';
import { DEFAULT_LIMITS, type EngineContext, type Limits } from './interactions/context.js';
import { assertResourceType, notFoundError } from './interactions/crud.js';
import { history, type HistoryOptions } from './interactions/history.js';
import { blankRequest, criteriaOf, type Criteria, type InteractionRequest } from './interactions/request.js';
import { conflictError, objectOf, type Body, type DeleteOutcome, type InteractionResult, type WriteKind, type WriteOutcome } from './interactions/result.js';
import type { Meta, Resource } from './resource/resource.js';
import { assertValidId, ID_PATTERN } from './resource/validate.js';
import { versionIdOfETag, versionUrl, weakETag } from './resource/version.js';
import { dispatch, type Pipeline } from './routes.js';
import { IndexExtractor } from './search/extract.js';
import { SearchParameterRegistry, type SearchParameterDefinition } from './search/registry.js';
import { SearchService } from './search/service.js';
import type { JobRecord } from './storage/job-record.js';
import { RuntimeStorage } from './storage/runtime-storage.js';
import { isStorageConflict, type HistoryScope, type StorageAdapter, type StoredVersion } from './storage/storage-adapter.js';
import { BULK_DELETE, bulkDeleteHandler, InProcessJobRunner, type BulkDeleteRequest, type JobRunner } from './jobs/index.js';

/** Options of {@link FhirEngine}. */
export interface FhirEngineOptions {
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
   * Called with every unexpected (non-FHIR) error before it becomes a generic 500, for logging.
   * An exception thrown here is swallowed.
   */
  readonly onError?: (error: unknown) => void;
  /**
   * Runs background jobs (bulk delete). Default: an {@link InProcessJobRunner} with the engine's
   * limits. It starts lazily on first use; call {@link FhirEngine.start} to resume unfinished jobs
   * right after a restart.
   */
  readonly jobs?: JobRunner;
}

/** The result of a write through the typed API. */
export interface WriteResult<T extends Resource = Resource> {
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
  | { readonly fhirPathPatch: Resource };

/**
 * An embeddable FHIR R4 engine: the REST semantics of a FHIR server over a pluggable storage adapter.
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
export class FhirEngine {
  readonly #ctx: EngineContext;
  readonly #jobs: JobRunner;
  readonly #pipeline: Pipeline;

  constructor(options: FhirEngineOptions) {
    const registry = SearchParameterRegistry.r4(options.searchParameters ?? []);
    const extractor = new IndexExtractor(registry);
    const limits: Limits = Object.freeze({ ...DEFAULT_LIMITS, ...options.limits });
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
    };
    const onError = options.onError;
    const onUnexpected = (error: unknown): void => {
      try {
        onError?.(error);
      } catch {
        // A failing logger must not turn one error into two.
      }
    };
    this.#jobs = options.jobs ?? new InProcessJobRunner();
    this.#jobs.attach({
      storage,
      durable: storage.durable,
      clock: this.#ctx.clock,
      ids: this.#ctx.ids,
      handlers: new Map([[BULK_DELETE, bulkDeleteHandler(this.#ctx)]]),
      chunkSize: limits.bulkDeleteChunkSize,
      maxConcurrentJobs: limits.maxConcurrentJobs,
      onError: onUnexpected,
    });
    this.#pipeline = { ctx: this.#ctx, jobs: this.#jobs, onUnexpected };
  }

  /** @internal The context interactions run with. */
  protected get context(): EngineContext {
    return this.#ctx;
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
    return handle(this.#pipeline, request);
  }

  /** Runs a request through the route table, as `handle()` and bundle entries do (in the one request shape). */
  #run(request: InteractionRequest): Promise<InteractionResult> {
    return dispatch(this.#pipeline, Object.assign(blankRequest(request.method, request.segments), request)).catch(rethrowConflict);
  }

  /** The path of a resource type, for the typed API: checked here, so that no type name reads as a route (`metadata`). */
  #typePath(type: string): string[] {
    assertResourceType(this.#ctx, type);
    return [type];
  }

  /**
   * The path of one resource, for the typed API. An id that is no FHIR id never reaches the route
   * table (where `_history` would read as a route): a read answers 404, as for any missing
   * resource; a write 400, as the interaction would.
   */
  #resourcePath(type: string, id: string, invalidId: 'not-found' | 'invalid'): string[] {
    if (!ID_PATTERN.test(id)) {
      assertResourceType(this.#ctx, type);
      if (invalidId === 'not-found') throw notFoundError(type, id);
      assertValidId(id);
    }
    return [type, id];
  }

  #writeResult<T extends Resource>(result: InteractionResult): WriteResult<T> {
    const write = expectWrite(result);
    const v = write.version;
    return {
      resource: write.resource as T & { id: string; meta: Meta },
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
  async create<T extends Resource>(resource: T, options: { ifNoneExist?: string } = {}): Promise<WriteResult<T>> {
    const type = resource.resourceType;
    const ifNoneExist = options.ifNoneExist === undefined ? undefined : criteriaOf(options.ifNoneExist, type);
    return this.#writeResult(await this.#run({ method: 'POST', segments: this.#typePath(type), body: resource, ...(ifNoneExist && { ifNoneExist }) }));
  }

  /** Reads the current version. Throws FhirError 404 (never existed) or 410 (deleted). */
  async read<T extends Resource = Resource>(type: string, id: string): Promise<T> {
    return parse<T>(expectRead(await this.#run({ method: 'GET', segments: this.#resourcePath(type, id, 'not-found') })));
  }

  /** Reads one version. Throws FhirError 404, or 410 for the version a delete wrote. */
  async vread<T extends Resource = Resource>(type: string, id: string, versionId: string): Promise<T> {
    const segments = [...this.#resourcePath(type, id, 'not-found'), '_history', versionId];
    return parse<T>(expectRead(await this.#run({ method: 'GET', segments })));
  }

  /**
   * Updates `resource` (its `id` is required), or creates it with that id. `ifMatch` is a version
   * id or ETag (`W/"2"`): a different current version → 412. Content equal to the current version
   * writes nothing (`outcome: 'unchanged'`).
   */
  async update<T extends Resource>(resource: T, options: { ifMatch?: string } = {}): Promise<WriteResult<T>> {
    if (resource.id === undefined) throw new FhirError(400, 'invalid', 'Id must be specified in the resource.');
    const segments = this.#resourcePath(resource.resourceType, resource.id, 'invalid');
    const ifMatch = options.ifMatch === undefined ? undefined : versionIdOfETag(options.ifMatch);
    return this.#writeResult(await this.#run({ method: 'PUT', segments, body: resource, ...(ifMatch !== undefined && { ifMatch }) }));
  }

  /**
   * Conditional update `PUT [type]?query`: 0 matches → create, 1 → update it, more (or criteria none
   * of which can be used) → 412, an empty query → 400.
   */
  async conditionalUpdate<T extends Resource>(query: string, resource: T): Promise<WriteResult<T>> {
    const type = resource.resourceType;
    return this.#writeResult(await this.#run({ method: 'PUT', segments: this.#typePath(type), params: criteriaOf(query), body: resource }));
  }

  /**
   * Patches a resource by id, or by a query (`{ query: 'identifier=x' }`: 0 matches → 404,
   * several → 412, an empty query → 400).
   */
  async patch<T extends Resource = Resource>(
    type: string,
    target: string | { query: string },
    patch: PatchInput,
    options: { ifMatch?: string } = {},
  ): Promise<WriteResult<T>> {
    const document: Pick<InteractionRequest, 'body' | 'mediaType'> =
      'jsonPatch' in patch
        ? { body: patch.jsonPatch, mediaType: 'application/json-patch+json' }
        : { body: patch.fhirPathPatch, mediaType: 'application/fhir+json' };
    const ifMatch = options.ifMatch === undefined ? undefined : versionIdOfETag(options.ifMatch);
    const request: InteractionRequest =
      typeof target === 'string'
        ? { method: 'PATCH', segments: this.#resourcePath(type, target, 'invalid'), ...document }
        : { method: 'PATCH', segments: this.#typePath(type), params: criteriaOf(target.query), ...document };
    return this.#writeResult(await this.#run({ ...request, ...(ifMatch !== undefined && { ifMatch }) }));
  }

  /**
   * Deletes a resource: soft by default (a tombstone version; read → 410, history kept), or with
   * `hard: true` every version (read → 404). Deleting what is not there does nothing.
   */
  async delete(type: string, id: string, options: { hard?: boolean } = {}): Promise<DeleteResult> {
    const params: Criteria = options.hard ? [['hardDelete', 'true']] : [];
    return deleteResult(await this.#run({ method: 'DELETE', segments: this.#resourcePath(type, id, 'invalid'), params }));
  }

  /**
   * Conditional delete `DELETE [type]?query`: one match is deleted, several → 412; with `count`
   * (1–100) up to that many are deleted. Criteria none of which can be used → 412, no criteria and
   * no options → 400.
   */
  async conditionalDelete(
    type: string,
    query: string,
    options: { count?: number; hard?: boolean } = {},
  ): Promise<DeleteResult> {
    const params: [string, string][] = criteriaOf(query);
    if (options.count !== undefined) params.push(['_count', String(options.count)]);
    if (options.hard) params.push(['hardDelete', 'true']);
    return deleteResult(await this.#run({ method: 'DELETE', segments: this.#typePath(type), params }));
  }

  /** `$purge-history`: removes every version but the current one. */
  async purgeHistory(type: string, id: string): Promise<void> {
    await this.#run({ method: 'DELETE', segments: [...this.#resourcePath(type, id, 'invalid'), '$purge-history'] });
  }

  /**
   * A FHIR search; returns a `searchset` Bundle.
   * @param type a resource type, or undefined for a system-level search
   * @param query e.g. `name=smith&birthdate=ge1990&_count=10`
   */
  async search<T extends Resource = Resource>(type: string | undefined, query = ''): Promise<SearchBundle<T>> {
    const params = criteriaOf(query);
    return expectBody(await this.#run({ method: 'GET', segments: type === undefined ? [] : this.#typePath(type), params })) as SearchBundle<T>;
  }

  /** A page of history (newest first) of a resource, a type or everything; a `history` Bundle. */
  async history(scope: HistoryScope, options: HistoryOptions = {}): Promise<Resource> {
    return history(this.#ctx, scope, options);
  }

  /** The CapabilityStatement of this engine. */
  capabilities(): Resource {
    return capabilityStatement(this.#ctx);
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
  async batch(bundle: Resource, options: { parallel?: boolean } = {}): Promise<ResponseBundle> {
    if (bundle.resourceType === 'Bundle' && bundle['type'] !== 'batch') {
      throw new FhirError(400, 'invalid', `Expected a Bundle of type 'batch', got '${String(bundle['type'])}'.`);
    }
    const result = await this.#run({ method: 'POST', segments: [], body: bundle, parallelEntries: options.parallel ?? false });
    return expectBody(result) as ResponseBundle;
  }

  /**
   * Processes a `transaction` Bundle atomically: DELETE, POST, PUT/PATCH then GET entries in one
   * unit of work, with `urn:uuid:` fullUrl references rewritten to the assigned ids. Any failing
   * entry rolls everything back and is thrown as a FhirError (its status; first issue "Transaction
   * failed on …", then the entry's issues). The response Bundle is built as objects: the resources
   * written are the objects the engine serialised, never parsed back.
   */
  async transaction(bundle: Resource): Promise<ResponseBundle> {
    if (bundle.resourceType === 'Bundle' && bundle['type'] !== 'transaction') {
      throw new FhirError(400, 'invalid', `Expected a Bundle of type 'transaction', got '${String(bundle['type'])}'.`);
    }
    return expectBody(await this.#run({ method: 'POST', segments: [], body: bundle })) as ResponseBundle;
  }

  /**
   * Starts a bulk delete (`$bulk-delete`) as a background job and returns it `queued`. Deletes the
   * current resources matching `criteria` that exist now (later writes survive): soft by default,
   * `hardDelete` removes every version, `purgeHistory` keeps only the current version.
   * Throws FhirError 400 for unknown parameters.
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

/** A searchset Bundle. */
export interface SearchBundle<T extends Resource = Resource> extends Resource {
  resourceType: 'Bundle';
  type: 'searchset';
  total?: number;
  link?: { relation: string; url: string }[];
  entry?: { fullUrl?: string; resource?: T; search?: { mode: string } }[];
}

const parse = <T>(version: StoredVersion): T => JSON.parse(version.json!) as T;

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
