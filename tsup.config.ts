import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'node/index': 'src/node/index.ts',
    'adapters/memory/index': 'adapters/memory/index.ts',
    'adapters/sqlite/index': 'adapters/sqlite/index.ts',
    'adapters/postgres/index': 'adapters/postgres/index.ts',
    // The `fhir-engine` executable (package.json `bin`).
    cli: 'cli/bin.ts',
  },
  format: ['esm', 'cjs'],
  // The package test builds without declarations to stay quick.
  dts: process.env.TSUP_NO_DTS !== '1',
  clean: true,
  sourcemap: true,
  target: 'node20',
  define: { __VERSION__: JSON.stringify(version) },
  // Adapters import the core through relative paths; keep native drivers external.
  external: ['better-sqlite3', 'pg', 'fastify'],
  // p-limit is ESM-only: bundle it (it is tiny) so that the CommonJS build can call it.
  noExternal: ['p-limit', 'yocto-queue'],
});
