/**
 * The adapters that corpus-driven tests run on. Imported statically: an adapter that cannot load (a
 * missing native build of better-sqlite3, say) fails the test files that use it instead of skipping them.
 */
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import type { StorageAdapter } from '../../src/storage/storage-adapter.js';

export const ADAPTERS: readonly (readonly [name: string, make: () => StorageAdapter])[] = [
  ['memory', () => new MemoryAdapter()],
  ['sqlite', () => new SqliteAdapter({ filename: ':memory:' })],
];
