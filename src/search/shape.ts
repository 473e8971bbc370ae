/**
 * `_elements` and `_summary=text|data`: the subset of a matched or included resource a searchset
 * returns, tagged `SUBSETTED` (search.html §3.1.1.5.9–10).
 * @packageDocumentation
 */
import type { Resource } from '../resource/resource.js';
import type { ParsedSearch } from './parse.js';

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'Resource encoded in summary mode' };

function tagSubsetted(resource: Resource): Resource {
  const meta = { ...(resource.meta ?? {}) };
  meta.tag = [...(meta.tag ?? []), { ...SUBSETTED }];
  resource.meta = meta;
  return resource;
}

/** Whether {@link shapeResource} may change a resource under these parameters. */
export function shapes(parsed: Pick<ParsedSearch, 'elements' | 'summary'>): boolean {
  return (parsed.elements?.length ?? 0) > 0 || parsed.summary === 'text' || parsed.summary === 'data';
}

/**
 * The resource as the search returns it: with `_elements`, only the listed top-level elements (plus
 * `resourceType`, `id`, `meta` and their `_` extensions); with `_summary=text`, `id`, `meta` and
 * `text`; with `_summary=data`, everything but `text`. Otherwise the resource itself, unchanged.
 */
export function shapeResource(resource: Resource, parsed: Pick<ParsedSearch, 'elements' | 'summary'>): Resource {
  if (parsed.elements && parsed.elements.length > 0) {
    const keep = new Set(['resourceType', 'id', 'meta', ...parsed.elements.map((e) => e.replace(/^[A-Z]\w*\./, ''))]);
    const out: Resource = { resourceType: resource.resourceType };
    for (const [k, v] of Object.entries(resource)) if (keep.has(k) || (k.startsWith('_') && keep.has(k.slice(1)))) out[k] = v;
    return tagSubsetted(out);
  }
  if (parsed.summary === 'text') {
    const out: Resource = { resourceType: resource.resourceType };
    for (const k of ['id', 'meta', 'text']) if (resource[k] !== undefined) out[k] = resource[k];
    return tagSubsetted(out);
  }
  if (parsed.summary === 'data') {
    const { text: _text, ...rest } = resource;
    return tagSubsetted(rest as Resource);
  }
  return resource;
}
