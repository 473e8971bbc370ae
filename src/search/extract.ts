/**
 * Index extraction: the {@link IndexEntry}s of a resource, for every search parameter of its type.
 * Each expression is compiled once per (type, parameter). Simple member paths (`Patient.address.city`,
 * `(Observation.value as Quantity)`, `Patient.telecom.where(system='email')`) become direct JavaScript
 * accessors; anything else is evaluated with fhirpath.js.
 * @packageDocumentation
 */
import { compileFhirPath, type FhirPathDialect } from '../fhirpath/compile.js';
import { r4Model } from '../fhirpath/r4-model.js';
import type { IndexEntry } from '../storage/index-entry.js';
import type { Resource } from '../resource/resource.js';
import { COMPARTMENT_PARAM, CompartmentTable, type CompartmentSources } from './compartments.js';
import { branchesFor, type SearchParameterDefinition, type SearchParameterRegistry } from './registry.js';
import { dateRange, fold, jsonNumberRange, parseReference } from './normalize.js';

/** Reads the raw values of one expression branch from a resource. */
type Getter = (resource: Resource) => unknown[];

/** One branch of a compiled parameter's expression (`a | b` has two). */
export interface CompiledBranch {
  /** Reads the raw values of this branch from a resource. */
  readonly get: (resource: Resource) => unknown[];
  /** From `.where(resolve() is X)`: keep only references to this type. */
  readonly targetType?: string;
  readonly direct: boolean;
}

/** One parameter compiled for one resource type. */
export interface CompiledParameter {
  readonly code: string;
  readonly def: SearchParameterDefinition;
  readonly branches: readonly CompiledBranch[];
}

/** Index value types the extractor handles (composite and special are not indexed). */
const INDEXED = new Set(['number', 'date', 'string', 'token', 'reference', 'quantity', 'uri']);

/** Extractor options. */
export interface IndexExtractorOptions {
  /** `auto` (default) uses direct accessors where possible; `fhirpath` always evaluates with fhirpath.js. */
  readonly mode?: 'auto' | 'fhirpath';
  /** The compartments whose memberships are indexed (as {@link COMPARTMENT_PARAM} entries). Default: the R4 ones. */
  readonly compartments?: CompartmentTable;
}

/** Produces index entries for resources. */
export class IndexExtractor {
  private readonly compiled = new Map<string, readonly CompiledParameter[]>();
  private readonly isResourceType: (t: string) => boolean;
  /** The compartments whose memberships are indexed. */
  readonly compartments: CompartmentTable;

  constructor(
    readonly registry: SearchParameterRegistry,
    private readonly options: IndexExtractorOptions = {},
  ) {
    this.isResourceType = (t) => registry.resourceTypes.has(t);
    this.compartments = options.compartments ?? CompartmentTable.r4();
  }

  /**
   * Every index entry of `resource` (its `meta.lastUpdated` and compartment memberships included),
   * or only those of the parameters in `only`.
   */
  extract(resource: Resource, only?: ReadonlySet<string>): IndexEntry[] {
    const out: IndexEntry[] = [];
    const sources = this.compartments.sourcesOf(resource.resourceType);
    const memberships = sources !== undefined && (only === undefined || only.has(COMPARTMENT_PARAM));
    // Memberships derive from the entries of the compartment parameters: those are extracted even
    // when `only` leaves them out, into a scratch list.
    let scratch: IndexEntry[] | undefined;
    for (const p of this.compiledFor(resource.resourceType)) {
      if (only === undefined || only.has(p.code)) this.extractInto(resource, p, out);
      else if (memberships && sources.params.has(p.code)) this.extractInto(resource, p, (scratch ??= []));
    }
    if (memberships) addMemberships(resource, sources, scratch === undefined ? out : [...out, ...scratch], out);
    return out;
  }

  /** The entries of one parameter only (used for `_include`). */
  extractParam(resource: Resource, code: string): IndexEntry[] {
    return this.extract(resource, new Set([code]));
  }

