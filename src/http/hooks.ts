/**
 * What an application plugs into `handle()`: hooks around every request and a logger.
 * @packageDocumentation
 */
import type { FhirHttpRequest } from './request.js';
import type { FhirHttpResponse } from './respond.js';

/**
 * A structured logger: pino's call shape (`logger.info({ status: 201 }, 'request completed')`), so a
 * pino logger, or anything with the same four methods, fits. pino itself is not a dependency.
 */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

/** What {@link RequestHooks.onResponse} is told beside the request and its response. */
export interface ResponseInfo {
  /** Milliseconds from the start of `handle()` to the response being ready. */
  readonly durationMs: number;
}

/** Hooks around every request that comes through `handle()` (and so through the mount helpers). */
export interface RequestHooks {
  /**
   * Runs before the request is parsed or routed (its headers as given: Node's are lower case). Throw a `FhirError` to refuse it (a 401 or 403
   * for an authorisation decision, say): the error becomes the response, and nothing runs.
   * Any other exception is a 500.
   */
  readonly onRequest?: (request: FhirHttpRequest) => void | Promise<void>;
  /**
   * Runs once the response is ready, refusals included, before it is returned: for logging and
   * metrics. Its errors are reported to `onError` and never change the response.
   */
  readonly onResponse?: (request: FhirHttpRequest, response: FhirHttpResponse, info: ResponseInfo) => void | Promise<void>;
}
