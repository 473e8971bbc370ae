/**
 * SQLite storage for fhir-engine, on [better-sqlite3](https://github.com/WiseLibs/better-sqlite3)
 * (an optional peer dependency: install it to use this entry point).
 *
 * @example
 * ```ts
 * import { SqliteAdapter } from 'fhir-engine/adapters/sqlite';
 * const storage = new SqliteAdapter({ filename: './data/fhir.db' }); // or { filename: ':memory:' }
 * ```
 *
 * TypeScript users also need `@types/better-sqlite3` (a dev dependency of your project).
 *
 * @packageDocumentation
 * @module fhir-engine/adapters/sqlite
 */
export { SqliteAdapter } from './sqlite-adapter.js';
export type { SqliteAdapterOptions, SqliteCommonOptions, SqliteSynchronous } from './sqlite-adapter.js';
export { SCHEMA_VERSION } from './schema.js';
