/**
 * The definition of FHIR search matching for this engine. Adapters either call these functions on
 * candidates (memory) or translate them (SQL); the conformance kit compares both.
 * @packageDocumentation
 */
import type { IndexEntry } from '../storage/index-entry.js';
import type { Clause, Predicate } from '../storage/query.js';
import { compareRange } from './ranges.js';

/** True when `value` is `base` or lies below it as a URL path (`base/…`). */
function uriBelow(value: string, base: string): boolean {
  if (value === base) return true;
  if (!value.startsWith(base)) return false;
  return base.endsWith('/') || value.charAt(base.length) === '/';
}

/** Whether one index entry (of the clause's parameter) matches one predicate. */
export function matchPredicate(e: IndexEntry, p: Predicate): boolean {
  switch (p.kind) {
    case 'token':
      if (e.kind !== 'token') return false;
      if (p.code !== undefined && e.code !== p.code) return false;
      if (p.system !== undefined && e.system !== p.system) return false;
      return true;
    case 'text':
      return e.kind === 'text' && e.folded.startsWith(p.folded);
    case 'string':
      if (e.kind !== 'string') return false;
      switch (p.match) {
        case 'prefix':
          return e.folded.startsWith(p.folded);
        case 'contains':
          return e.folded.includes(p.folded);
        case 'exact':
          return e.exact === p.exact;
      }
      return false;
    case 'date':
    case 'number':
      if (e.kind !== p.kind) return false;
      return compareRange(p.op, e.low, e.high, p.low, p.high);
    case 'quantity':
      if (e.kind !== 'quantity') return false;
      if (p.system !== undefined && p.system !== null && e.system !== p.system) return false;
      if (p.code !== undefined && p.code !== null && e.code !== p.code) return false;
      return compareRange(p.op, e.low, e.high, p.low, p.high);
    case 'reference':
      if (e.kind !== 'reference') return false;
      if (p.targetId !== undefined) {
        if (e.targetId !== p.targetId) return false;
        if (p.targetType !== undefined && e.targetType !== p.targetType) return false;
        return true;
      }
      if (p.url !== undefined) return e.url === p.url;
      if (p.targetType !== undefined) return e.targetType === p.targetType;
      return false;
    case 'uri':
      if (e.kind !== 'uri') return false;
      switch (p.match) {
        case 'exact':
          return e.value === p.value;
        case 'below':
          return uriBelow(e.value, p.value);
        case 'above':
          return uriBelow(p.value, e.value);
      }
      return false;
  }
}

/** Whether a resource with these index entries satisfies one clause. `ids` clauses compare `id` (or, without it, the `_id` entry). */
export function matchClause(entries: readonly IndexEntry[], clause: Clause, id?: string): boolean {
  switch (clause.kind) {
    case 'any':
      for (const e of entries) {
        if (e.param !== clause.param) continue;
        for (const p of clause.of) if (matchPredicate(e, p)) return true;
      }
      return false;
    case 'none':
      for (const e of entries) {
        if (e.param !== clause.param) continue;
        for (const p of clause.of) if (matchPredicate(e, p)) return false;
      }
      return true;
    case 'missing': {
      let has = false;
      for (const e of entries) {
        if (e.param === clause.param) {
          has = true;
          break;
        }
      }
      return clause.missing ? !has : has;
    }
    case 'ids': {
      if (id === undefined) {
        // the id is indexed as `_id`
        for (const e of entries) if (e.param === '_id' && e.kind === 'token' && clause.ids.includes(e.code)) return true;
        return false;
      }
      return clause.ids.includes(id);
    }
  }
}

/** Whether a resource satisfies every clause (AND). */
export function matchAll(entries: readonly IndexEntry[], where: readonly Clause[], id?: string): boolean {
  for (const c of where) if (!matchClause(entries, c, id)) return false;
  return true;
}
