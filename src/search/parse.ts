/**
 * Query parsing: FHIR search parameters → a typed {@link ParsedSearch}. Values are normalised with the
 * functions the extractor uses. Chains and `_has` are kept unresolved for the service.
 * @packageDocumentation
 */
import { badRequest, FhirError } from '../errors.js';
import type { OperationOutcomeIssue } from '../resource/resource.js';
import type { Clause, Predicate, RangeOp, SortKey } from '../storage/query.js';
import type { CompiledComposite, CompositeEvaluator, CompositeValue } from './composite.js';
import { dateRange, fold, numberRange, parseReference } from './normalize.js';
import type { SearchParameterDefinition, SearchParameterRegistry } from './registry.js';

/** A chained parameter (`subject:Patient.name=x`), resolved by the service with an inner search. */
export interface ChainSpec {
  /** Position of the parameter in the request (for the self link). */
  readonly index: number;
  /** The reference parameter on the outer type. */
  readonly param: string;
  /** Types the inner search covers. */
  readonly targetTypes: readonly string[];
  /** The inner parameter (may itself be chained, `organization.name`) and its raw value. */
  readonly inner: readonly [string, string];
}

/** A reverse chain (`_has:Observation:patient:code=1234`). */
export interface HasSpec {
  /** Position of the parameter in the request (for the self link). */
  readonly index: number;
  readonly sourceType: string;
  readonly param: string;
  readonly inner: readonly [string, string];
}

/** A composite parameter (`code-value-quantity=…$…`), resolved by the service on the candidates' JSON. */
export interface CompositeSpec {
  /** Position of the parameter in the request (for the self link). */
  readonly index: number;
  readonly param: string;
  /** The searched types that have the parameter, each with the parameter compiled for it. */
  readonly targets: readonly { readonly type: string; readonly composite: CompiledComposite }[];
  /** Comma = OR: each value has one clause per part. */
  readonly values: readonly CompositeValue[];
}

/** `_include` / `_revinclude` of one parameter. */
export interface IncludeSpec {
  /** `*` (only `_revinclude=*:*`) = every type. */
  readonly sourceType: string;
  /** `*` = every reference parameter of the source type. */
  readonly param: string;
  readonly targetType?: string;
}

/** A parsed search. */
export interface ParsedSearch {
  readonly types: readonly string[];
  readonly where: readonly Clause[];
  readonly chains: readonly ChainSpec[];
  readonly has: readonly HasSpec[];
  readonly composites: readonly CompositeSpec[];
  readonly sort: readonly SortKey[];
  readonly count: number;
  readonly total: 'none' | 'estimate' | 'accurate' | undefined;
  readonly summary: 'true' | 'text' | 'data' | 'count' | 'false' | undefined;
  readonly elements: readonly string[] | undefined;
  readonly include: readonly IncludeSpec[];
  readonly revinclude: readonly IncludeSpec[];
  readonly cursor: string | undefined;
  readonly warnings: readonly OperationOutcomeIssue[];
  /** Number of criteria parameters that produced a clause, chain or `_has`. */
  readonly criteria: number;
  /**
   * The request's parameters as used, position by position: `null` where a parameter was ignored
   * (unknown, unsupported, empty), a rewritten pair where only part of it was used (`_sort`).
   */
  readonly used: readonly (readonly [string, string] | null)[];
}

/** Parser options. */
export interface ParseOptions {
  readonly strict?: boolean;
  readonly baseUrl?: string;
  readonly defaultCount?: number;
  readonly maxCount?: number;
}

/** Result-control parameters (never criteria). */
export const CONTROL_PARAMS = new Set([
  '_count',
  '_sort',
  '_total',
  '_summary',
  '_elements',
  '_include',
  '_revinclude',
  '_cursor',
  '_format',
  '_pretty',
  '_type',
  '_include:iterate',
  '_revinclude:iterate',
  '_contained',
  '_containedType',
]);

const PREFIXES = new Set<RangeOp>(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);

/** Splits on unescaped `sep`, unescaping `\,` `\|` `\$` `\\`. */
export function splitEscaped(value: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (c === '\\' && i + 1 < value.length) {
      const n = value[i + 1] as string;
      if (n === ',' || n === '|' || n === '$' || n === '\\') {
        cur += sep === n ? '\u0001' : `\\${n}`;
        i++;
        continue;
      }
    }
    if (c === sep) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((s) => s.replace(/\u0001/g, sep));
}

