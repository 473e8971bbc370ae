/**
 * `fhir-engine/adapters/postgres`: the PostgreSQL storage adapter. Needs the optional peer
 * dependency `pg` (node-postgres).
 * @packageDocumentation
 */
export { PostgresAdapter, type PostgresAdapterOptions, type PostgresCommonOptions } from './postgres-adapter.js';
export { SCHEMA_VERSION } from './schema.js';
