/**
 * The memory adapter's search index: per (type, parameter) posting maps, a reverse map id → entries
 * for replacement and verification, and lazily sorted arrays for prefix and range scans. A query picks
 * its most selective clause through the postings and verifies the rest with `matchClause`.
 * @packageDocumentation
 */
import {
  comparePositions,
  decodePosition,
  encodePosition,
  fold,
  matchClause,
  matchPredicate,
  rangeWindow,
  sortValue,
  type Clause,
  type IndexEntry,
  type Predicate,
  type RangeOp,
  type SearchHit,
  type SearchHits,
  type SortKey,
  type SortPosition,
  type StorageQuery,
  type StoredVersion,
} from '../../src/adapter-kit.js';

const SEP = '\u0000';

interface RangeRow {
  readonly low: number;
  readonly high: number;
  readonly id: string;
  readonly entry: IndexEntry;
}

/** A posting: one id (the common case, no Set allocated) or several. */
type Posting = string | Set<string>;
type Postings = Map<string, Posting>;

/** Adds `id` under `key`; true when the key is new. */
function add(map: Postings, key: string, id: string): boolean {
  const s = map.get(key);
  if (s === undefined) {
    map.set(key, id);
    return true;
  }
  if (typeof s === 'string') {
    if (s !== id) map.set(key, new Set([s, id]));
  } else s.add(id);
  return false;
}

/** Removes `id` from `key`; true when the key disappeared. */
function del(map: Postings, key: string, id: string): boolean {
  const s = map.get(key);
  if (s === undefined) return false;
  if (typeof s === 'string') {
    if (s !== id) return false;
    map.delete(key);
    return true;
  }
  s.delete(id);
  if (s.size === 1) map.set(key, s.values().next().value as string);
  return false;
}

const postingSize = (p: Posting | undefined): number => (p === undefined ? 0 : typeof p === 'string' ? 1 : p.size);
function addAll(p: Posting | undefined, out: Set<string>): void {
  if (p === undefined) return;
  if (typeof p === 'string') out.add(p);
  else for (const id of p) out.add(id);
}

/**
 * Binary search: the index of the first item of `items` that is not `before(item, key)`, where
 * `items` holds every such item first (so the result is where the others start, or `items.length`).
 * The key is a parameter so that hot callers pass a predicate made once, not a closure per call.
 */
function partitionPoint<T, K>(items: readonly T[], key: K, before: (item: T, key: K) => boolean): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(items[mid] as T, key)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const lowBelow = (row: RangeRow, low: number): boolean => row.low < low;
const lowAtMost = (row: RangeRow, low: number): boolean => row.low <= low;
const below = (item: string, key: string): boolean => item < key;
const atMost = (item: string, key: string): boolean => item <= key;

/** The index of one parameter of one resource type. */
class ParamIndex {
  /** id → this parameter's entries of that resource. */
  readonly byId = new Map<string, IndexEntry[]>();
  /** token / reference / uri keys → ids. */
  readonly postings: Postings = new Map();
  /** folded string → ids, with a lazily sorted key list for prefix ranges. */
  readonly strings: Postings = new Map();
  readonly texts: Postings = new Map();
  private stringKeys: string[] | null = null;
  private textKeys: string[] | null = null;
  private rows: RangeRow[] | null = null;
  private rowsDesc: RangeRow[] | null = null;
  /** Whether the parameter also has non-range entries (computed with the rows). */
  private mixed = false;
  private maxSpan = 0;

  addEntries(id: string, entries: IndexEntry[]): void {
    this.byId.set(id, entries);
    for (const e of entries) this.touch(e, id, true);
  }

  removeEntries(id: string): void {
    const entries = this.byId.get(id);
    if (!entries) return;
    this.byId.delete(id);
    for (const e of entries) this.touch(e, id, false);
  }