const unescape = (s: string): string => s.replace(/\\([,|$\\])/g, '$1');

function splitPrefix(value: string): [RangeOp, string] {
  const p = value.slice(0, 2);
  if (PREFIXES.has(p as RangeOp) && value.length > 2 && !/^[0-9-]/.test(p)) return [p as RangeOp, value.slice(2)];
  if (PREFIXES.has(p as RangeOp) && value.length === 2) return [p as RangeOp, ''];
  return ['eq', value];
}

/** Parses the search parameters of a request. Throws {@link FhirError} 400 on malformed values. */
export class SearchParser {
  /** Without `composites`, composite parameters are reported as not supported. */
  constructor(
    private readonly registry: SearchParameterRegistry,
    private readonly composites?: CompositeEvaluator,
  ) {}

  parse(
    requestTypes: readonly string[],
    params: readonly (readonly [string, string])[],
    options: ParseOptions = {},
  ): ParsedSearch {
    const strict = options.strict ?? false;
    const warnings: OperationOutcomeIssue[] = [];
    const unsupported = (message: string, expression?: string) => {
      if (strict) throw new FhirError(400, 'not-supported', message, expression ? { expression: [expression] } : {});
      const issue: OperationOutcomeIssue = { severity: 'warning', code: 'not-supported', diagnostics: message };
      if (expression) issue.expression = [expression];
      warnings.push(issue);
    };

    // types
    let types = [...requestTypes];
    const typeParams = params.filter(([k]) => k === '_type');
    if (typeParams.length > 0) {
      const listed = typeParams.flatMap(([, v]) => v.split(',')).map((s) => s.trim()).filter(Boolean);
      for (const t of listed) if (!this.registry.resourceTypes.has(t)) throw badRequest(`Unknown resource type '${t}' in _type.`, ['_type']);
      if (listed.length > 0) types = types.length > 0 ? types.filter((t) => listed.includes(t)) : listed;
    }
    // `_type` naming none of the request's types leaves no type to search (not every type).
    const systemLevel = requestTypes.length === 0 && types.length === 0;
    if (systemLevel) types = [...this.registry.resourceTypes];
    const label = types.length === 1 ? (types[0] as string) : systemLevel ? '(system)' : types.join(',');

    const where: Clause[] = [];
    const chains: ChainSpec[] = [];
    const has: HasSpec[] = [];
    const composites: CompositeSpec[] = [];
    const include: IncludeSpec[] = [];
    const revinclude: IncludeSpec[] = [];
    let sort: SortKey[] = [];
    const defaultCount = options.defaultCount ?? 20;
    const maxCount = options.maxCount ?? 1000;
    let count = defaultCount;
    let total: ParsedSearch['total'];
    let summary: ParsedSearch['summary'];
    let elements: string[] | undefined;
    let cursor: string | undefined;
    let criteria = 0;

    const defFor = (code: string): SearchParameterDefinition | undefined => {
      for (const t of types) {
        const d = this.registry.get(t, code);
        if (d) return d;
      }
      return undefined;
    };

    const used: (readonly [string, string] | null)[] = [...params];
    for (let index = 0; index < params.length; index++) {
      const [rawName, value] = params[index]!;
      const name = rawName.trim();
      const ignore = (): void => {
        used[index] = null;
      };
      switch (name) {
        case '_count': {
          if (!/^\d+$/.test(value)) throw badRequest(`Invalid _count value '${value}': expected a non-negative integer.`, ['_count']);
          count = Math.min(Number(value), maxCount);
          continue;
        }
        case '_total':
          if (value !== 'none' && value !== 'estimate' && value !== 'accurate') throw badRequest(`Invalid _total value '${value}'.`, ['_total']);
          total = value;
          continue;
        case '_summary':
          if (!['true', 'text', 'data', 'count', 'false'].includes(value)) throw badRequest(`Invalid _summary value '${value}'.`, ['_summary']);
          summary = value as ParsedSearch['summary'];
          if (value === 'true') {
            // a hint only, never an error: returning more than asked is allowed
            warnings.push({ severity: 'warning', code: 'not-supported', diagnostics: '_summary=true is not supported; full resources are returned.', expression: ['_summary'] });
            ignore();
          }
          continue;
        case '_elements':
          elements = [...(elements ?? []), ...value.split(',').map((s) => s.trim()).filter(Boolean)];
          continue;
        case '_cursor':
          cursor = value;
          continue;
        case '_type':
        case '_format':
        case '_pretty':
          continue;
        case '_sort': {
          sort = [];
          const keys: string[] = [];
          for (const part of value.split(',').map((s) => s.trim()).filter(Boolean)) {
            const descending = part.startsWith('-');
            const code = descending ? part.slice(1) : part;
            const def = defFor(code);
            if (!def || def.type === 'composite' || def.type === 'special' || !def.expression) {
              unsupported(`The sort parameter '${code}' is not supported for resource type '${label}'.`, '_sort');
              continue;
            }
            sort.push({ param: code, descending });
            keys.push(part);
          }
          used[index] = keys.length === 0 ? null : [rawName, keys.join(',')];
          continue;
        }
        case '_include':
        case '_revinclude':
        case '_include:iterate':
        case '_revinclude:iterate': {
          if (name.endsWith(':iterate')) unsupported(`${name} is evaluated one level only.`, name);
          const rev = name.startsWith('_revinclude');
          if (value === '*') {
            if (rev) throw badRequest(`_revinclude=* is not supported.`, [name]);
            for (const t of types.length <= 5 ? types : []) include.push({ sourceType: t, param: '*' });
            continue;
          }
          const [src, param, target, extra] = value.split(':');
          if (!src || !param || extra !== undefined) throw badRequest(`Invalid ${name} value '${value}'.`, [name]);
          // `_revinclude=*:*`: whatever refers to a match, through any reference parameter (Microsoft's service has it).
          const anySource = rev && src === '*' && param === '*' && target === undefined;
          if (!anySource && !this.registry.resourceTypes.has(src)) throw badRequest(`Unknown resource type '${src}' in ${name}.`, [name]);
          if (param !== '*') {
            const d = this.registry.get(src, param);
            if (!d || d.type !== 'reference') {
              unsupported(`The ${name} parameter '${src}:${param}' is not a reference parameter.`, name);
              ignore();
              continue;
            }
          }
          if (target !== undefined && !this.registry.resourceTypes.has(target)) throw badRequest(`Unknown resource type '${target}' in ${name}.`, [name]);
          (rev ? revinclude : include).push({ sourceType: src, param, ...(target ? { targetType: target } : {}) });
          continue;
        }
      }
      if (CONTROL_PARAMS.has(name)) {
        unsupported(`The search parameter '${name}' is not supported.`, name);
        ignore();
        continue;
      }
      if (value === '') {
        ignore(); // empty values are ignored (search.html §3.1.1.0)
        continue;
      }

      if (name.startsWith('_has:')) {
        const parts = name.split(':');
        if (parts.length < 4) throw badRequest(`Invalid _has parameter '${name}'.`, [name]);
        const sourceType = parts[1] as string;
        const param = parts[2] as string;
        const innerName = parts.slice(3).join(':');
        if (!this.registry.resourceTypes.has(sourceType)) throw badRequest(`Unknown resource type '${sourceType}' in '${name}'.`, [name]);
        const d = this.registry.get(sourceType, param);
        if (!d || d.type !== 'reference') {
          unsupported(`The search parameter '${param}' is not a reference parameter of '${sourceType}'.`, name);
          ignore();
          continue;
        }
        has.push({ index, sourceType, param, inner: [innerName, value] });
        criteria++;
        continue;
      }

      // chain?
      const dot = name.indexOf('.');
      const head = dot >= 0 ? name.slice(0, dot) : name;
      const colon = head.indexOf(':');
      const code = colon >= 0 ? head.slice(0, colon) : head;
      const modifier = colon >= 0 ? head.slice(colon + 1) : undefined;
      const def = defFor(code);
      if (def?.type === 'composite' && dot < 0) {
        const spec = this.composite(index, def, code, modifier, value, name, types, options.baseUrl ?? '');
        if (spec) {
          composites.push(spec);
          criteria++;
          continue;
        }
      }
      if (!def || !def.expression || def.type === 'composite' || def.type === 'special') {
        const why = def && (def.type === 'composite' || def.type === 'special' || !def.expression) ? ` (${def.type} parameters are not supported)` : '';
        unsupported(`The search parameter '${code}' is not supported for resource type '${label}'.${why}`, name);
        ignore();
        continue;
      }
      if (dot >= 0) {
        if (def.type !== 'reference') throw badRequest(`The search parameter '${code}' is not a reference and cannot be chained.`, [name]);
        const rest = name.slice(dot + 1);
        const innerCode = rest.split(/[.:]/)[0] as string;
        let targets: string[];
        if (modifier !== undefined) {
          if (!this.registry.resourceTypes.has(modifier)) throw badRequest(`Unknown resource type '${modifier}' in '${name}'.`, [name]);
          targets = [modifier];
        } else targets = [...(def.target ?? [])];
        targets = targets.filter((t) => this.registry.get(t, innerCode) !== undefined);
        if (targets.length === 0) {
          unsupported(`The chained parameter '${name}' is not supported: no target type of '${code}' has a parameter '${innerCode}'.`, name);
          ignore();
          continue;
        }
        chains.push({ index, param: code, targetTypes: targets, inner: [rest, value] });
        criteria++;
        continue;
      }
      where.push(this.clause(def, code, modifier, value, name, options.baseUrl ?? ''));
      criteria++;
    }

    return {
      types,
      where,
      chains,
      has,
      composites,
      sort,
      count,
      total,
      summary,
      elements,
      include,
      revinclude,
      cursor,
      warnings,
      criteria,
      used,
    };
  }

