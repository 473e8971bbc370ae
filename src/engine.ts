import { randomIds, systemClock, type Clock, type IdGenerator } from './clock.js';
import { bundleRoute, processBundle, responseBundleOf, type ResponseBundle } from './bundle/index.js';
import { FhirError } from './errors.js';
import { handle, type FhirHttpRequest, type FhirHttpResponse } from './http/handle.js';
import type { RouteExtensions } from './http/router.js';
import { DEFAULT_LIMITS, type EngineContext, type Limits } from './interactions/context.js';
import * as crud from './interactions/crud.js';
import { history, type HistoryOptions } from './interactions/history.js';
import { criteriaOf } from './interactions/references.js';
import type { WriteKind, WriteOutcome } from './interactions/write.js';
import { capabilityStatement } from './http/capabilities.js';
import type { Meta, Resource } from './resource/resource.js';
import { versionIdOfETag, weakETag } from './resource/version.js';
import { IndexExtractor } from './search/extract.js';
import { SearchParameterRegistry, type SearchParameterDefinition } from './search/registry.js';
import { SearchService } from './search/service.js';
import type { HistoryScope, StorageAdapter, StoredVersion } from './storage/storage-adapter.js';
import { RuntimeStorage } from './storage/runtime-storage.js';
import type { JobRecord } from './storage/job-record.js';
import { BULK_DELETE, bulkDeleteHandler, bulkDeleteRoutes, InProcessJobRunner, type BulkDeleteRequest, type JobRunner } from './jobs/index.js';