  private touch(e: IndexEntry, id: string, adding: boolean): void {
    const op = adding ? add : del;
    switch (e.kind) {
      case 'token':
        op(this.postings, `c${SEP}${e.code}`, id);
        op(this.postings, e.system === null ? `n${SEP}${e.code}` : `s${SEP}${e.system}${SEP}${e.code}`, id);
        if (e.system !== null) op(this.postings, `S${SEP}${e.system}`, id);
        return;
      case 'reference':
        if (e.targetId !== null) {
          op(this.postings, `i${SEP}${e.targetId}`, id);
          if (e.targetType !== null) op(this.postings, `r${SEP}${e.targetType}/${e.targetId}`, id);
        }
        if (e.targetType !== null) op(this.postings, `T${SEP}${e.targetType}`, id);
        if (e.url !== null) op(this.postings, `u${SEP}${e.url}`, id);
        return;
      case 'uri':
        op(this.postings, `u${SEP}${e.value}`, id);
        return;
      case 'string':
        if (op(this.strings, e.folded, id)) this.stringKeys = null;
        return;
      case 'text':
        if (op(this.texts, e.folded, id)) this.textKeys = null;
        return;
      case 'date':
      case 'number':
      case 'quantity':
        this.rows = null;
        this.rowsDesc = null;
        return;
    }
  }

  /** The slice `[start, end)` of the rows sorted by `low` that can match a range predicate. */
  rowWindow(p: Predicate & { op: RangeOp; low: number; high: number }): [number, number] {
    const rows = this.rangeRows(); // also computes maxSpan
    const [from, to] = rangeWindow(p.op, p.low, p.high, this.maxSpan);
    const start = from === -Infinity ? 0 : partitionPoint(rows, from, lowBelow);
    const end = to === Infinity ? rows.length : partitionPoint(rows, to, lowAtMost);
    return [start, Math.max(start, end)];
  }

  /** True when every resource has exactly one range row (so row order is sort order). */
  singleValued(): boolean {
    return this.rangeRows().length === this.byId.size && !this.mixed;
  }