  /**
   * A composite parameter's values (`a$b,c$d`: OR of values, each part parsed as its own
   * definition's type, prefixes included), or undefined when none of `types` can evaluate it.
   */
  private composite(
    index: number,
    def: SearchParameterDefinition,
    code: string,
    modifier: string | undefined,
    value: string,
    name: string,
    types: readonly string[],
    baseUrl: string,
  ): CompositeSpec | undefined {
    if (!this.composites) return undefined;
    const targets: { type: string; composite: CompiledComposite }[] = [];
    for (const type of types) {
      const d = this.registry.get(type, code);
      const composite = d?.type === 'composite' ? this.composites.compile(type, d) : undefined;
      if (composite) targets.push({ type, composite });
    }
    const first = targets[0];
    if (!first) return undefined;
    // search.html: composite parameters take no modifiers.
    if (modifier !== undefined) throw badRequest(`The modifier ':${modifier}' is not supported for the composite search parameter '${code}'.`, [name]);
    const parts = first.composite.parts;
    const values = splitEscaped(value, ',').map((v): CompositeValue => {
      const pieces = splitEscaped(v, '$');
      if (pieces.length !== parts.length) {
        throw badRequest(
          `Invalid value '${v}' for search parameter '${name}': expected ${parts.length} parts separated by '$' (${parts.map((p) => p.code).join('$')}).`,
          [name],
        );
      }
      // A comma left in a piece was escaped in the request: escape it again for the part's own split.
      return pieces.map((piece, i) => this.clause(parts[i]!, parts[i]!.code, undefined, piece.replace(/,/g, '\\,'), name, baseUrl));
    });
    return { index, param: code, targets, values };
  }

