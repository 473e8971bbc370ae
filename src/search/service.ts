/**
 * The search service: parses a FHIR search, resolves chains and `_has` into clauses, runs the query
 * on a {@link StorageReader} and builds the searchset Bundle (paging, `_include` and `_revinclude`
 * through `include.ts`, `_summary` and `_elements` through `shape.ts`, outcome warnings). Also answers
 * the criteria of conditional interactions.
 * @packageDocumentation
 */
import pLimit, { type LimitFunction } from 'p-limit';
import { badRequest, FhirError, operationOutcome } from '../errors.js';
import type { OperationOutcomeIssue, Resource } from '../resource/resource.js';
import type { Clause, SearchHit, StorageQuery } from '../storage/query.js';
import type { StorageReader } from '../storage/storage-adapter.js';
import type { IndexExtractor } from './extract.js';
import { forwardIncludes, reverseIncludes, type IncludeContext } from './include.js';
import { CONTROL_PARAMS, SearchParser, type ChainSpec, type HasSpec, type ParsedSearch } from './parse.js';
import type { SearchParameterRegistry } from './registry.js';
import { shapeResource, shapes } from './shape.js';

/** A FHIR search request. */
export interface SearchRequest {
  /** `[]` = system-level search (all types, or `_type`). */
  readonly types: readonly string[];
  readonly params: readonly (readonly [string, string])[];
  /** `Prefer: handling=strict`: unknown parameters are a 400 instead of a warning. */
  readonly strict?: boolean;
  /** e.g. `http://localhost:8080` or `''`. */
  readonly baseUrl: string;
  /** Path of the self link, e.g. `Patient` (defaults to the single type, or empty). */
  readonly path?: string;
  /** Run independent sub-queries (chains, `_has`) concurrently. */
  readonly parallel?: boolean;
}

/** Search limits. */
export interface SearchLimits {
  readonly defaultCount?: number;
  readonly maxCount?: number;
  /** Most chain levels (`a.b.c` is 2). */
  readonly chainDepth?: number;
  /** Most resources an inner (chain / `_has`) search may match. */
  readonly chainFanout?: number;
  /** Concurrency of parallel sub-queries. */
  readonly concurrency?: number;
}

interface Context extends IncludeContext {
  readonly strict: boolean;
  readonly parallel: boolean;
  readonly warnings: OperationOutcomeIssue[];
}

/** FHIR search over a storage reader. */
export class SearchService {
  readonly parser: SearchParser;
  private readonly defaultCount: number;
  private readonly maxCount: number;
  private readonly chainDepth: number;
  private readonly chainFanout: number;
  private readonly concurrency: number;

  constructor(
    readonly registry: SearchParameterRegistry,
    readonly extractor: IndexExtractor,
    limits: SearchLimits = {},
  ) {
    this.parser = new SearchParser(registry);
    this.maxCount = limits.maxCount ?? 1000;
    this.defaultCount = Math.min(limits.defaultCount ?? 20, this.maxCount);
    this.chainDepth = limits.chainDepth ?? 3;
    this.chainFanout = limits.chainFanout ?? 1000;
    this.concurrency = limits.concurrency ?? 4;
  }

  /** Full FHIR search → searchset Bundle. */
  async search(reader: StorageReader, request: SearchRequest): Promise<Resource> {
    return this.run(reader, request, undefined);
  }

  /**
   * The same search, serialised: the Bundle as JSON text, with the stored JSON of each matched
   * resource spliced in without a parse/stringify round trip (when no `_elements`/`_summary`
   * subsetting applies). Same content as `JSON.stringify(await search(...))`.
   */
  async searchJson(reader: StorageReader, request: SearchRequest): Promise<string> {
    const raw = { nonce: Math.random().toString(36).slice(2), texts: [] as string[] };
    const bundle = await this.run(reader, request, raw);
    const text = JSON.stringify(bundle);
    if (raw.texts.length === 0) return text;
    const marker = new RegExp(`"\\\\u0000raw:${raw.nonce}:(\\d+)"`, 'g');
    return text.replace(marker, (_m, n: string) => raw.texts[Number(n)] as string);
  }

