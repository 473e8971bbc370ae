import type { Resource } from './resource.js';

/** Deep equality of JSON values; object key order does not matter. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => jsonEqual(item, b[i]));
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual((a as never)[k], (b as never)[k]));
}

/** `meta` without the elements the server sets, or undefined when nothing else is left. */
function clientMeta(resource: Resource): Record<string, unknown> | undefined {
  if (!resource.meta) return undefined;
  const { versionId: _v, lastUpdated: _l, ...rest } = resource.meta;
  return Object.keys(rest).length ? rest : undefined;
}

/**
 * True when two versions have the same content, ignoring `meta.versionId` and `meta.lastUpdated`:
 * an update like that writes no new version (as Microsoft's FHIR service and HAPI do).
 */
export function sameContent(a: Resource, b: Resource): boolean {
  const { meta: _ma, ...restA } = a;
  const { meta: _mb, ...restB } = b;
  return jsonEqual(restA, restB) && jsonEqual(clientMeta(a), clientMeta(b));
}

/**
 * A deep copy of a JSON value: arrays and plain objects are copied, JSON primitives shared; anything
 * else (a `Date` handed to the typed API, say) goes through `structuredClone`. Several times faster
 * than `structuredClone` on a resource-sized tree, which matters on the patch path.
 */
export function cloneJson<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const copy = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) copy[i] = cloneJson(value[i]);
    return copy as T;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return structuredClone(value);
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    // `__proto__` as an own key (from JSON.parse) must stay an own key, not set the prototype.
    if (key === '__proto__') Object.defineProperty(copy, key, { value: cloneJson((value as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true });
    else copy[key] = cloneJson((value as Record<string, unknown>)[key]);
  }
  return copy as T;
}
