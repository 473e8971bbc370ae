import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** The package's entry points, resolved to their sources: tests import them as a user would, with no build first. */
const ENTRIES: Record<string, string> = {
  'fhir-engine': 'src/index.ts',
  'fhir-engine/node': 'src/node/index.ts',
  'fhir-engine/testing': 'src/testing/index.ts',
  'fhir-engine/adapters/memory': 'adapters/memory/index.ts',
  'fhir-engine/adapters/sqlite': 'adapters/sqlite/index.ts',
  'fhir-engine/adapters/postgres': 'adapters/postgres/index.ts',
  'fhir-engine/adapters/directory-export': 'adapters/directory-export/index.ts',
};

export default defineConfig({
  resolve: {
    alias: Object.entries(ENTRIES).map(([name, path]) => ({
      find: new RegExp(`^${name.replace(/[/]/g, '\\/')}$`),
      replacement: fileURLToPath(new URL(path, import.meta.url)),
    })),
  },
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    globalSetup: ['test/support/corpora-setup.ts', 'test/postgres/global-setup.ts'],
  },
});
