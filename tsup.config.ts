import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

/** The library entry points (package.json `exports`), by output name. */
const LIBRARY = {
  index: 'src/index.ts',
  'node/index': 'src/node/index.ts',
  'testing/index': 'src/testing/index.ts',
  'adapters/memory/index': 'adapters/memory/index.ts',
  'adapters/sqlite/index': 'adapters/sqlite/index.ts',
  'adapters/postgres/index': 'adapters/postgres/index.ts',
  'adapters/directory-export/index': 'adapters/directory-export/index.ts',
};

const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

export default defineConfig({
  // The library, and the `fhir-engine` executable (package.json `bin`).
  entry: { ...LIBRARY, cli: 'cli/bin.ts' },
  format: ['esm', 'cjs'],
  // Declarations for the library entries (not the executable), `@internal` members left out.
  // The package test builds without them to stay quick.
  dts: process.env.TSUP_NO_DTS === '1' ? false : { entry: LIBRARY, compilerOptions: { stripInternal: true } },
  clean: true,
  // No source maps: they would ship the sources, or point at files the package does not have.
  sourcemap: false,
  target: 'node20',
  define: { __VERSION__: JSON.stringify(version) },
  // Adapters import the core through relative paths; keep native drivers external.
  external: ['better-sqlite3', 'pg', 'fastify'],
  // p-limit is ESM-only: bundle it (it is tiny) so that the CommonJS build can call it.
  noExternal: ['p-limit', 'yocto-queue'],
});
