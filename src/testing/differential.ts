/**
 * Random searches over a corpus for differential tests: each is a storage query (clauses) and, where
 * FHIR's query syntax can say exactly the same, the equivalent query string for `FhirEngine.search`.
 *
 * Queries are drawn from the corpus's own index entries (so that most match something): single
 * predicates of every kind, `:not`, `:missing`, multi-value ORs, two-clause ANDs and `_id` lists.
 * A seed makes the draw replayable: {@link differentialSeeds} gives a fixed one and a fresh one per run.
 */
import { COMPARTMENT_PARAM } from '../search/compartments.js';
import type { IndexEntry } from '../storage/index-entry.js';
import type { Clause, Predicate } from '../storage/query.js';

/** One resource of the corpus, with the entries the engine's extractor gives it. */
export interface CorpusEntry {
  readonly type: string;
  readonly id: string;
  readonly entries: readonly IndexEntry[];
}

/** A generated search. */
export interface DiffQuery {
  readonly type: string;
  readonly where: readonly Clause[];
  /** The same search as a query string, when it can be written as one. */
  readonly qs?: string;
}

/** Environment variable that replays a run's fresh seed. */
export const SEED_ENV = 'FHIR_ENGINE_DIFF_SEED';

/** The fixed seed, and a fresh one for this run (or the one in {@link SEED_ENV}), printed so that it can be replayed. */
export function differentialSeeds(): number[] {
  const replay = process.env[SEED_ENV];
  const fresh = replay !== undefined && replay !== '' ? Number(replay) : Math.floor(Math.random() * 0x7fffffff);
  if (!Number.isInteger(fresh)) throw new Error(`${SEED_ENV} must be an integer, not '${replay}'`);
  console.log(`[differential] seeds 42 and ${fresh} (replay the second with ${SEED_ENV}=${fresh})`);
  return [42, fresh];
}

/** A small linear congruential generator: the same seed, the same queries. */
export function random(seed: number): () => number {
  let s = seed & 0x7fffffff;
  return () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}

/** Characters with a meaning in search values; values holding them get no query string. */
const SPECIAL = /[,|$\\]/;
const enc = (v: string) => encodeURIComponent(v);

/** `param[:modifier]=value` for one predicate, or undefined when the query syntax cannot say it exactly. */
function valueOf(p: Predicate): { modifier: string; value: string } | undefined {
  switch (p.kind) {
    case 'token': {
      const { system, code } = p;
      if ((system && SPECIAL.test(system)) || (code && SPECIAL.test(code))) return undefined;
      if (code === undefined) return system ? { modifier: '', value: `${system}|` } : undefined;
      if (system === undefined) return { modifier: '', value: code };
      return { modifier: '', value: `${system ?? ''}|${code}` };
    }
    case 'string':
      // Only whole values: the engine folds the query value as the extractor folded the entry's.
      if (SPECIAL.test(p.exact) || p.exact === '') return undefined;
      return { modifier: p.match === 'prefix' ? '' : `:${p.match}`, value: p.exact };
    case 'reference':
      if (p.url !== undefined || p.targetId === undefined || SPECIAL.test(p.targetId)) return undefined;
      return { modifier: '', value: p.targetType ? `${p.targetType}/${p.targetId}` : p.targetId };
    case 'uri':
      if (SPECIAL.test(p.value)) return undefined;
      return { modifier: p.match === 'exact' ? '' : `:${p.match}`, value: p.value };
    default:
      return undefined; // text, dates, numbers and quantities: the clause form only
  }
}

/** The query string of one clause, or undefined. */
function clauseQs(c: Clause): string | undefined {
  // Compartment membership is an index parameter, no search parameter: it has no query string.
  if (c.kind !== 'ids' && c.param === COMPARTMENT_PARAM) return undefined;
  switch (c.kind) {
    case 'ids':
      return c.ids.some((id) => SPECIAL.test(id)) ? undefined : `_id=${c.ids.map(enc).join(',')}`;
    case 'missing':
      return `${c.param}:missing=${c.missing}`;
    case 'none':
    case 'any': {
      const values = c.of.map(valueOf);
      if (values.some((v) => v === undefined)) return undefined;
      const modifiers = new Set(values.map((v) => v!.modifier));
      if (modifiers.size !== 1) return undefined;
      const [modifier] = modifiers as Set<string>;
      if (c.kind === 'none') {
        // `:not` exists for tokens only.
        if (modifier !== '' || c.of.some((p) => p.kind !== 'token')) return undefined;
        return `${c.param}:not=${values.map((v) => enc(v!.value)).join(',')}`;
      }
      return `${c.param}${modifier}=${values.map((v) => enc(v!.value)).join(',')}`;
    }
  }
}

function query(type: string, where: Clause[]): DiffQuery {
  const parts = where.map(clauseQs);
  return parts.every((p) => p !== undefined) ? { type, where, qs: parts.join('&') } : { type, where };
}