  private async run(reader: StorageReader, request: SearchRequest, raw: { nonce: string; texts: string[] } | undefined): Promise<Resource> {
    const ctx = this.context(reader, request.strict ?? false, request.baseUrl, request.parallel ?? false);
    const parsed = this.parser.parse(request.types, request.params, this.parseOptions(ctx));
    ctx.warnings.push(...parsed.warnings);
    const where = await this.resolve(ctx, parsed, 0);
    const countOnly = parsed.summary === 'count' || parsed.count === 0;
    const limit = countOnly ? 0 : parsed.count;
    const query: StorageQuery = {
      types: parsed.types,
      where,
      sort: parsed.sort,
      limit: limit === 0 ? 0 : limit + 1,
      total: countOnly || parsed.total === 'accurate' || parsed.total === 'estimate',
      ...(parsed.cursor !== undefined ? { after: parsed.cursor } : {}),
    };
    let result;
    try {
      result = await reader.search(query);
    } catch (error) {
      if (parsed.cursor !== undefined && !(error instanceof FhirError)) throw badRequest(`Invalid _cursor '${parsed.cursor}'.`, ['_cursor']);
      throw error;
    }
    const page = result.hits.slice(0, limit);
    const more = result.hits.length > limit && limit > 0;

    const base = request.baseUrl.replace(/\/$/, '');
    const path = request.path ?? (request.types.length === 1 ? (request.types[0] as string) : '');
    const selfParams = request.params.filter(([k]) => k !== '_cursor');
    const link: { relation: string; url: string }[] = [{ relation: 'self', url: linkUrl(base, path, request.params) }];
    const last = page[page.length - 1];
    if (more && last) link.push({ relation: 'next', url: linkUrl(base, path, [...selfParams, ['_cursor', last.position]]) });

    const entry: Record<string, unknown>[] = [];
    const matches: { hit: SearchHit; resource: Resource }[] = [];
    const shaped = shapes(parsed);
    const needParse = !raw || parsed.include.length > 0 || shaped;
    for (const hit of page) {
      if (hit.json === undefined) continue;
      if (needParse) matches.push({ hit, resource: JSON.parse(hit.json) as Resource });
      else {
        // placeholder, replaced by the stored JSON text in searchJson
        matches.push({ hit, resource: `\u0000raw:${raw.nonce}:${raw.texts.length}` as unknown as Resource });
        raw.texts.push(hit.json);
      }
    }
    for (const m of matches) {
      entry.push({ fullUrl: fullUrl(base, m.hit.type, m.hit.id), resource: shaped ? shapeResource(m.resource, parsed) : m.resource, search: { mode: 'match' } });
    }
    if (matches.length > 0 && (parsed.include.length > 0 || parsed.revinclude.length > 0)) {
      const seen = new Set(matches.map((m) => `${m.hit.type}/${m.hit.id}`));
      const included = [
        ...(await forwardIncludes(ctx, parsed.include, matches, seen)),
        ...(await reverseIncludes(ctx, parsed.revinclude, matches, seen, this.maxCount)),
      ];
      for (const r of included) {
        entry.push({ fullUrl: fullUrl(base, r.resourceType, r.id ?? ''), resource: shapeResource(r, parsed), search: { mode: 'include' } });
      }
    }
    if (ctx.warnings.length > 0) {
      entry.push({ resource: operationOutcome(ctx.warnings), search: { mode: 'outcome' } });
    }
    const bundle: Resource = { resourceType: 'Bundle', type: 'searchset' };
    if (result.total !== undefined && parsed.total !== 'none') bundle.total = result.total;
    bundle.link = link;
    if (entry.length > 0) bundle.entry = entry;
    return bundle;
  }

  /**
   * For conditional interactions: the current resources matching `params` (JSON included), at most
   * `limit`. `selective` is false when no usable criteria were given.
   */
  async findMatches(
    reader: StorageReader,
    type: string,
    params: readonly (readonly [string, string])[],
    options: { limit: number; strict?: boolean; parallel?: boolean },
  ): Promise<{ hits: readonly SearchHit[]; selective: boolean; warnings: readonly OperationOutcomeIssue[] }> {
    const ctx = this.context(reader, options.strict ?? false, '', options.parallel ?? false);
    const criteria = params.filter(([k]) => !CONTROL_PARAMS.has(k.trim()));
    const parsed = this.parser.parse([type], criteria, this.parseOptions(ctx));
    ctx.warnings.push(...parsed.warnings);
    if (parsed.criteria === 0) return { hits: [], selective: false, warnings: ctx.warnings };
    const where = await this.resolve(ctx, parsed, 0);
    const result = await reader.search({ types: [type], where, sort: [], limit: options.limit, keysOnly: false });
    return { hits: result.hits, selective: true, warnings: ctx.warnings };
  }

  /**
   * Parses criteria and resolves chains and `_has` into plain clauses (reference / id clauses), for
   * callers that evaluate the same criteria many times, such as bulk-delete jobs.
   */
  async resolveCriteria(
    reader: StorageReader,
    types: readonly string[],
    params: readonly (readonly [string, string])[],
    options: { strict?: boolean; baseUrl?: string } = {},
  ): Promise<{ parsed: ParsedSearch; where: readonly Clause[]; warnings: readonly OperationOutcomeIssue[] }> {
    const ctx = this.context(reader, options.strict ?? false, options.baseUrl ?? '', false);
    const parsed = this.parser.parse(types, params, this.parseOptions(ctx));
    ctx.warnings.push(...parsed.warnings);
    const where = await this.resolve(ctx, parsed, 0);
    return { parsed, where, warnings: ctx.warnings };
  }

