/**
 * The memory adapter against SQLite on the same data and the same generated searches. The conformance
 * suite's oracle (`matchClause` over the extracted entries) is the very function the memory adapter
 * filters with, so on its own it cannot catch a matcher bug on the memory path; SQLite answers from SQL,
 * an independent implementation. Runs the bare adapters, the memory adapter's lazy index (through the
 * engine's indexer) and `FhirEngine.search` with query strings on both, for a fixed and a fresh seed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { FhirEngine } from '../../src/engine.js';
import type { Resource } from '../../src/resource/resource.js';
import { IndexExtractor } from '../../src/search/extract.js';
import { SearchParameterRegistry } from '../../src/search/registry.js';
import type { StorageAdapter } from '../../src/storage/storage-adapter.js';
import { differentialSeeds, generateQueries, type DiffQuery } from '../../src/testing/differential.js';
import { put } from '../../src/testing/search-cases.js';
import { r4Examples } from '../support/corpora.js';

const extractor = new IndexExtractor(SearchParameterRegistry.r4());
/** Every `STRIDE`th generated query: enough to reach every parameter, at a cost SQLite answers in seconds. */
const STRIDE = 2;

describe('differential: memory adapter vs SQLite over the 641 R4 examples', () => {
  const seeds = differentialSeeds();
  const queries = new Map<number, DiffQuery[]>();
  let sqlite: SqliteAdapter;
  let memory: MemoryAdapter;
  let lazyMemory: MemoryAdapter;
  let sqliteEngine: FhirEngine;
  let memoryEngine: FhirEngine;

  beforeAll(async () => {
    const resources: Resource[] = r4Examples();
    sqlite = new SqliteAdapter({ filename: ':memory:' });
    memory = new MemoryAdapter();
    // Engines first, so that the lazy memory index is the one used in production.
    const lazySqlite = new SqliteAdapter({ filename: ':memory:' });
    lazyMemory = new MemoryAdapter();
    sqliteEngine = new FhirEngine({ storage: lazySqlite });
    memoryEngine = new FhirEngine({ storage: lazyMemory });
    for (const adapter of [sqlite, memory, lazySqlite, lazyMemory] as StorageAdapter[]) await put(adapter, resources);
    const corpus = resources.map((r) => ({ type: r.resourceType, id: r.id!, entries: extractor.extract(r) }));
    for (const seed of seeds) queries.set(seed, generateQueries(corpus, seed).filter((_, i) => i % STRIDE === 0));
  }, 120_000);

  afterAll(async () => {
    await Promise.all([sqlite?.close(), memory?.close(), sqliteEngine?.close(), memoryEngine?.close()]);
  });

  const search = async (adapter: StorageAdapter, query: DiffQuery): Promise<string[]> =>
    (await adapter.search({ types: [query.type], where: query.where, sort: [], limit: 100_000 })).hits.map((h) => h.id).sort();

  it('the bare memory adapter, and the memory adapter behind the engine, answer as SQLite does', async () => {
    let nonEmpty = 0;
    for (const [seed, list] of queries) {
      for (const query of list) {
        const want = await search(sqlite, query);
        const bare = await search(memory, query);
        const lazy = await search(lazyMemory, query);
        if (JSON.stringify([bare, lazy]) !== JSON.stringify([want, want])) {
          const shown = JSON.stringify(query);
          expect({ seed, query: shown, bare, lazy }).toEqual({ seed, query: shown, bare: want, lazy: want });
        }
        if (want.length > 0) nonEmpty++;
      }
    }
    expect(nonEmpty).toBeGreaterThan(2000);
  });

  it('FhirEngine.search with query strings answers the same on memory and on SQLite', async () => {
    const ids = async (engine: FhirEngine, query: DiffQuery) =>
      ((await engine.search(query.type, `${query.qs}&_count=1000`)).entry ?? []).map((e) => e.resource!.id!).sort();
    let run = 0;
    for (const [seed, list] of queries) {
      for (const query of list) {
        if (query.qs === undefined) continue;
        run++;
        const want = await ids(sqliteEngine, query);
        const got = await ids(memoryEngine, query);
        if (JSON.stringify(got) !== JSON.stringify(want)) expect({ seed, qs: `${query.type}?${query.qs}`, got }).toEqual({ seed, qs: `${query.type}?${query.qs}`, got: want });
      }
    }
    expect(run).toBeGreaterThan(5000);
  });
});