  /** The compiled parameters of a type (for tests and diagnostics). */
  compiledFor(type: string): readonly CompiledParameter[] {
    let list = this.compiled.get(type);
    if (!list) {
      const result: CompiledParameter[] = [];
      for (const [code, def] of this.registry.forType(type)) {
        if (!def.expression || !INDEXED.has(def.type)) continue;
        const branches: CompiledBranch[] = [];
        for (const b of branchesFor(def, type)) {
          const direct = this.options.mode === 'fhirpath' ? undefined : compileDirect(b.expression, type);
          const get = direct ?? compileFhirpath(b.expression);
          if (!get) continue;
          branches.push({ get, direct: direct !== undefined, ...(b.targetType ? { targetType: b.targetType } : {}) });
        }
        if (branches.length > 0) result.push({ code, def, branches });
      }
      list = result;
      this.compiled.set(type, list);
    }
    return list;
  }

  private extractInto(resource: Resource, p: CompiledParameter, out: IndexEntry[]): void {
    const start = out.length;
    for (const b of p.branches) {
      let values: unknown[];
      try {
        values = b.get(resource);
      } catch {
        continue; // a malformed resource must not break the write; the value is just not indexed
      }
      for (const v of values) {
        if (v === null || v === undefined) continue;
        normalizeValue(p.code, p.def.type, v, b.targetType, this.isResourceType, out);
      }
    }
    // de-duplicate this parameter's entries
    const n = out.length - start;
    if (n > 1 && n <= 12) {
      let w = start;
      for (let r = start; r < out.length; r++) {
        const e = out[r] as IndexEntry;
        let dup = false;
        for (let k = start; k < w; k++) {
          if (sameEntry(out[k] as IndexEntry, e)) {
            dup = true;
            break;
          }
        }
        if (!dup) out[w++] = e;
      }
      out.length = w;
    } else if (n > 12) {
      const seen = new Set<string>();
      let w = start;
      for (let r = start; r < out.length; r++) {
        const e = out[r] as IndexEntry;
        const key = entryKey(e);
        if (seen.has(key)) continue;
        seen.add(key);
        out[w++] = e;
      }
      out.length = w;
    }
  }
}

/**
 * Appends to `out` one {@link COMPARTMENT_PARAM} entry per compartment `resource` is in: per
 * reference entry of a compartment parameter that points at a resource of that compartment's type
 * (exactly what the search `Type?param=Compartment/id` matches), and per `{def}` compartment of its
 * own type. No duplicates.
 */
