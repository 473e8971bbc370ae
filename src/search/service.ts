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
import type { Clause, SearchHit, SearchHits, StorageQuery } from '../storage/query.js';
import type { StorageReader } from '../storage/storage-adapter.js';
import { CompositeEvaluator } from './composite.js';
import type { IndexExtractor } from './extract.js';
import { collectIncludes, type IncludeContext, type IncludeSpecs } from './include.js';
import { CONTROL_PARAMS, SearchParser, type ChainSpec, type CompositeSpec, type HasSpec, type ParsedSearch } from './parse.js';
import type { SearchParameterDefinition, SearchParameterRegistry } from './registry.js';
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
  /** Clauses AND-ed to the request's criteria, e.g. the compartment of a compartment search. */
  readonly restrict?: readonly Clause[];
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
  /** Most candidates a composite parameter is evaluated on (past it: 400 too-costly). */
  readonly compositeCandidates?: number;
}

/** The parameters that add included resources. */
const INCLUDE_PARAMS = new Set(['_include', '_revinclude', '_include:iterate', '_revinclude:iterate']);

/** Candidates of a composite parameter read per storage query. */
const COMPOSITE_PAGE = 500;

/** Criteria as the adapter gets them: the types still searched, and the clauses. */
interface Resolved {
  readonly types: readonly string[];
  readonly where: Clause[];
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
  private readonly compositeCandidates: number;
  private readonly composites: CompositeEvaluator;

  constructor(
    readonly registry: SearchParameterRegistry,
    readonly extractor: IndexExtractor,
    limits: SearchLimits = {},
  ) {
    this.composites = new CompositeEvaluator(registry);
    this.parser = new SearchParser(registry, this.composites);
    this.maxCount = limits.maxCount ?? 1000;
    this.defaultCount = Math.min(limits.defaultCount ?? 20, this.maxCount);
    this.chainDepth = limits.chainDepth ?? 3;
    this.chainFanout = limits.chainFanout ?? 1000;
    this.concurrency = limits.concurrency ?? 4;
    this.compositeCandidates = limits.compositeCandidates ?? 10_000;
  }

