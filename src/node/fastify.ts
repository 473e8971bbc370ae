/**
 * The engine as a Fastify plugin.
 * @packageDocumentation
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { FhirEngine } from '../engine.js';
import { FhirError, isFhirError } from '../errors.js';
import { renderError } from '../http/respond.js';
import { fhirRequestOf, type MountOptions } from './request.js';

/** Options of {@link fhirFastify}. */
export interface FhirFastifyOptions extends Omit<MountOptions, 'basePath'> {
  /** The engine to serve. */
  readonly engine: FhirEngine;
  /** The path to serve it under, e.g. `/fhir` (default: the root). Fastify's own `prefix` option is ignored by plugins that share their parent's scope, as this one does. */
  readonly prefix?: string;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * A Fastify plugin that serves an engine under `prefix`. Bodies are read raw by the engine (any
 * media type, under the engine's size limit, its OperationOutcome for a 413 or malformed JSON):
 * the plugin's routes live in a scope of their own, so the application's content-type parsers are
 * left as they are.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { fhirFastify } from 'fhir-engine/node';
 * const app = Fastify();
 * await app.register(fhirFastify, { engine, prefix: '/fhir' });
 * ```
 */
export const fhirFastify: FastifyPluginAsync<FhirFastifyOptions> = fp(
  async (fastify: FastifyInstance, options: FhirFastifyOptions) => {
    const { engine } = options;
    const prefix = (options.prefix ?? '').replace(/\/+$/, '');
    const read = { ...options, maxBodyBytes: options.maxBodyBytes ?? engine.limits.maxBodyBytes };
    await fastify.register(async (scope) => {
      // Leave the body unread: the engine reads it, under its own limit, in any media type.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
      const handler = async (request: { raw: FhirFastifyRequest; url: string }, reply: FhirFastifyReply): Promise<void> => {
        const url = request.url.slice(prefix.length) || '/';
        let response;
        try {
          response = await engine.handle(await fhirRequestOf(request.raw, url, prefix, read));
        } catch (error) {
          // The body was left unread (too large) or broken: answer, then close the connection.
          response = renderError(isFhirError(error) ? error : new FhirError(400, 'invalid', 'The request could not be read.'));
          reply.header('connection', 'close');
        }
        reply.code(response.status).headers(response.headers);
        // A bulk export file is sent as it is read, never held whole.
        await reply.send(response.stream ? Readable.from(response.stream) : response.body);
      };
      for (const url of prefix === '' ? ['/', '/*'] : [prefix, `${prefix}/`, `${prefix}/*`]) {
        scope.route({ method: [...METHODS], url, exposeHeadRoute: false, handler });
      }
    });
  },
  { fastify: '5.x', name: 'fhir-engine' },
);

type FhirFastifyRequest = Parameters<typeof fhirRequestOf>[0];
interface FhirFastifyReply {
  code(status: number): FhirFastifyReply;
  headers(headers: Record<string, string>): FhirFastifyReply;
  header(name: string, value: string): FhirFastifyReply;
  send(body: string | Readable | undefined): unknown;
}