/** Options of {@link FhirEngine}. */
export interface FhirEngineOptions {
  /** Where resources, history, indexes and jobs live. */
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
  readonly #onError: (error: unknown) => void;
  readonly #jobs: JobRunner;
  /** Routes that later layers (bundles, jobs) plug into the router. @internal */
  protected readonly extensions: RouteExtensions = {};

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
    this.#onError = (error) => {
      try {
        onError?.(error);
      } catch {
        // A failing logger must not turn one error into two.
      }
    };
    this.extensions.bundle = bundleRoute(this.#ctx, this.extensions, this.#onError);
    this.#jobs = options.jobs ?? new InProcessJobRunner();
    this.#jobs.attach({
      storage: this.#ctx.storage,
      durable: this.#ctx.storage.durable,
      clock: this.#ctx.clock,
      ids: this.#ctx.ids,
      handlers: new Map([[BULK_DELETE, bulkDeleteHandler(this.#ctx)]]),
      chunkSize: limits.bulkDeleteChunkSize,
      maxConcurrentJobs: limits.maxConcurrentJobs,
      onError: this.#onError,
    });
    const jobRoutes = bulkDeleteRoutes(this.#ctx, this.#jobs);
    this.extensions.bulkDelete = jobRoutes.bulkDelete;
    this.extensions.jobStatus = jobRoutes.jobStatus;
    this.extensions.jobCancel = jobRoutes.jobCancel;
  }

  /** @internal The context interactions run with. */
  protected get context(): EngineContext {
    return this.#ctx;
  }

  /** The storage the engine runs on: its adapter under the engine's {@link RuntimeStorage}. */
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
    return handle(this.#ctx, request, this.extensions, this.#onError);
  }

  #writeResult<T extends Resource>(result: WriteOutcome): WriteResult<T> {
    const v = result.version;
    return {
      resource: result.resource as T & { id: string; meta: Meta },
      outcome: result.outcome,
      versionId: v.versionId,
      lastUpdated: v.lastUpdated,
      etag: weakETag(v.versionId),
      location: `${this.#ctx.baseUrl}/${v.type}/${v.id}/_history/${v.versionId}`,
    };
  }

  /**
   * Creates a resource with a new server-assigned id. With `ifNoneExist` (a query such as
   * `identifier=http://x|1`) it is a conditional create: an existing single match is returned
   * (`outcome: 'matched'`) and nothing is written; several matches → 412.
   */
  async create<T extends Resource>(resource: T, options: { ifNoneExist?: string } = {}): Promise<WriteResult<T>> {
    const result = await crud.create(this.#ctx, resource.resourceType, resource, {
      ...(options.ifNoneExist !== undefined && { ifNoneExist: criteriaOf(options.ifNoneExist) }),
    });
    return this.#writeResult(result);
  }

  /** Reads the current version. Throws FhirError 404 (never existed) or 410 (deleted). */
  async read<T extends Resource = Resource>(type: string, id: string): Promise<T> {
    return parse<T>(await crud.read(this.#ctx, type, id));
  }

  /** Reads one version. Throws FhirError 404, or 410 for the version a delete wrote. */
  async vread<T extends Resource = Resource>(type: string, id: string, versionId: string): Promise<T> {
    return parse<T>(await crud.vread(this.#ctx, type, id, versionId));
  }

  /**
   * Updates `resource` (its `id` is required), or creates it with that id. `ifMatch` is a version
   * id or ETag (`W/"2"`): a different current version → 412. Content equal to the current version
   * writes nothing (`outcome: 'unchanged'`).
   */
  async update<T extends Resource>(resource: T, options: { ifMatch?: string } = {}): Promise<WriteResult<T>> {
    if (resource.id === undefined) throw new FhirError(400, 'invalid', 'Id must be specified in the resource.');
    const ifMatch = options.ifMatch === undefined ? undefined : versionIdOfETag(options.ifMatch);
    const result = await crud.update(this.#ctx, resource.resourceType, resource.id, resource, {
      ...(ifMatch !== undefined && { ifMatch }),
    });
    return this.#writeResult(result);
  }

  /** Conditional update `PUT [type]?query`: 0 matches → create, 1 → update it, more → 412. */
  async conditionalUpdate<T extends Resource>(query: string, resource: T): Promise<WriteResult<T>> {
    const result = await crud.conditionalUpdate(this.#ctx, resource.resourceType, criteriaOf(query), resource);
    return this.#writeResult(result);
  }

  /**
   * Patches a resource by id, or by a query (`{ query: 'identifier=x' }`: 0 matches → 404,
   * several → 412).
   */
  async patch<T extends Resource = Resource>(
    type: string,
    target: string | { query: string },
    patch: PatchInput,
    options: { ifMatch?: string } = {},
  ): Promise<WriteResult<T>> {
    const document: crud.PatchDocument =
      'jsonPatch' in patch
        ? { format: 'json-patch', operations: patch.jsonPatch }
        : { format: 'fhirpath-patch', parameters: patch.fhirPathPatch };
    const ifMatch = options.ifMatch === undefined ? undefined : versionIdOfETag(options.ifMatch);
    const opts = ifMatch !== undefined ? { ifMatch } : {};
    const result =
      typeof target === 'string'
        ? await crud.patch(this.#ctx, type, target, document, opts)
        : await crud.conditionalPatch(this.#ctx, type, criteriaOf(target.query), document, opts);
    return this.#writeResult(result);
  }

  /**
   * Deletes a resource: soft by default (a tombstone version; read → 410, history kept), or with
   * `hard: true` every version (read → 404). Deleting what is not there does nothing.
   */
  async delete(type: string, id: string, options: { hard?: boolean } = {}): Promise<DeleteResult> {
    return deleteResult(await crud.remove(this.#ctx, type, id, options));
  }

  /**
   * Conditional delete `DELETE [type]?query`: one match is deleted, several → 412; with `count`
   * (1–100) up to that many are deleted.
   */
  async conditionalDelete(
    type: string,
    query: string,
    options: { count?: number; hard?: boolean } = {},
  ): Promise<DeleteResult> {
    return deleteResult(await crud.conditionalDelete(this.#ctx, type, criteriaOf(query), options));
  }

  /** `$purge-history`: removes every version but the current one. */
  async purgeHistory(type: string, id: string): Promise<void> {
    await crud.purgeHistory(this.#ctx, type, id);
  }

  /**
   * A FHIR search; returns a `searchset` Bundle.
   * @param type a resource type, or undefined for a system-level search
   * @param query e.g. `name=smith&birthdate=ge1990&_count=10`
   */
  async search<T extends Resource = Resource>(type: string | undefined, query = ''): Promise<SearchBundle<T>> {
    if (type !== undefined) crud.assertResourceType(this.#ctx, type);
    return (await this.#ctx.search.search(this.#ctx.storage, {
      types: type === undefined ? [] : [type],
      params: criteriaOf(query),
      baseUrl: this.#ctx.baseUrl,
      path: type ?? '',
    })) as SearchBundle<T>;
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
    return responseBundleOf(
      await processBundle(this.#ctx, bundle, this.extensions, { parallel: options.parallel ?? false, onUnexpected: this.#onError }),
    );
  }

  /**
   * Processes a `transaction` Bundle atomically: DELETE, POST, PUT/PATCH then GET entries in one
   * unit of work, with `urn:uuid:` fullUrl references rewritten to the assigned ids. Any failing
   * entry rolls everything back and is thrown as a FhirError (its status; first issue "Transaction
   * failed on …", then the entry's issues).
   */
  async transaction(bundle: Resource): Promise<ResponseBundle> {
    if (bundle.resourceType === 'Bundle' && bundle['type'] !== 'transaction') {
      throw new FhirError(400, 'invalid', `Expected a Bundle of type 'transaction', got '${String(bundle['type'])}'.`);
    }
    return responseBundleOf(await processBundle(this.#ctx, bundle, this.extensions, { onUnexpected: this.#onError }));
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

const deleteResult = (result: crud.DeleteOutcome): DeleteResult =>
  result.version ? { deleted: result.deleted, versionId: result.version.versionId } : { deleted: result.deleted };
