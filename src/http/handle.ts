/**
 * HTTP at the edge: `handle()` parses the wire into an interaction request, runs it through the
 * route table, and renders the result; around it, the application's hooks and logger.
 * @packageDocumentation
 */
import { fhirErrorOf } from '../interactions/result.js';
import { allowedMethods, dispatch, type Pipeline } from '../routes.js';
import type { Logger, RequestHooks } from './hooks.js';
import { pathBelowBase, requestOf, type FhirHttpRequest } from './request.js';
import { render, renderError, type FhirHttpResponse } from './respond.js';
import { parseUrl } from '../interactions/request.js';

export type { FhirHttpRequest } from './request.js';
export type { FhirHttpResponse } from './respond.js';

/** What the edge runs with beside the pipeline. */
export interface EdgeOptions extends RequestHooks {
  readonly logger?: Logger | undefined;
}

/** Pipelines of per-request base URLs (a proxy's few public names); bounded, as `X-Forwarded-Host` is the client's. */
const MAX_BASES = 16;

/** The HTTP edge of one engine: `handle()` with its hooks, logger and per-request base URLs. */
export class HttpEdge {
  readonly #p: Pipeline;
  readonly #options: EdgeOptions;
  readonly #timed: boolean;
  readonly #byBase = new Map<string, Pipeline>();

  constructor(p: Pipeline, options: EdgeOptions = {}) {
    this.#p = p;
    this.#options = options;
    this.#timed = options.onResponse !== undefined || options.logger !== undefined;
  }

  /** Runs one request. Never rejects: every failure comes back as a status with an OperationOutcome. */
  async handle(request: FhirHttpRequest): Promise<FhirHttpResponse> {
    const started = this.#timed ? performance.now() : 0;
    let response: FhirHttpResponse;
    try {
      if (this.#options.onRequest) await this.#options.onRequest(request);
      response = await this.#respond(request);
    } catch (error) {
      response = renderError(fhirErrorOf(error, this.#p.onUnexpected));
    }
    // HEAD is GET without a body, errors included (RFC 9110 §9.3.2).
    if (response.body !== undefined && request.method.toUpperCase() === 'HEAD') response = { ...response, body: undefined };
    if (this.#timed) await this.#report(request, response, performance.now() - started);
    return response;
  }

  async #respond(request: FhirHttpRequest): Promise<FhirHttpResponse> {
    const p = this.#pipelineFor(request.baseUrl);
    const url = pathBelowBase(request.url, p.ctx.baseUrl);
    if (request.method.toUpperCase() === 'OPTIONS') {
      return { status: 204, headers: { allow: allowedMethods(p, parseUrl(url).segments) }, body: undefined };
    }
    const parsed = requestOf(request, url, p.ctx.limits);
    return render(await dispatch(p, parsed), parsed.prefer, p.ctx.baseUrl);
  }

  /** The pipeline with the request's public base URL in place of the engine's, when it has one. */
  #pipelineFor(baseUrl: string | undefined): Pipeline {
    if (baseUrl === undefined) return this.#p;
    const base = baseUrl.replace(/\/+$/, '');
    if (base === this.#p.ctx.baseUrl) return this.#p;
    let p = this.#byBase.get(base);
    if (p === undefined) {
      p = { ...this.#p, ctx: { ...this.#p.ctx, baseUrl: base } };
      if (this.#byBase.size >= MAX_BASES) this.#byBase.delete(this.#byBase.keys().next().value!);
      this.#byBase.set(base, p);
    }
    return p;
  }

  async #report(request: FhirHttpRequest, response: FhirHttpResponse, durationMs: number): Promise<void> {
    const { logger, onResponse } = this.#options;
    try {
      logger?.info({ method: request.method, url: request.url, status: response.status, durationMs: Math.round(durationMs * 100) / 100 }, 'request completed');
      if (onResponse) await onResponse(request, response, { durationMs });
    } catch (error) {
      this.#p.onUnexpected(error);
    }
  }
}