  private context(reader: StorageReader, strict: boolean, baseUrl: string, parallel: boolean): Context {
    // Made on first use: most searches resolve no chain or _has, and a limiter per search shows in profiles.
    let limiter: LimitFunction | undefined;
    return {
      reader,
      strict,
      baseUrl: baseUrl.replace(/\/$/, ''),
      parallel,
      warnings: [],
      limit: (fn) => (limiter ??= pLimit(this.concurrency))(fn),
      registry: this.registry,
      extractor: this.extractor,
    };
  }

  private parseOptions(ctx: Context) {
    return { strict: ctx.strict, baseUrl: ctx.baseUrl, defaultCount: this.defaultCount, maxCount: this.maxCount };
  }

  /** The parsed clauses plus resolved chains and `_has`. */
  private async resolve(ctx: Context, parsed: ParsedSearch, depth: number): Promise<Clause[]> {
    if (parsed.chains.length === 0 && parsed.has.length === 0) return [...parsed.where];
    if (depth >= this.chainDepth) {
      throw new FhirError(400, 'too-costly', `Chained search is limited to ${this.chainDepth} levels.`);
    }
    const tasks: (() => Promise<Clause | undefined>)[] = [
      ...parsed.chains.map((c) => () => this.resolveChain(ctx, c, depth)),
      ...parsed.has.map((h) => () => this.resolveHas(ctx, h, parsed.types, depth)),
    ];
    let resolved: (Clause | undefined)[];
    if (ctx.parallel) resolved = await Promise.all(tasks.map((t) => ctx.limit(t)));
    else {
      resolved = [];
      for (const t of tasks) resolved.push(await t());
    }
    return [...parsed.where, ...resolved.filter((c): c is Clause => c !== undefined)];
  }

  private async innerSearch(ctx: Context, types: readonly string[], param: readonly [string, string], depth: number, keysOnly: boolean, label: string) {
    const inner = this.parser.parse(types, [param], { strict: ctx.strict, baseUrl: ctx.baseUrl });
    ctx.warnings.push(...inner.warnings);
    if (inner.criteria === 0) return undefined;
    const where = await this.resolve(ctx, inner, depth + 1);
    const result = await ctx.reader.search({ types, where, sort: [], limit: this.chainFanout + 1, keysOnly });
    if (result.hits.length > this.chainFanout) {
      throw new FhirError(400, 'too-costly', `The search '${label}' matches more than ${this.chainFanout} resources; refine it.`);
    }
    return result.hits;
  }

  private async resolveChain(ctx: Context, chain: ChainSpec, depth: number): Promise<Clause | undefined> {
    const hits = await this.innerSearch(ctx, chain.targetTypes, chain.inner, depth, true, `${chain.param}.${chain.inner[0]}`);
    if (!hits) return undefined;
    return { kind: 'any', param: chain.param, of: hits.map((h) => ({ kind: 'reference' as const, targetType: h.type, targetId: h.id })) };
  }

  private async resolveHas(ctx: Context, has: HasSpec, outerTypes: readonly string[], depth: number): Promise<Clause | undefined> {
    const hits = await this.innerSearch(ctx, [has.sourceType], has.inner, depth, false, `_has:${has.sourceType}:${has.param}:${has.inner[0]}`);
    if (!hits) return undefined;
    const ids = new Set<string>();
    for (const h of hits) {
      if (h.json === undefined) continue;
      const resource = JSON.parse(h.json) as Resource;
      for (const e of this.extractor.extractParam(resource, has.param)) {
        if (e.kind === 'reference' && e.targetId !== null && e.targetType !== null && outerTypes.includes(e.targetType)) ids.add(e.targetId);
      }
    }
    return { kind: 'ids', ids: [...ids] };
  }
}

function fullUrl(base: string, type: string, id: string): string {
  return `${base}/${type}/${id}`;
}

function linkUrl(base: string, path: string, params: readonly (readonly [string, string])[]): string {
  const qs = params.map(([k, v]) => `${encodeURIComponent(k).replace(/%3A/g, ':')}=${encodeURIComponent(v).replace(/%7C/g, '|').replace(/%2C/g, ',')}`).join('&');
  const p = path ? `${base}/${path}` : base;
  return qs ? `${p}?${qs}` : p;
}
