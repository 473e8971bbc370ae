/**
 * `fhir-engine/adapters/postgres`: the PostgreSQL storage adapter. Needs the optional peer
 * dependency `pg` (node-postgres).
 * @packageDocumentation
 * @module fhir-engine/adapters/postgres
 */
export { PostgresAdapter, type PostgresAdapterOptions, type PostgresCommonOptions } from './postgres-adapter.js';
export { SCHEMA_VERSION } from './schema.js';