/** Predicates that an entry should (mostly) match, with some variation. */
export function predicatesFor(e: IndexEntry, rnd: () => number): Predicate[] {
  switch (e.kind) {
    case 'token':
      return [
        { kind: 'token', code: e.code },
        { kind: 'token', system: e.system, code: e.code },
        ...(e.system !== null ? [{ kind: 'token' as const, system: e.system }] : []),
      ];
    case 'text':
      return [{ kind: 'text', folded: e.folded.slice(0, 1 + Math.floor(rnd() * e.folded.length)) }];
    case 'string': {
      const cut = Math.max(1, Math.floor(rnd() * e.folded.length));
      return [
        { kind: 'string', match: 'prefix', folded: e.folded.slice(0, cut), exact: e.exact.slice(0, cut) },
        { kind: 'string', match: 'contains', folded: e.folded.slice(Math.floor(cut / 2), cut), exact: '' },
        { kind: 'string', match: 'exact', folded: e.folded, exact: e.exact },
        { kind: 'string', match: 'prefix', folded: e.folded, exact: e.exact },
        { kind: 'string', match: 'contains', folded: e.folded, exact: e.exact },
      ];
    }
    case 'date':
    case 'number':
    case 'quantity': {
      const lo = Number.isFinite(e.low) ? e.low : Number.isFinite(e.high) ? e.high : 0;
      const hi = Number.isFinite(e.high) ? e.high : lo;
      const ops = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;
      const op = ops[Math.floor(rnd() * ops.length)]!;
      const base = { op, low: lo, high: Math.max(lo, hi) };
      if (e.kind === 'quantity') {
        return [
          { kind: 'quantity', ...base },
          { kind: 'quantity', op: 'eq', low: lo, high: Math.max(lo, hi), ...(e.code ? { code: e.code } : {}), ...(e.system ? { system: e.system } : {}) },
        ];
      }
      return [{ kind: e.kind, ...base }, { kind: e.kind, op: 'eq', low: lo, high: Math.max(lo, hi) }];
    }
    case 'reference':
      if (e.targetId !== null) {
        return [
          { kind: 'reference', targetId: e.targetId },
          ...(e.targetType !== null ? [{ kind: 'reference' as const, targetType: e.targetType, targetId: e.targetId }] : []),
          ...(e.targetType !== null ? [{ kind: 'reference' as const, targetType: e.targetType }] : []),
        ];
      }
      return e.url !== null ? [{ kind: 'reference', url: e.url }] : [];
    case 'uri': {
      const cut = e.value.lastIndexOf('/');
      return [
        { kind: 'uri', match: 'exact', value: e.value },
        ...(cut > 8 ? [{ kind: 'uri' as const, match: 'below' as const, value: e.value.slice(0, cut) }] : []),
        { kind: 'uri', match: 'above', value: `${e.value}/x` },
      ];
    }
  }
}

const pick = <T>(list: readonly T[], rnd: () => number): T => list[Math.floor(rnd() * list.length)]!;

/** Draws the queries for one seed. */
export function generateQueries(corpus: readonly CorpusEntry[], seed: number): DiffQuery[] {
  const rnd = random(seed);
  const byType = new Map<string, CorpusEntry[]>();
  for (const c of corpus) {
    let l = byType.get(c.type);
    if (!l) byType.set(c.type, (l = []));
    l.push(c);
  }
  const queries: DiffQuery[] = [];
  for (const [type, list] of byType) {
    const params = new Map<string, IndexEntry[]>();
    for (const c of list) {
      for (const e of c.entries) {
        let l = params.get(e.param);
        if (!l) params.set(e.param, (l = []));
        l.push(e);
      }
    }
    for (const [param, entries] of params) {
      for (let k = 0; k < 2; k++) {
        const ps = predicatesFor(pick(entries, rnd), rnd);
        for (const p of ps) queries.push(query(type, [{ kind: 'any', param, of: [p] }]));
        if (k === 0 && ps.length > 0) queries.push(query(type, [{ kind: 'none', param, of: [pick(ps, rnd)] }]));
      }
      // multi-value ORs: 2 to 4 values of the parameter, of one predicate shape
      for (let k = 0; k < 2; k++) {
        const shape = Math.floor(rnd() * 5);
        const of: Predicate[] = [];
        for (let n = 2 + Math.floor(rnd() * 3); n > 0; n--) {
          const ps = predicatesFor(pick(entries, rnd), rnd);
          if (ps.length > 0) of.push(ps[Math.min(shape, ps.length - 1)]!);
        }
        if (of.length > 1) {
          queries.push(query(type, [{ kind: 'any', param, of }]));
          if (k === 0) queries.push(query(type, [{ kind: 'none', param, of }]));
        }
      }
      queries.push(query(type, [{ kind: 'missing', param, missing: rnd() < 0.5 }]));
    }
    // two-clause ANDs from one resource's entries
    for (let k = 0; k < 5; k++) {
      const c = pick(list, rnd);
      if (c.entries.length < 2) continue;
      const e1 = pick(c.entries, rnd);
      const e2 = pick(c.entries, rnd);
      const p1 = predicatesFor(e1, rnd)[0];
      const p2 = predicatesFor(e2, rnd)[0];
      if (p1 && p2) queries.push(query(type, [{ kind: 'any', param: e1.param, of: [p1] }, { kind: 'any', param: e2.param, of: [p2] }]));
    }
    // `_id` lists (as the core hands over resolved chains), alone and with another clause
    for (let k = 0; k < 3; k++) {
      const ids = [...new Set(Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => pick(list, rnd).id)), 'no-such-id'];
      queries.push(query(type, [{ kind: 'ids', ids }]));
      const c = pick(list, rnd);
      if (c.entries.length === 0) continue;
      const e = pick(c.entries, rnd);
      const p = predicatesFor(e, rnd)[0];
      if (p) queries.push(query(type, [{ kind: 'ids', ids: [...new Set([...ids, c.id])] }, { kind: 'any', param: e.param, of: [p] }]));
    }
  }
  return queries;
}