function addMemberships(resource: Resource, sources: CompartmentSources, entries: readonly IndexEntry[], out: IndexEntry[]): void {
  const seen = new Set<string>();
  const add = (targetType: string, targetId: string): void => {
    const key = `${targetType}/${targetId}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ param: COMPARTMENT_PARAM, kind: 'reference', targetType, targetId, url: null });
  };
  for (const code of sources.self) if (typeof resource.id === 'string' && resource.id !== '') add(code, resource.id);
  const n = entries.length;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    if (e.kind !== 'reference' || e.targetType === null || e.targetId === null) continue;
    const compartments = sources.params.get(e.param);
    if (compartments !== undefined && compartments.includes(e.targetType)) add(e.targetType, e.targetId);
  }
}

function sameEntry(a: IndexEntry, b: IndexEntry): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'token':
      return a.code === (b as typeof a).code && a.system === (b as typeof a).system;
    case 'text':
      return a.folded === (b as typeof a).folded;
    case 'string':
      return a.exact === (b as typeof a).exact;
    case 'date':
    case 'number':
      return a.low === (b as typeof a).low && a.high === (b as typeof a).high;
    case 'quantity': {
      const c = b as typeof a;
      return a.low === c.low && a.high === c.high && a.system === c.system && a.code === c.code;
    }
    case 'reference': {
      const c = b as typeof a;
      return a.targetType === c.targetType && a.targetId === c.targetId && a.url === c.url;
    }
    case 'uri':
      return a.value === (b as typeof a).value;
  }
}

function entryKey(e: IndexEntry): string {
  switch (e.kind) {
    case 'token':
      return `t${e.system ?? '\u0000'}|${e.code}`;
    case 'text':
      return `x${e.folded}`;
    case 'string':
      return `s${e.exact}`;
    case 'date':
    case 'number':
      return `${e.kind[0]}${e.low}|${e.high}`;
    case 'quantity':
      return `q${e.low}|${e.high}|${e.system}|${e.code}`;
    case 'reference':
      return `r${e.targetType}|${e.targetId}|${e.url}`;
    case 'uri':
      return `u${e.value}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Value normalisation

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const strs = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x.length > 0) : str(v) ? [v as string] : [];

function pushString(param: string, value: string, out: IndexEntry[]): void {
  out.push({ param, kind: 'string', folded: fold(value), exact: value });
}

function pushText(param: string, value: unknown, out: IndexEntry[]): void {
  const s = str(value);
  if (s) out.push({ param, kind: 'text', folded: fold(s) });
}

function pushToken(param: string, system: unknown, code: unknown, out: IndexEntry[]): void {
  const c = typeof code === 'string' ? code : typeof code === 'number' || typeof code === 'boolean' ? String(code) : undefined;
  if (c === undefined || c.length === 0) return;
  out.push({ param, kind: 'token', system: str(system) ?? null, code: c });
}

function pushRange(param: string, kind: 'date' | 'number', r: [number, number] | undefined, out: IndexEntry[]): void {
  if (r) out.push({ param, kind, low: r[0], high: r[1] });
}

function quantityRange(q: Obj): [number, number] | undefined {
  return typeof q.value === 'number' ? jsonNumberRange(q.value) : undefined;
}

/** Converts one raw value of a parameter to entries. Exported for tests. */
export function normalizeValue(
  param: string,
  type: SearchParameterDefinition['type'],
  v: unknown,
  targetType: string | undefined,
  isResourceType: (t: string) => boolean,
  out: IndexEntry[],
): void {
  switch (type) {
    case 'string': {
      if (typeof v === 'string') {
        if (v.length > 0) pushString(param, v, out);
        return;
      }
      if (!isObj(v)) return;
      if ('family' in v || 'given' in v || 'prefix' in v || 'suffix' in v || ('text' in v && !('line' in v || 'city' in v))) {
        // HumanName (or anything with a text)
        const parts: string[] = [];
        for (const p of strs(v.prefix)) parts.push(p);
        for (const g of strs(v.given)) parts.push(g);
        const family = str(v.family);
        if (family) parts.push(family);
        for (const s of strs(v.suffix)) parts.push(s);
        for (const p of parts) pushString(param, p, out);
        const text = str(v.text);
        if (text) pushString(param, text, out);
        if (parts.length > 1) pushString(param, parts.join(' '), out);
        return;
      }
      for (const l of strs(v.line)) pushString(param, l, out);
      for (const k of ['city', 'district', 'state', 'postalCode', 'country', 'text']) {
        const s = str(v[k]);
        if (s) pushString(param, s, out);
      }
      return;
    }
    case 'token': {
      if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') {
        pushToken(param, null, v, out);
        return;
      }
      if (!isObj(v)) return;
      if (Array.isArray(v.coding) || ('text' in v && !('value' in v) && !('code' in v))) {
        // CodeableConcept
        if (Array.isArray(v.coding)) {
          for (const c of v.coding) {
            if (!isObj(c)) continue;
            pushToken(param, c.system, c.code, out);
            pushText(param, c.display, out);
          }
        }
        pushText(param, v.text, out);
        return;
      }
      if ('value' in v) {
        // Identifier or ContactPoint
        pushToken(param, v.system, v.value, out);
        if (isObj(v.type)) pushText(param, v.type.text, out);
        return;
      }
      if ('code' in v || 'system' in v) {
        // Coding (Quantity/Money as token would also land here)
        pushToken(param, v.system, v.code, out);
        pushText(param, v.display, out);
      }
      return;
    }
    case 'date': {
      if (typeof v === 'string') {
        pushRange(param, 'date', dateRange(v), out);
        return;
      }
      if (!isObj(v)) return;
      if ('start' in v || 'end' in v) {
        const s = str(v.start) ? dateRange(v.start as string) : undefined;
        const e = str(v.end) ? dateRange(v.end as string) : undefined;
        if ((str(v.start) && !s) || (str(v.end) && !e)) return;
        out.push({ param, kind: 'date', low: s ? s[0] : -Infinity, high: e ? e[1] : Infinity });
        return;
      }
      // Timing
      for (const ev of strs(v.event)) pushRange(param, 'date', dateRange(ev), out);
      if (isObj(v.repeat) && isObj(v.repeat.boundsPeriod)) {
        normalizeValue(param, 'date', v.repeat.boundsPeriod, targetType, isResourceType, out);
      }
      return;
    }
    case 'number': {
      if (typeof v === 'number') {
        pushRange(param, 'number', jsonNumberRange(v), out);
        return;
      }
      if (!isObj(v)) return;
      if ('low' in v || 'high' in v) {
        const lo = isObj(v.low) ? quantityRange(v.low) : undefined;
        const hi = isObj(v.high) ? quantityRange(v.high) : undefined;
        if (lo || hi) out.push({ param, kind: 'number', low: lo ? lo[0] : -Infinity, high: hi ? hi[1] : Infinity });
        return;
      }
      pushRange(param, 'number', quantityRange(v), out);
      return;
    }
    case 'quantity': {
      if (typeof v === 'number') {
        const r = jsonNumberRange(v);
        out.push({ param, kind: 'quantity', low: r[0], high: r[1], system: null, code: null });
        return;
      }
      if (!isObj(v)) return;
      if ('low' in v || 'high' in v) {
        const lo = isObj(v.low) ? v.low : undefined;
        const hi = isObj(v.high) ? v.high : undefined;
        const lr = lo ? quantityRange(lo) : undefined;
        const hr = hi ? quantityRange(hi) : undefined;
        if (!lr && !hr) return;
        const unit = (lo && lr ? lo : hi) as Obj;
        out.push({
          param,
          kind: 'quantity',
          low: lr ? lr[0] : -Infinity,
          high: hr ? hr[1] : Infinity,
          system: str(unit.system) ?? null,
          code: str(unit.code) ?? str(unit.unit) ?? null,
        });
        return;
      }
      const r = quantityRange(v);
      if (!r) return;
      if ('currency' in v) {
        out.push({ param, kind: 'quantity', low: r[0], high: r[1], system: 'urn:iso:std:iso:4217', code: str(v.currency) ?? null });
        return;
      }
      out.push({ param, kind: 'quantity', low: r[0], high: r[1], system: str(v.system) ?? null, code: str(v.code) ?? str(v.unit) ?? null });
      return;
    }
    case 'reference': {
      const ref = typeof v === 'string' ? v : isObj(v) ? str(v.reference) : undefined;
      if (!ref) return;
      const parsed = parseReference(ref, isResourceType);
      if (!parsed) return;
      if (targetType !== undefined && parsed.targetType !== targetType) return;
      out.push({ param, kind: 'reference', targetType: parsed.targetType, targetId: parsed.targetId, url: parsed.url });
      return;
    }
    case 'uri': {
      if (typeof v === 'string' && v.length > 0) out.push({ param, kind: 'uri', value: v });
      return;
    }
    default:
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Expression compilation

/** Search parameter expressions: plain JSON values, with `as` rewritten to `ofType`. */
export const SEARCH_EXPRESSIONS: FhirPathDialect = { name: 'search', rewrite: ofTypeForm, nodes: false };

/** A getter evaluating `expression` with fhirpath.js; undefined when fhirpath.js cannot compile it. */
function compileFhirpath(expression: string): Getter | undefined {
  try {
    return compileFhirPath(expression, SEARCH_EXPRESSIONS);
  } catch {
    return undefined;
  }
}

/**
 * Rewrites `(X as T)` and `X.as(T)` to `X.ofType(T)`: fhirpath.js returns nothing for `as` on a
 * collection of several items (e.g. `useContext.value as CodeableConcept`), `ofType` filters.
 */
export function ofTypeForm(expression: string): string {
  return expression
    .replace(/\(([A-Za-z][\w.]*) as ([A-Za-z]\w*)\)/g, '($1.ofType($2))')
    .replace(/\.as\(([A-Za-z]\w*)\)/g, '.ofType($1)');
}

type Step =
  | { readonly kind: 'child'; readonly keys: readonly string[] }
  | { readonly kind: 'where'; readonly field: string; readonly value: string };

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** Primitive specialisations that FHIRPath's `as`/`ofType` select too (a canonical is a uri), as fhirpath.js does. */
const SUBTYPES: Readonly<Record<string, readonly string[]>> = {
  Uri: ['Canonical', 'Url', 'Oid', 'Uuid'],
  String: ['Code', 'Id', 'Markdown'],
  Integer: ['UnsignedInt', 'PositiveInt'],
};

type RawStep = { name: string; as?: string } | { where: [string, string] };

/**
 * Parses a simple member path: `Root(.name)*`, optionally wrapped as `(Root(.name)* as T)` and
 * followed by more steps; steps may be `.name`, `.as(T)` and `.where(name='literal')`. A relative
 * path (`relative`) has no root: `code`, `value.as(Quantity)`. Undefined for anything else.
 */
function parseSimplePath(expr: string, relative: boolean): { root?: string; raws: RawStep[] } | undefined {
  let rest = expr;
  let asWrapped: string | undefined;
  const wrapped = relative ? null : /^\(([A-Za-z][\w.]*) as ([A-Za-z]\w*)\)(.*)$/.exec(rest);
  let head: string;
  if (wrapped) {
    head = wrapped[1] as string;
    asWrapped = wrapped[2] as string;
    rest = wrapped[3] as string;
  } else {
    const m = /^([A-Za-z]\w*(?:\.[a-z]\w*(?![\w(]))*)(.*)$/.exec(rest);
    if (!m) return undefined;
    head = m[1] as string;
    rest = m[2] as string;
  }
  const raws: RawStep[] = [];
  const segs = head.split('.');
  const root = relative ? undefined : (segs.shift() as string);
  for (const s of segs) raws.push({ name: s });
  if (asWrapped) {
    const last = raws[raws.length - 1];
    if (!last || !('name' in last)) return undefined;
    last.as = asWrapped;
  }
  while (rest.length > 0) {
    let m: RegExpExecArray | null;
    if ((m = /^\.([a-z]\w*)(?![\w(])/.exec(rest))) {
      raws.push({ name: m[1] as string });
    } else if ((m = /^\.as\(([A-Za-z]\w*)\)/.exec(rest))) {
      const last = raws[raws.length - 1];
      if (!last || !('name' in last) || last.as) return undefined;
      last.as = m[1] as string;
    } else if ((m = /^\.where\(([a-z]\w*)\s*=\s*'([^'\\]*)'\)/.exec(rest))) {
      raws.push({ where: [m[1] as string, m[2] as string] });
    } else return undefined;
    rest = rest.slice(m[0].length);
  }
  return { ...(root !== undefined && { root }), raws };
}

/**
 * Resolves parsed steps through the model from `start` (a type, or a backbone element's path): the
 * JSON keys of each step, and the model path reached (`typed: false` after a choice element
 * without `as`, whose type is not known).
 */
function walkModel(raws: readonly RawStep[], start: string): { steps: Step[]; path: string; typed: boolean } | undefined {
  const steps: Step[] = [];
  let path = start;
  let typed = true; // whether `path` is known
  for (const r of raws) {
    if ('where' in r) {
      steps.push({ kind: 'where', field: r.where[0], value: r.where[1] });
      continue;
    }
    if (!typed) return undefined;
    const full = r4Model.definedAt(`${path}.${r.name}`);
    const choices = r4Model.choiceTypes(full);
    if (choices) {
      if (r.as) {
        const t = cap(r.as);
        if (!choices.includes(t)) return undefined;
        const keys = choices.filter((c) => c === t || SUBTYPES[t]?.includes(c));
        steps.push({ kind: 'child', keys: keys.map((c) => r.name + c) });
        path = r.as;
        typed = r4Model.typeOf(r.as) !== undefined || /^[A-Z]/.test(r.as);
      } else {
        steps.push({ kind: 'child', keys: choices.map((t) => r.name + t) });
        typed = false;
      }
      continue;
    }
    if (r.as) return undefined;
    const t = r4Model.typeOf(full);
    if (t === undefined) return undefined;
    steps.push({ kind: 'child', keys: [r.name] });
    path = t === 'BackboneElement' || t === 'Element' ? full : t;
  }
  return { steps, path, typed };
}

/** The start of a path's walk: the resource type, or `Resource`/`DomainResource` for common ones. */
function startOf(root: string | undefined, resourceType: string): string | undefined {
  if (root === resourceType) return resourceType;
  if (root === 'Resource' || root === 'DomainResource') return root;
  return undefined;
}

/**
 * Compiles a simple member path to a direct accessor, or returns undefined (use fhirpath).
 * Grammar: see `parseSimplePath`; also `P.exists() and P != false`. With `from` (a type or a
 * backbone element's path, as {@link elementPathOf} gives it), `expression` is relative to a
 * value of that element: `code`, `value.as(Quantity)`.
 */
export function compileDirect(expression: string, resourceType: string, from?: string): Getter | undefined {
  const expr = expression.trim();
  const ex = /^([A-Za-z][\w.]*)\.exists\(\) and ([A-Za-z][\w.]*) != false$/.exec(expr);
  if (ex && ex[1] === ex[2]) {
    const inner = compileDirect(ex[1] as string, resourceType, from);
    if (!inner) return undefined;
    return (r) => {
      const vs = inner(r);
      return [vs.length > 0 && !(vs.length === 1 && vs[0] === false)];
    };
  }
  const parsed = parseSimplePath(expr, from !== undefined);
  if (!parsed) return undefined;
  const start = from ?? startOf(parsed.root, resourceType);
  if (start === undefined) return undefined;
  const walked = walkModel(parsed.raws, start);
  if (!walked || walked.steps.length === 0) return undefined;
  return buildGetter(walked.steps);
}

/**
 * The model path of the values a simple member path selects, for compiling paths relative to them:
 * `Observation` → `Observation`, `Observation.component` → `Observation.component` (a backbone
 * element), `Library.useContext` → `UsageContext`. Undefined when the path is not simple or ends
 * on a choice without a type.
 */
export function elementPathOf(expression: string, resourceType: string): string | undefined {
  const parsed = parseSimplePath(expression.trim(), false);
  if (!parsed) return undefined;
  const start = startOf(parsed.root, resourceType);
  if (start === undefined) return undefined;
  const walked = walkModel(parsed.raws, start);
  return walked?.typed ? walked.path : undefined;
}

function buildGetter(steps: readonly Step[]): Getter {
  return (resource) => {
    let current: unknown[] = [resource];
    for (const step of steps) {
      const next: unknown[] = [];
      if (step.kind === 'child') {
        for (const v of current) {
          if (!isObj(v)) continue;
          for (const key of step.keys) {
            const x = v[key];
            if (x === undefined || x === null) continue;
            if (Array.isArray(x)) {
              for (const y of x) if (y !== null && y !== undefined) next.push(y);
            } else next.push(x);
          }
        }
      } else {
        for (const v of current) if (isObj(v) && v[step.field] === step.value) next.push(v);
      }
      current = next;
      if (current.length === 0) break;
    }
    return current;
  };
}