  /**
   * Whether searches of `type` evaluate `def` (what a CapabilityStatement may advertise): every
   * parameter with an expression, composites whose parts can be evaluated; not the special ones
   * (`near`) nor those without an expression (`_text`, `_content`, `_query`).
   */
  supports(type: string, def: SearchParameterDefinition): boolean {
    if (def.type === 'composite') return this.composites.compile(type, def) !== undefined;
    return def.type !== 'special' && def.expression !== '';
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
    const dropped = new Set<number>();
    const { types, where } = await this.resolve(ctx, parsed, 0, dropped);
    if (request.restrict) where.push(...request.restrict);
    const countOnly = parsed.summary === 'count' || parsed.count === 0;
    const limit = countOnly ? 0 : parsed.count;
    const query: StorageQuery = {
      types,
      where,
      sort: parsed.sort,
      limit: limit === 0 ? 0 : limit + 1,
      total: countOnly || parsed.total === 'accurate' || parsed.total === 'estimate',
      ...(parsed.cursor !== undefined ? { after: parsed.cursor } : {}),
    };
    let result: SearchHits;
    try {
      // `_type` may leave no type at all: nothing matches.
      result = query.types.length === 0 ? { hits: [], ...(query.total && { total: 0 }) } : await reader.search(query);
    } catch (error) {
      if (parsed.cursor !== undefined && !(error instanceof FhirError)) throw badRequest(`Invalid _cursor '${parsed.cursor}'.`, ['_cursor']);
      throw error;
    }
    const page = result.hits.slice(0, limit);
    const more = result.hits.length > limit && limit > 0;

    const base = request.baseUrl.replace(/\/$/, '');
    const path = request.path ?? (request.types.length === 1 ? (request.types[0] as string) : '');
    // search.html: the self link holds the parameters actually used; ignored ones are left out.
    const usedParams = parsed.used.filter((p, i): p is readonly [string, string] => p !== null && !dropped.has(i));
    const selfParams = usedParams.filter(([k]) => k !== '_cursor');
    const link: { relation: string; url: string }[] = [{ relation: 'self', url: linkUrl(base, path, usedParams) }];
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
      const { included, complete } = await collectIncludes(ctx, parsed, matches, { limit: this.maxCount });
      for (const { version } of included) {
        const r = JSON.parse(version.json!) as Resource;
        entry.push({ fullUrl: fullUrl(base, version.type, version.id), resource: shapeResource(r, parsed), search: { mode: 'include' } });
      }
      if (!complete) {
        ctx.warnings.push({
          severity: 'information',
          code: 'informational',
          diagnostics: `More resources are included than the limit of ${this.maxCount}; the Bundle holds the first ${this.maxCount}.`,
        });
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
   * `limit`. `selective` is false when no usable criteria were given. With `includes` (conditional
   * delete), `_include` and `_revinclude` are read too and returned as `specs`; otherwise every
   * result-control parameter is left out.
   */
  async findMatches(
    reader: StorageReader,
    type: string,
    params: readonly (readonly [string, string])[],
    options: { limit: number; strict?: boolean; parallel?: boolean; includes?: boolean },
  ): Promise<{ hits: readonly SearchHit[]; selective: boolean; warnings: readonly OperationOutcomeIssue[]; specs: IncludeSpecs }> {
    const ctx = this.context(reader, options.strict ?? false, '', options.parallel ?? false);
    const criteria = params.filter(([k]) => !CONTROL_PARAMS.has(k.trim()) || (options.includes === true && INCLUDE_PARAMS.has(k.trim())));
    const parsed = this.parser.parse([type], criteria, this.parseOptions(ctx));
    ctx.warnings.push(...parsed.warnings);
    const specs = { include: parsed.include, revinclude: parsed.revinclude };
    if (parsed.criteria === 0) return { hits: [], selective: false, warnings: ctx.warnings, specs };
    const { types, where } = await this.resolve(ctx, parsed, 0);
    const result = await reader.search({ types, where, sort: [], limit: options.limit, keysOnly: false });
    return { hits: result.hits, selective: true, warnings: ctx.warnings, specs };
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
  ): Promise<{ parsed: ParsedSearch; types: readonly string[]; where: readonly Clause[]; warnings: readonly OperationOutcomeIssue[] }> {
    const ctx = this.context(reader, options.strict ?? false, options.baseUrl ?? '', false);
    const parsed = this.parser.parse(types, params, this.parseOptions(ctx));
    ctx.warnings.push(...parsed.warnings);
    const resolved = await this.resolve(ctx, parsed, 0);
    return { parsed, types: resolved.types, where: resolved.where, warnings: ctx.warnings };
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

  /**
   * The parsed clauses plus resolved chains, `_has` and composites; a composite also narrows the
   * types to those that have it. The positions of chains and `_has` whose inner parameter was
   * ignored go to `dropped`.
   */
  private async resolve(ctx: Context, parsed: ParsedSearch, depth: number, dropped?: Set<number>): Promise<Resolved> {
    const where = await this.resolveReferences(ctx, parsed, depth, dropped);
    let types = parsed.types;
    // Each composite narrows by everything else first, the composites before it included.
    for (const spec of parsed.composites) {
      types = types.filter((t) => spec.targets.some((x) => x.type === t));
      where.push(await this.resolveComposite(ctx, spec, types, where));
    }
    return { types, where };
  }

  /** The parsed clauses plus resolved chains and `_has`. */
  private async resolveReferences(ctx: Context, parsed: ParsedSearch, depth: number, dropped?: Set<number>): Promise<Clause[]> {
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
    const sources = [...parsed.chains, ...parsed.has];
    resolved.forEach((c, i) => {
      if (c === undefined) dropped?.add(sources[i]!.index);
    });
    return [...parsed.where, ...resolved.filter((c): c is Clause => c !== undefined)];
  }

  private async innerSearch(ctx: Context, types: readonly string[], param: readonly [string, string], depth: number, keysOnly: boolean, label: string) {
    const inner = this.parser.parse(types, [param], { strict: ctx.strict, baseUrl: ctx.baseUrl });
    ctx.warnings.push(...inner.warnings);
    if (inner.criteria === 0) return undefined;
    const resolved = await this.resolve(ctx, inner, depth + 1);
    const result = await ctx.reader.search({ types: resolved.types, where: resolved.where, sort: [], limit: this.chainFanout + 1, keysOnly });
    if (result.hits.length > this.chainFanout) {
      throw new FhirError(400, 'too-costly', `The search '${label}' matches more than ${this.chainFanout} resources; refine it.`);
    }
    return result.hits;
  }

  /**
   * A composite parameter → an `ids` clause. The candidates are the resources of `types` matching
   * `where` and, for each part whose own definition is a parameter of every type, that parameter
   * with the part's values (a composite match implies those: its parts are values of theirs). The
   * composite is evaluated on each candidate's JSON.
   */
  private async resolveComposite(ctx: Context, spec: CompositeSpec, types: readonly string[], where: readonly Clause[]): Promise<Clause> {
    if (types.length === 0) return { kind: 'ids', ids: [] };
    const targets = spec.targets.filter((t) => types.includes(t.type));
    const narrowing: Clause[] = [...where];
    targets[0]!.composite.parts.forEach((part, i) => {
      if (!types.every((t) => this.registry.get(t, part.code)?.url === part.url)) return;
      narrowing.push({ kind: 'any', param: part.code, of: spec.values.flatMap((v) => (v[i]!.kind === 'any' ? v[i]!.of : [])) });
    });
    const compiled = new Map(targets.map((t) => [t.type, t.composite]));
    const ids: string[] = [];
    let examined = 0;
    let after: string | undefined;
    for (;;) {
      const page = await ctx.reader.search({ types, where: narrowing, sort: [], limit: COMPOSITE_PAGE, ...(after !== undefined && { after }) });
      for (const hit of page.hits) {
        if (++examined > this.compositeCandidates) {
          throw new FhirError(400, 'too-costly', `The search '${spec.param}' has more than ${this.compositeCandidates} candidates to examine; add criteria.`);
        }
        if (hit.json === undefined) continue;
        if (this.composites.matches(JSON.parse(hit.json) as Resource, compiled.get(hit.type)!, spec.values)) ids.push(hit.id);
      }
      const last = page.hits[page.hits.length - 1];
      if (page.hits.length < COMPOSITE_PAGE || !last) break;
      after = last.position;
    }
    return { kind: 'ids', ids };
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

/** The URL of a search (or a page of one): `base/path?params`, `:`, `|` and `,` left readable. */
export function linkUrl(base: string, path: string, params: readonly (readonly [string, string])[]): string {
  const qs = params.map(([k, v]) => `${encodeURIComponent(k).replace(/%3A/g, ':')}=${encodeURIComponent(v).replace(/%7C/g, '|').replace(/%2C/g, ',')}`).join('&');
  const p = path ? `${base}/${path}` : base;
  return qs ? `${p}?${qs}` : p;
}
