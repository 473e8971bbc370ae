/**
 * The links a write resolves before it stores a resource: references to the fullUrls of a
 * transaction's entries, and conditional references (`Patient?identifier=…`).
 * @packageDocumentation
 */
import { badRequest } from '../errors.js';
import type { Resource } from '../resource/resource.js';
import type { StorageReader } from '../storage/storage-adapter.js';
import { RESOURCE_TYPES, structure, type ElementKey, type Structure } from '../validation/definitions.js';
import type { EngineContext } from './context.js';
import { criteriaOf } from './request.js';

/** `Type?criteria`: a conditional reference (FHIR http.html §3.1.0.8.1, transactions; Azure resolves it on every write). */
const CONDITIONAL_REFERENCE = /^([A-Z][A-Za-z]+)\?(.+)$/;

/** Calls `visit` on every object that has a string `reference`, depth first. */
export function forEachReference(value: unknown, visit: (holder: { reference: string }) => void): void {
  if (Array.isArray(value)) {
    for (const item of value) forEachReference(item, visit);
  } else if (typeof value === 'object' && value !== null) {
    const holder = value as Record<string, unknown>;
    if (typeof holder.reference === 'string') visit(holder as { reference: string });
    for (const key in holder) {
      const child = holder[key];
      if (typeof child === 'object' && child !== null) forEachReference(child, visit);
    }
  }
}

/** True when `value` holds a conditional reference anywhere. */
function hasConditionalReference(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some(hasConditionalReference);
  const holder = value as Record<string, unknown>;
  if (typeof holder.reference === 'string' && CONDITIONAL_REFERENCE.test(holder.reference)) return true;
  for (const key in holder) if (hasConditionalReference(holder[key])) return true;
  return false;
}

/**
 * Replaces every conditional reference (`Patient?identifier=x|1`) in `resource` by the `Type/id` of
 * the one resource it matches. No match or several → 400. Returns `resource` itself, synchronously,
 * when it has none (as nearly every write).
 */
export function resolveConditionalReferences(
  ctx: EngineContext,
  reader: StorageReader,
  resource: Resource,
): Resource | Promise<Resource> {
  return hasConditionalReference(resource) ? resolveInCopy(ctx, reader, resource) : resource;
}

async function resolveInCopy(ctx: EngineContext, reader: StorageReader, resource: Resource): Promise<Resource> {
  const copy = structuredClone(resource);
  const holders: { reference: string }[] = [];
  forEachReference(copy, (holder) => {
    if (CONDITIONAL_REFERENCE.test(holder.reference)) holders.push(holder);
  });
  for (const holder of holders) {
    const [, type, query] = CONDITIONAL_REFERENCE.exec(holder.reference)!;
    if (!ctx.registry.resourceTypes.has(type!)) {
      throw badRequest(`Resource type '${type}' in the reference '${holder.reference}' is not supported.`);
    }
    const found = await ctx.search.findMatches(reader, type!, criteriaOf(query!), { limit: 2 });
    if (!found.selective || found.hits.length === 0) {
      throw badRequest(`Given conditional reference '${holder.reference}' does not resolve to a resource.`);
    }
    if (found.hits.length > 1) {
      throw badRequest(`Given conditional reference '${holder.reference}' resolved to multiple resources.`);
    }
    holder.reference = `${type}/${found.hits[0]!.id}`;
  }
  return copy;
}

/**
 * Element types whose values are links to rewrite (R4 http.html, transaction processing rules: "resource
 * references, elements of type uri, url, oid, uuid, and <a href> & <img src> in the narrative"). The spec
 * leaves canonical out on purpose ("Elements of type canonical are not replaced"): a canonical names a
 * definition by its canonical URL, which no entry's id replaces. An oid or uuid value that is rewritten
 * then holds `Type/id`, which is not of its type; the spec asks for the rewrite all the same, and the
 * link would otherwise point nowhere once the transaction is done.
 */
const LINK_TYPES = new Set(['uri', 'url', 'oid', 'uuid']);

/** `href="…"` and `src="…"` attributes in XHTML narrative. */
const NARRATIVE_LINK = /(\s(?:href|src)\s*=\s*)(["'])(.*?)\2/g;

/**
 * Replaces, in `resource`, every link to a fullUrl of `fullUrls` by the `Type/id` it was assigned:
 * `Reference.reference`, elements of type uri, url, oid and uuid (`valueUri`, `Provenance.policy`,
 * `Attachment.url`, …) and narrative `href`/`src`, wherever they are, contained resources included.
 * The element types come from the R4 structure definitions, so a string that only looks like a link (a
 * `display`, a `valueString`) is left alone. Returns a rewritten copy, or `resource` itself when
 * nothing matched.
 */
export function rewriteFullUrls(resource: Resource, fullUrls: ReadonlyMap<string, string>): Resource {
  if (fullUrls.size === 0) return resource;
  const copy = structuredClone(resource);
  return new LinkRewriter(fullUrls).resource(copy) > 0 ? copy : resource;
}

let referenceElement: ElementKey | undefined;

class LinkRewriter {
  private readonly reference = (referenceElement ??= structure('Reference')!.keys.get('reference')!);

  constructor(private readonly fullUrls: ReadonlyMap<string, string>) {}

  /** Rewrites in place inside a resource; returns the number of links rewritten. */
  resource(value: unknown): number {
    if (!isObject(value)) return 0;
    const type = value.resourceType;
    if (typeof type === 'string' && RESOURCE_TYPES.has(type)) return this.object(value, structure(type)!);
    // A type without R4 definitions (`validation: 'off'`): references are all that can be told apart.
    let count = 0;
    forEachReference(value, (holder) => {
      const target = this.fullUrls.get(holder.reference);
      if (target !== undefined) {
        holder.reference = target;
        count++;
      }
    });
    return count;
  }

  private object(value: Record<string, unknown>, of: Structure): number {
    let count = 0;
    for (const key of Object.keys(value)) {
      const element = of.keys.get(key);
      if (element === undefined) continue; // resourceType, `_x` extensions, elements unknown with validation off
      const item = value[key];
      if (!Array.isArray(item)) {
        const rewritten = this.value(item, element);
        if (typeof rewritten === 'string') {
          value[key] = rewritten;
          count++;
        } else {
          count += rewritten;
        }
        continue;
      }
      for (let i = 0; i < item.length; i++) {
        const rewritten = this.value(item[i], element);
        if (typeof rewritten === 'string') {
          item[i] = rewritten;
          count++;
        } else {
          count += rewritten;
        }
      }
    }
    return count;
  }

  /** The new value of a primitive link, or the number of links rewritten inside a complex value. */
  private value(value: unknown, element: ElementKey): string | number {
    if (typeof value === 'string') {
      if (element.type === 'xhtml') return this.narrative(value);
      if (!LINK_TYPES.has(element.type) && element !== this.reference) return 0;
      return this.fullUrls.get(value) ?? 0;
    }
    if (!isObject(value)) return 0;
    if (element.type === 'Resource') return this.resource(value);
    const of = element.structure;
    return of === undefined ? 0 : this.object(value, of);
  }

  private narrative(div: string): string | number {
    let changed = false;
    const rewritten = div.replace(NARRATIVE_LINK, (attribute, name: string, quote: string, link: string) => {
      const target = this.fullUrls.get(link);
      if (target === undefined) return attribute;
      changed = true;
      return `${name}${quote}${target}${quote}`;
    });
    return changed ? rewritten : 0;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