  /** One criteria parameter → one clause. */
  clause(def: SearchParameterDefinition, code: string, modifier: string | undefined, value: string, name: string, baseUrl: string): Clause {
    if (modifier === 'missing') {
      if (value !== 'true' && value !== 'false') throw badRequest(`Invalid :missing value '${value}': expected true or false.`, [name]);
      return { kind: 'missing', param: code, missing: value === 'true' };
    }
    const values = splitEscaped(value, ',');
    const bad = (why: string) => badRequest(`Invalid value '${value}' for search parameter '${name}': ${why}.`, [name]);
    const unsupportedModifier = () => badRequest(`The modifier ':${modifier}' is not supported for search parameter '${code}' (${def.type}).`, [name]);
    let negate = false;
    const of: Predicate[] = [];
    switch (def.type) {
      case 'token': {
        if (modifier !== undefined && modifier !== 'not' && modifier !== 'text') throw unsupportedModifier();
        negate = modifier === 'not';
        for (const v of values) {
          if (modifier === 'text') {
            of.push({ kind: 'text', folded: fold(unescape(v)) });
            continue;
          }
          const parts = splitEscaped(v, '|');
          if (parts.length > 2) throw bad('a token has at most one unescaped |');
          if (parts.length === 1) {
            if (parts[0] === '') throw bad('empty token');
            of.push({ kind: 'token', code: unescape(parts[0] as string) });
            continue;
          }
          const [sys, c] = parts.map(unescape) as [string, string];
          if (sys === '' && c === '') throw bad('empty token');
          if (sys === '') of.push({ kind: 'token', system: null, code: c });
          else if (c === '') of.push({ kind: 'token', system: sys });
          else of.push({ kind: 'token', system: sys, code: c });
        }
        break;
      }
      case 'string': {
        if (modifier !== undefined && modifier !== 'exact' && modifier !== 'contains') throw unsupportedModifier();
        const match = modifier === 'exact' ? 'exact' : modifier === 'contains' ? 'contains' : 'prefix';
        for (const raw of values) {
          const v = unescape(raw);
          of.push({ kind: 'string', match, folded: fold(v), exact: v });
        }
        break;
      }
      case 'date': {
        if (modifier !== undefined) throw unsupportedModifier();
        for (const raw of values) {
          const [op, text] = splitPrefix(raw);
          const r = dateRange(text);
          if (!r) throw bad('expected a FHIR date, dateTime or instant with an optional prefix');
          of.push({ kind: 'date', op, ...approx(op, r, 'date') });
        }
        break;
      }
      case 'number': {
        if (modifier !== undefined) throw unsupportedModifier();
        for (const raw of values) {
          const [op, text] = splitPrefix(raw);
          const r = numberRange(text);
          if (!r) throw bad('expected a number with an optional prefix');
          of.push({ kind: 'number', op, ...approx(op, r, 'number') });
        }
        break;
      }
      case 'quantity': {
        if (modifier !== undefined) throw unsupportedModifier();
        for (const raw of values) {
          const parts = splitEscaped(raw, '|');
          if (parts.length !== 1 && parts.length !== 3) throw bad('expected [prefix]number or [prefix]number|system|code');
          const [op, text] = splitPrefix(parts[0] as string);
          const r = numberRange(text);
          if (!r) throw bad('expected a number with an optional prefix');
          const system = parts[1] ? unescape(parts[1]) : undefined;
          const unit = parts[2] ? unescape(parts[2]) : undefined;
          of.push({ kind: 'quantity', op, ...approx(op, r, 'number'), ...(system ? { system } : {}), ...(unit ? { code: unit } : {}) });
        }
        break;
      }
      case 'reference': {
        let typeModifier: string | undefined;
        if (modifier !== undefined) {
          if (!this.registry.resourceTypes.has(modifier)) throw unsupportedModifier();
          typeModifier = modifier;
        }
        for (const raw of values) {
          let v = unescape(raw);
          if (v === '') throw bad('empty reference');
          if (baseUrl && v.startsWith(baseUrl + '/')) v = v.slice(baseUrl.length + 1);
          if (!v.includes('/') && !v.includes(':')) {
            of.push({ kind: 'reference', targetId: v, ...(typeModifier ? { targetType: typeModifier } : {}) });
            continue;
          }
          const parsed = parseReference(v, (t) => this.registry.resourceTypes.has(t));
          if (parsed && parsed.url === null && parsed.targetId !== null && parsed.targetType !== null) {
            if (typeModifier && typeModifier !== parsed.targetType) throw bad(`the reference type does not match ':${typeModifier}'`);
            of.push({ kind: 'reference', targetType: parsed.targetType, targetId: parsed.targetId });
          } else if (parsed && parsed.url !== null) {
            of.push({ kind: 'reference', url: parsed.url });
          } else throw bad('expected Type/id, id or an absolute URL');
        }
        break;
      }
      case 'uri': {
        if (modifier !== undefined && modifier !== 'above' && modifier !== 'below') throw unsupportedModifier();
        const match = modifier === 'above' ? 'above' : modifier === 'below' ? 'below' : 'exact';
        for (const raw of values) of.push({ kind: 'uri', match, value: unescape(raw) });
        break;
      }
      default:
        throw badRequest(`The search parameter '${code}' (${def.type}) is not supported.`, [name]);
    }
    return negate ? { kind: 'none', param: code, of } : { kind: 'any', param: code, of };
  }
}

/** `ap` widens the value range by about 10% (of the distance to now for dates, of the value for numbers). */
function approx(op: RangeOp, r: [number, number], kind: 'date' | 'number'): { low: number; high: number } {
  if (op !== 'ap') return { low: r[0], high: r[1] };
  const mid = (r[0] + r[1]) / 2;
  const delta = kind === 'date' ? Math.abs(Date.now() - mid) * 0.1 : Math.abs(mid) * 0.1;
  return { low: r[0] - delta, high: r[1] + delta };
}
