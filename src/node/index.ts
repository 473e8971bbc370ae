/**
 * Mount helpers for Node servers: `fhirListener` for `node:http`, Express and Connect, and the
 * `fhirFastify` plugin. Both read the raw body under the engine's size limit, route the bare base,
 * answer HEAD and OPTIONS, never add an ETag of their own, and build `Location`, `Content-Location`
 * and bundle links on the public base URL (mount path included; behind a proxy, `X-Forwarded-*`
 * when `trustProxy` is set).
 * @packageDocumentation
 * @module fhir-engine/node
 */
export { fhirListener, type FhirListener, type FhirListenerOptions } from './listener.js';
export { fhirFastify, type FhirFastifyOptions } from './fastify.js';
export type { MountOptions } from './request.js';