  /**
   * Range rows in sort order for a single-key sort: ascending by (`low`, id) or descending by
   * (`high` desc, id asc). Undefined when the parameter has no range entries.
   */
  sortRows(descending: boolean): RangeRow[] | undefined {
    const rows = this.rangeRows();
    if (rows.length === 0 || this.mixed) return undefined;
    if (!descending) return rows;
    return (this.rowsDesc ??= [...rows].sort((a, b) => (a.high > b.high ? -1 : a.high < b.high ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
  }

  /** The sort value of a resource for a range parameter (min low / max high). */
  rangeSortValue(id: string, descending: boolean): number | undefined {
    const entries = this.byId.get(id);
    if (!entries) return undefined;
    let v: number | undefined;
    for (const e of entries) {
      if (e.kind !== 'date' && e.kind !== 'number' && e.kind !== 'quantity') continue;
      const x = descending ? e.high : e.low;
      if (v === undefined || (descending ? x > v : x < v)) v = x;
    }
    return v;
  }

  private sortedStrings(text: boolean): string[] {
    if (text) return (this.textKeys ??= [...this.texts.keys()].sort());
    return (this.stringKeys ??= [...this.strings.keys()].sort());
  }

  private rangeRows(): RangeRow[] {
    if (!this.rows) {
      const rows: RangeRow[] = [];
      let span = 0;
      let mixed = false;
      for (const [id, entries] of this.byId) {
        for (const e of entries) {
          if (e.kind !== 'date' && e.kind !== 'number' && e.kind !== 'quantity') mixed = true;
          else {
            rows.push({ low: e.low, high: e.high, id, entry: e });
            const s = e.high - e.low;
            if (s > span || Number.isNaN(s)) span = Number.isNaN(s) ? Infinity : s;
          }
        }
      }
      rows.sort((a, b) => (a.low < b.low ? -1 : a.low > b.low ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      this.rows = rows;
      this.maxSpan = span;
      this.mixed = mixed;
    }
    return this.rows;
  }

  /**
   * A plan for the ids matching one predicate exactly: `estimate` is an upper bound on their number;
   * `run` adds them to `out`.
   */
  plan(p: Predicate): { estimate: number; run: (out: Set<string>) => void } {
    const posting = (key: string) => {
      const s = this.postings.get(key);
      return { estimate: postingSize(s), run: (out: Set<string>) => addAll(s, out) };
    };
    switch (p.kind) {
      case 'token':
        if (p.code !== undefined) {
          if (p.system === undefined) return posting(`c${SEP}${p.code}`);
          if (p.system === null) return posting(`n${SEP}${p.code}`);
          return posting(`s${SEP}${p.system}${SEP}${p.code}`);
        }
        if (typeof p.system === 'string') return posting(`S${SEP}${p.system}`);
        break;
      case 'reference':
        if (p.targetId !== undefined) return posting(p.targetType !== undefined ? `r${SEP}${p.targetType}/${p.targetId}` : `i${SEP}${p.targetId}`);
        if (p.url !== undefined) return posting(`u${SEP}${p.url}`);
        if (p.targetType !== undefined) return posting(`T${SEP}${p.targetType}`);
        return { estimate: 0, run: () => undefined };
      case 'uri':
        if (p.match === 'exact') return posting(`u${SEP}${p.value}`);
        break;
      case 'string':
      case 'text': {
        if (p.kind === 'string' && p.match === 'contains') break;
        const text = p.kind === 'text';
        const map = text ? this.texts : this.strings;
        const keys = this.sortedStrings(text);
        const prefix = p.kind === 'string' && p.match === 'exact' ? fold(p.exact) : p.folded;
        const exact = p.kind === 'string' && p.match === 'exact';
        const sets: Posting[] = [];
        let estimate = 0;
        if (exact) {
          // candidates share the folded value; verify `exact` on the entries
          const s = map.get(prefix);
          return {
            estimate: postingSize(s),
            run: (out) => {
              const tmp = new Set<string>();
              addAll(s, tmp);
              for (const id of tmp) if (this.matchesAny(id, p)) out.add(id);
            },
          };
        }
        for (let i = partitionPoint(keys, prefix, below); i < keys.length; i++) {
          const k = keys[i] as string;
          if (!k.startsWith(prefix)) break;
          const s = map.get(k);
          if (s !== undefined) {
            sets.push(s);
            estimate += postingSize(s);
          }
        }
        return { estimate, run: (out) => sets.forEach((s) => addAll(s, out)) };
      }
      case 'date':
      case 'number':
      case 'quantity': {
        const rows = this.rangeRows();
        const [start, end] = this.rowWindow(p);
        return {
          estimate: Math.max(0, end - start),
          run: (out) => {
            for (let i = start; i < end; i++) {
              const r = rows[i] as RangeRow;
              if (matchPredicate(r.entry, p)) out.add(r.id);
            }
          },
        };
      }
    }
    // exact fallback: scan this parameter's entries
    return {
      estimate: this.byId.size,
      run: (out) => {
        for (const id of this.byId.keys()) if (this.matchesAny(id, p)) out.add(id);
      },
    };
  }

  private matchesAny(id: string, p: Predicate): boolean {
    const entries = this.byId.get(id);
    if (!entries) return false;
    for (const e of entries) if (matchPredicate(e, p)) return true;
    return false;
  }
}


/**
 * The index of one resource type: every resource's entries, plus per-parameter posting structures
 * that are built on the first query of a parameter and maintained on every write from then on (so
 * that parameters nobody searches cost nothing on writes).
 */
class TypeIndex {
  readonly entries = new Map<string, readonly IndexEntry[]>();
  private readonly params = new Map<string, ParamIndex>();
  private sorted: string[] | null = null;

  /** The index of a parameter if it has been built. */
  built(code: string): ParamIndex | undefined {
    return this.params.get(code);
  }

  /** The built index of a parameter (building it now if needed). */
  param(code: string): ParamIndex {
    let p = this.params.get(code);
    if (!p) {
      p = new ParamIndex();
      for (const [id, entries] of this.entries) {
        const own = entries.filter((e) => e.param === code);
        if (own.length > 0) p.addEntries(id, own);
      }
      this.params.set(code, p);
    }
    return p;
  }

  set(id: string, entries: readonly IndexEntry[]): void {
    if (!this.entries.has(id)) this.sorted = null;
    this.entries.set(id, entries);
    if (this.params.size === 0) return;
    const groups = byParam(entries);
    for (const [code, p] of this.params) {
      const own = groups.get(code);
      if (own !== undefined) p.addEntries(id, own);
    }
  }

  /**
   * Replaces the entries of an indexed resource (adds one that is not): the postings of a parameter
   * whose entries did not change are left alone, so that an update touching two elements costs
   * about their two parameters, not the ~25 entries of the resource.
   */
  replace(id: string, entries: readonly IndexEntry[]): void {
    if (!this.entries.has(id)) {
      this.set(id, entries);
      return;
    }
    this.entries.set(id, entries);
    if (this.params.size === 0) return;
    const groups = byParam(entries);
    for (const [code, p] of this.params) {
      const own = groups.get(code);
      const previous = p.byId.get(id);
      if (previous === undefined && own === undefined) continue;
      if (previous !== undefined && own !== undefined && sameEntries(previous, own)) continue;
      p.removeEntries(id);
      if (own !== undefined) p.addEntries(id, own);
    }
  }

  /**
   * Appends entries of parameters not indexed so far. Their posting structures cannot be built yet
   * (a parameter is added before its first query), so only the per-resource list changes.
   */
  add(id: string, extra: readonly IndexEntry[]): void {
    const entries = this.entries.get(id);
    if (entries && extra.length > 0) this.entries.set(id, [...entries, ...extra]);
  }

  delete(id: string): void {
    if (!this.entries.delete(id)) return;
    this.sorted = null;
    for (const p of this.params.values()) p.removeEntries(id);
  }

  /** Every indexed id, ascending (rebuilt lazily after inserts and removals). */
  sortedIds(): string[] {
    return (this.sorted ??= [...this.entries.keys()].sort());
  }
}

interface Match {
  readonly version: StoredVersion;
  readonly pos: SortPosition;
}

/** How a query finds its candidates in one type. */
interface Plan {
  readonly estimate: number;
  readonly run: () => Iterable<string>;
  /** The clause the plan answers exactly (need not be verified again), or -1. */
  readonly exactClause: number;
}

const NO_VALUES: readonly never[] = [];

/** Posting-map search index for the memory adapter. */
export class MemoryIndex {
  private readonly types = new Map<string, TypeIndex>();

  private typeIndex(type: string): TypeIndex {
    let t = this.types.get(type);
    if (!t) this.types.set(type, (t = new TypeIndex()));
    return t;
  }

  /** Replaces the entries of a resource, which is searchable from now on (until removed). */
  replace(type: string, id: string, entries: readonly IndexEntry[]): void {
    this.typeIndex(type).replace(id, entries);
  }

  /** Adds entries of parameters a resource had none of so far (a parameter indexed late). */
  add(type: string, id: string, entries: readonly IndexEntry[]): void {
    this.types.get(type)?.add(id, entries);
  }

  /** Removes a resource from the index (a tombstone or a hard delete). */
  remove(type: string, id: string): void {
    this.types.get(type)?.delete(id);
  }

  /** The current entries of a resource, if indexed. */
  entriesOf(type: string, id: string): readonly IndexEntry[] | undefined {
    return this.types.get(type)?.entries.get(id);
  }

  /** Evaluates a query over current, non-deleted resources. */
  search(query: StorageQuery, current: (type: string, id: string) => StoredVersion | undefined): SearchHits {
    const after = query.after !== undefined ? decodePosition(query.after) : undefined;
    if (query.after !== undefined && !after) throw new Error(`Invalid search position '${query.after}'`);
    const limit = Math.max(0, query.limit);
    const sort = query.sort;
    const page: Match[] = []; // sorted, at most `limit`
    let total = 0;
    const types = [...new Set(query.types)].sort();

    const positionBefore = (m: Match, pos: SortPosition): boolean => comparePositions(m.pos, pos, sort) < 0;
    const accept = (type: string, id: string): StoredVersion | undefined => {
      const version = current(type, id);
      if (!version || version.deleted) return undefined;
      if (query.maxSeq !== undefined && version.seq > query.maxSeq) return undefined;
      return version;
    };

    for (const type of types) {
      const t = this.types.get(type);
      if (!t) continue;
      if (after && sort.length === 0 && type < after.type) continue;
      const plan = this.plan(t, query.where);
      if (plan && plan.estimate === 0) continue;
      const rest = plan && plan.exactClause >= 0 ? query.where.filter((_, i) => i !== plan.exactClause) : query.where;
      const n = t.entries.size;

      // Walk mode: no sort, no total, unselective driver → walk ids in order and stop at `limit`.
      if (sort.length === 0 && !query.total && limit > 0 && (!plan || plan.estimate * plan.estimate > limit * n)) {
        const ids = t.sortedIds();
        let i = 0;
        if (after && after.type === type) i = partitionPoint(ids, after.id, atMost);
        for (; i < ids.length && page.length < limit; i++) {
          const id = ids[i] as string;
          const entries = t.entries.get(id) as readonly IndexEntry[];
          if (!verify(t, entries, id, query.where)) continue;
          const version = accept(type, id);
          if (!version) continue;
          page.push({ version, pos: { type, id, values: NO_VALUES } });
        }
        if (page.length >= limit) break;
        continue;
      }

      // Sorted walk: one range sort key, no total, unselective driver → walk the sort order.
      if (
        sort.length === 1 &&
        types.length === 1 &&
        !query.total &&
        limit > 0 &&
        (!plan || plan.estimate * plan.estimate > limit * n)
      ) {
        const key = sort[0] as SortKey;
        const sp = t.param(key.param);
        const rows = sp.sortRows(key.descending);
        if (rows && this.sortedWalk(t, type, sp, key.param, rows, key.descending, query.where, after, limit, accept, page)) continue;
      }

      const candidates = plan ? plan.run() : t.entries.keys();
      const sortParams: Record<string, ParamIndex> = {};
      for (const k of sort) sortParams[k.param] = t.param(k.param);
      for (const id of candidates) {
        const entries = t.entries.get(id);
        if (!entries || !verify(t, entries, id, rest)) continue;
        const version = accept(type, id);
        if (!version) continue;
        total++;
        if (limit === 0) continue;
        const values = sort.length === 0 ? NO_VALUES : sort.map((k) => sortValue(sortParams[k.param]?.byId.get(id) ?? entries, k));
        const pos: SortPosition = { type, id, values };
        if (after && comparePositions(pos, after, sort) <= 0) continue;
        if (page.length === limit) {
          if (comparePositions(pos, (page[page.length - 1] as Match).pos, sort) >= 0) continue;
          page.pop();
        }
        page.splice(partitionPoint(page, pos, positionBefore), 0, { version, pos });
      }
    }
    const hits: SearchHit[] = page.map((m) => ({ ...m.version, position: encodePosition(m.pos) }));
    return query.total ? { hits, total } : { hits };
  }

  /**
   * Fills `page` in the order of one range sort key by walking its sorted rows, then the resources
   * without a value (by id). False when the parameter also has non-range entries (caller falls back).
   */
  private sortedWalk(
    t: TypeIndex,
    type: string,
    sp: ParamIndex,
    sortKeyParam: string,
    rows: readonly RangeRow[],
    descending: boolean,
    where: readonly Clause[],
    after: SortPosition | undefined,
    limit: number,
    accept: (type: string, id: string) => StoredVersion | undefined,
    page: Match[],
  ): boolean {
    const value = (r: RangeRow) => (descending ? r.high : r.low);
    const afterValue = after?.values[0];
    if (afterValue !== undefined && typeof afterValue !== 'number') return false;
    const sortParam = sortKeyParam;
    let i = 0;
    if (after && afterValue !== undefined) {
      // first row strictly after (afterValue, after.id) in walk order
      i = partitionPoint(rows, after, (r, at) => {
        const v = value(r);
        return (descending ? v > afterValue : v < afterValue) || (v === afterValue && r.id <= at.id);
      });
    } else if (after) i = rows.length; // the last page ended among resources without a value
    let end = rows.length;
    if (!descending && sp.singleValued()) {
      // rows outside a range clause on the sort parameter itself cannot match
      for (const c of where) {
        if (c.kind !== 'any' || c.param !== sortParam || c.of.length !== 1) continue;
        const pr = c.of[0] as Predicate;
        if (pr.kind !== 'date' && pr.kind !== 'number' && pr.kind !== 'quantity') continue;
        const [ws, we] = sp.rowWindow(pr);
        i = Math.max(i, ws);
        end = Math.min(end, we);
      }
    }
    const visited = new Set<string>();
    for (; i < end && page.length < limit; i++) {
      const r = rows[i] as RangeRow;
      if (visited.has(r.id)) continue;
      const own = sp.rangeSortValue(r.id, descending);
      if (own !== value(r)) continue; // not this resource's sort position
      visited.add(r.id);
      const entries = t.entries.get(r.id);
      if (!entries || !verify(t, entries, r.id, where)) continue;
      const version = accept(type, r.id);
      if (!version) continue;
      page.push({ version, pos: { type, id: r.id, values: [own] } });
    }
    if (page.length < limit) {
      const ids = t.sortedIds();
      let j = after && afterValue === undefined ? partitionPoint(ids, after.id, atMost) : 0;
      for (; j < ids.length && page.length < limit; j++) {
        const id = ids[j] as string;
        if (sp.byId.has(id)) continue;
        const entries = t.entries.get(id) as readonly IndexEntry[];
        if (!verify(t, entries, id, where)) continue;
        const version = accept(type, id);
        if (!version) continue;
        page.push({ version, pos: { type, id, values: [undefined] } });
      }
    }
    return true;
  }

  /** The most selective clause that postings can answer; undefined = scan every id. */
  private plan(t: TypeIndex, where: readonly Clause[]): Plan | undefined {
    let best: Plan | undefined;
    for (let ci = 0; ci < where.length; ci++) {
      const c = where[ci] as Clause;
      let plan: Plan | undefined;
      if (c.kind === 'ids') {
        plan = { estimate: c.ids.length, run: () => new Set(c.ids), exactClause: ci };
      } else if (c.kind === 'any') {
        const p = t.param(c.param);
        if (p.byId.size === 0) return { estimate: 0, run: () => [], exactClause: ci };
        const parts = c.of.map((pr) => p.plan(pr));
        const estimate = parts.reduce((n, x) => n + x.estimate, 0);
        plan = {
          estimate,
          run: () => {
            const out = new Set<string>();
            for (const x of parts) x.run(out);
            return out;
          },
          exactClause: ci,
        };
      } else if (c.kind === 'missing' && !c.missing) {
        const p = t.param(c.param);
        if (p.byId.size === 0) return { estimate: 0, run: () => [], exactClause: ci };
        plan = { estimate: p.byId.size, run: () => p.byId.keys(), exactClause: ci };
      }
      if (plan && (!best || plan.estimate < best.estimate)) best = plan;
      if (best && best.estimate === 0) return best;
    }
    return best;
  }
}

const EMPTY: readonly IndexEntry[] = [];

/** A resource's entries grouped by parameter, in their order. */
function byParam(entries: readonly IndexEntry[]): Map<string, IndexEntry[]> {
  const groups = new Map<string, IndexEntry[]>();
  for (const e of entries) {
    const group = groups.get(e.param);
    if (group === undefined) groups.set(e.param, [e]);
    else group.push(e);
  }
  return groups;
}

/** Whether two lists of one parameter's entries index the same values, in the same order. */
function sameEntries(a: readonly IndexEntry[], b: readonly IndexEntry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!sameEntry(a[i] as IndexEntry, b[i] as IndexEntry)) return false;
  return true;
}

function sameEntry(a: IndexEntry, b: IndexEntry): boolean {
  switch (a.kind) {
    case 'token':
      return b.kind === 'token' && a.system === b.system && a.code === b.code;
    case 'text':
      return b.kind === 'text' && a.folded === b.folded;
    case 'string':
      return b.kind === 'string' && a.folded === b.folded && a.exact === b.exact;
    case 'date':
    case 'number':
      return b.kind === a.kind && Object.is(a.low, b.low) && Object.is(a.high, b.high);
    case 'quantity':
      return b.kind === 'quantity' && Object.is(a.low, b.low) && Object.is(a.high, b.high) && a.system === b.system && a.code === b.code;
    case 'reference':
      return b.kind === 'reference' && a.targetType === b.targetType && a.targetId === b.targetId && a.url === b.url;
    case 'uri':
      return b.kind === 'uri' && a.value === b.value;
  }
}

/** Verifies clauses, using a built parameter index's per-resource entries when there is one. */
function verify(t: TypeIndex, entries: readonly IndexEntry[], id: string, where: readonly Clause[]): boolean {
  for (const c of where) {
    if (c.kind !== 'ids') {
      const p = t.built(c.param);
      if (p) {
        if (!matchClause(p.byId.get(id) ?? EMPTY, c, id)) return false;
        continue;
      }
    }
    if (!matchClause(entries, c, id)) return false;
  }
  return true;
}

