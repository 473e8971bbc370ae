/**
 * The engine as a `node:http` request listener, and as Connect/Express middleware.
 * @packageDocumentation
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FhirEngine } from '../engine.js';
import { FhirError, isFhirError } from '../errors.js';
import type { FhirHttpResponse } from '../http/respond.js';
import { renderError } from '../http/respond.js';
import { fhirRequestOf, mountedUrl, type MountOptions } from './request.js';

/** Options of {@link fhirListener}. */
export type FhirListenerOptions = MountOptions;

/**
 * A request listener, and connect-style middleware when the framework passes `next`: requests
 * outside {@link MountOptions.basePath} go to `next` (or get a 404 without one).
 */
export type FhirListener = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

/** Writes an engine response; `close` ends the connection once it is written (a body left unread). */
export function writeResponse(req: IncomingMessage, res: ServerResponse, response: FhirHttpResponse, close = false): void {
  const headers: Record<string, string> = { ...response.headers };
  if (close) headers.connection = 'close';
  res.writeHead(response.status, headers);
  if (response.stream) {
    // A bulk export file: sent as it is read, never held whole.
    pipeline(Readable.from(response.stream), res).catch(() => res.destroy());
    return;
  }
  if (close) res.end(response.body, () => req.destroy());
  else res.end(response.body);
}

/**
 * Serves `engine` on a Node HTTP server, or in Express or Connect under any mount path.
 *
 * The listener reads the raw body under the engine's size limit (413 as soon as it is passed,
 * without buffering more), routes the bare base (`POST /fhir` with a batch), answers HEAD and
 * OPTIONS, and writes the engine's headers as they are: no framework ETag is added. A body parser
 * that ran before it (`express.json()`) is fine: its parsed body is taken as is.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { fhirListener } from 'fhir-engine/node';
 * createServer(fhirListener(engine, { basePath: '/fhir' })).listen(8080);
 * // Express: app.use('/fhir', fhirListener(engine));
 * ```
 */
export function fhirListener(engine: FhirEngine, options: FhirListenerOptions = {}): FhirListener {
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  const read = { ...options, maxBodyBytes: options.maxBodyBytes ?? engine.limits.maxBodyBytes };
  return (req, res, next) => {
    const mounted = mountedUrl(req, basePath);
    if (mounted === undefined) {
      if (next) next();
      else writeResponse(req, res, renderError(new FhirError(404, 'not-found', `The requested route '${req.url}' was not found.`)));
      return;
    }
    fhirRequestOf(req, mounted.url, mounted.mount, read)
      .then(
        async (request) => writeResponse(req, res, await engine.handle(request)),
        // The body was left unread (too large) or broken: answer, then close the connection.
        (error: unknown) => writeResponse(req, res, renderError(isFhirError(error) ? error : new FhirError(400, 'invalid', 'The request could not be read.')), true),
      )
      .catch((error: unknown) => {
        // Only writing can fail here (the client went away); there is nothing left to answer.
        if (!res.headersSent && next) next(error);
        else res.destroy();
      });
  };
}
