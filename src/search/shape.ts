/**
 * `_elements` and `_summary=text|data`: the subset of a matched or included resource a searchset
 * returns, tagged `SUBSETTED` (search.html §3.1.1.5.9–10).
 * @packageDocumentation
 */
import type { Resource } from '../resource/resource.js';
import { mandatoryElements, structure } from '../validation/definitions.js';
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
 * `resource` with only the top-level elements named in `keep` (element names: `value` or `value[x]`
 * keeps `valueQuantity`), its mandatory elements (min ≥ 1 in the R4 definitions, e.g. Observation's
 * `status` and `code`: search.html says servers SHOULD return them with `_elements`, and `_summary=text`
 * includes them), `resourceType`, and each kept primitive's `_x` extensions. Tagged SUBSETTED.
 */
function subset(resource: Resource, names: readonly string[]): Resource {
  const type = resource.resourceType;
  const all = [...names, ...(mandatoryElements(type) ?? [])];
  const keep = new Set(all.map((name) => name.replace(/^[A-Z]\w*\./, '').replace(/\[x\]$/, '')));
  const of = structure(type);
  const out: Resource = { resourceType: resource.resourceType };
  for (const [k, v] of Object.entries(resource)) {
    const name = k.startsWith('_') ? k.slice(1) : k;
    if (keep.has(name) || keep.has(of?.keys.get(name)?.element.name ?? name)) out[k] = v;
  }
  return tagSubsetted(out);
}

/**
 * The resource as the search returns it: with `_elements`, only the listed top-level elements (plus
 * `id`, `meta` and the mandatory elements); with `_summary=text`, `id`, `meta`, `text` and the
 * mandatory elements; with `_summary=data`, everything but `text`. Otherwise the resource itself, unchanged.
 */
export function shapeResource(resource: Resource, parsed: Pick<ParsedSearch, 'elements' | 'summary'>): Resource {
  if (parsed.elements && parsed.elements.length > 0) return subset(resource, ['id', 'meta', ...parsed.elements]);
  if (parsed.summary === 'text') return subset(resource, ['id', 'meta', 'text']);
  if (parsed.summary === 'data') {
    const { text: _text, ...rest } = resource;
    return tagSubsetted(rest as Resource);
  }
  return resource;
}
