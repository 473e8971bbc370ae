/**
 * From a Node `IncomingMessage` to the engine's {@link FhirHttpRequest}: the path below the mount
 * point, the public base URL, and the raw body read under the engine's size limit.
 * @packageDocumentation
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { FhirError } from '../errors.js';
import type { FhirHttpRequest } from '../http/request.js';

/** Where and how a FHIR endpoint is mounted; shared by {@link fhirListener} and {@link fhirFastify}. */
export interface MountOptions {
  /**
   * The path the FHIR base is served under on the server, e.g. `/fhir` (default: the root). Under
   * Express's or Connect's `app.use('/fhir', …)` the framework's mount path is added to it
   * automatically, so leave it unset there.
   */
  readonly basePath?: string;
  /**
   * The public base URL clients see, e.g. `https://api.example.org/fhir`: `Location`,
   * `Content-Location`, `fullUrl` and bundle links are built on it. Default: from the request,
   * `http(s)://` + `Host` + the mount path (with {@link trustProxy}, the `X-Forwarded-Proto` and
   * `X-Forwarded-Host` a proxy sets instead).
   */
  readonly publicBaseUrl?: string;
  /**
   * Build the public base URL from `X-Forwarded-Proto` and `X-Forwarded-Host`. Only behind a proxy
   * you control, which sets them: a client can send any value. Default false.
   */
  readonly trustProxy?: boolean;
  /** Largest total size of the request headers in bytes; 431 past it. Default 16 KiB (Node's own limit). */
  readonly maxHeaderBytes?: number;
  /** Largest request body in bytes; 413 past it, before more is read. Default: the engine's `limits.maxBodyBytes`. */
  readonly maxBodyBytes?: number;
}

/** What connect-style frameworks add to the request: the mount point they stripped from `url`. */
interface MountedRequest extends IncomingMessage {
  /** Express: the path the router was mounted on. */
  baseUrl?: string;
  /** Express and Connect: the URL before mounting stripped it. */
  originalUrl?: string;
  /** A body a framework's body parser has already read. */
  body?: unknown;
  /** body-parser's mark that it consumed the stream. */
  _body?: boolean;
}

const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;

/** The first value of a header a proxy may have appended to (`a, b`). */
const firstOf = (value: string | string[] | undefined): string | undefined =>
  (Array.isArray(value) ? value[0] : value)?.split(',')[0]?.trim() || undefined;

/** The path a connect-style framework mounted this request under (`app.use('/fhir', …)`), or `''`. */
function frameworkMount(req: MountedRequest): string {
  if (typeof req.baseUrl === 'string') return req.baseUrl;
  if (typeof req.originalUrl !== 'string' || req.originalUrl === req.url) return '';
  const original = req.originalUrl.split('?')[0]!;
  const path = (req.url ?? '/').split('?')[0]!;
  if (original.endsWith(path)) return original.slice(0, original.length - path.length);
  return path === '/' ? original.replace(/\/+$/, '') : '';
}

/**
 * The URL below the mount point and the mount path, or undefined when the request is outside
 * `basePath` (a listener answers 404, a middleware passes it on).
 */
export function mountedUrl(req: IncomingMessage, basePath: string): { url: string; mount: string } | undefined {
  const url = req.url ?? '/';
  const mount = frameworkMount(req as MountedRequest);
  if (basePath === '') return { url, mount };
  if (url === basePath || url.startsWith(`${basePath}/`) || url.startsWith(`${basePath}?`)) {
    return { url: url.slice(basePath.length) || '/', mount: mount + basePath };
  }
  return undefined;
}

/** The public base URL of a request mounted at `mount`. */
export function publicBaseOf(req: IncomingMessage, mount: string, options: MountOptions): string | undefined {
  if (options.publicBaseUrl !== undefined) return options.publicBaseUrl.replace(/\/+$/, '');
  const forwarded = options.trustProxy === true;
  const proto = (forwarded && firstOf(req.headers['x-forwarded-proto'])) || ((req.socket as TLSSocket).encrypted ? 'https' : 'http');
  const host = (forwarded && firstOf(req.headers['x-forwarded-host'])) || req.headers.host;
  // Without a Host (HTTP/1.0), the engine's own baseUrl.
  return host ? `${proto}://${host}${mount}` : undefined;
}

/** 431 when the request's headers are larger than `max` bytes (names and values, as received). */
export function checkHeaderSize(req: IncomingMessage, max = DEFAULT_MAX_HEADER_BYTES): void {
  let size = 0;
  for (const part of req.rawHeaders) size += part.length + 2;
  if (size > max) {
    throw new FhirError(431, 'too-long', `The request headers (${size} bytes) exceed the limit of ${max} bytes.`);
  }
}

/** A 413 for a body over `max` bytes. */
export const bodyTooLarge = (max: number): FhirError =>
  new FhirError(413, 'too-long', `The request body exceeds the limit of ${max} bytes.`);

/**
 * The raw body, read up to `max` bytes: a `Content-Length` over it is refused before reading, and
 * a chunked body the moment it passes it. A body a framework's parser already read is taken as it is.
 */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer | object | string | undefined> {
  const mounted = req as MountedRequest;
  if (mounted._body === true || (mounted.body !== undefined && req.readableEnded)) {
    const body = mounted.body;
    return Promise.resolve(typeof body === 'string' || typeof body === 'object' ? (body ?? undefined) : undefined);
  }
  const declared = Number(req.headers['content-length']);
  if (declared > max) return Promise.reject(bodyTooLarge(max));
  if (req.readableEnded) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        cleanup();
        req.pause();
        reject(bodyTooLarge(max));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(size === 0 ? undefined : Buffer.concat(chunks, size));
    };
    const onError = (): void => {
      cleanup();
      reject(new FhirError(400, 'invalid', 'The request body could not be read.'));
    };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** The engine request of a Node request mounted at `mount`, its body read under `maxBodyBytes`. */
export async function fhirRequestOf(
  req: IncomingMessage,
  url: string,
  mount: string,
  options: MountOptions & { readonly maxBodyBytes: number },
): Promise<FhirHttpRequest> {
  checkHeaderSize(req, options.maxHeaderBytes);
  const body = await readBody(req, options.maxBodyBytes);
  const baseUrl = publicBaseOf(req, mount, options);
  return {
    method: req.method ?? 'GET',
    url,
    headers: req.headers,
    ...(body !== undefined && { body }),
    ...(baseUrl !== undefined && { baseUrl }),
  };
}
