/**
 * Bundles a TypeScript entry into one ES module that plain `node` runs, for tests that start a child
 * process: the child then starts as fast as the real thing, without a TypeScript loader in the race.
 * The output lands under `node_modules/.cache/`, so that its external imports (better-sqlite3, fhirpath,
 * …) resolve from the repository's `node_modules` like the built package's do.
 */
import { chmodSync, mkdirSync, mkdtempSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Bundles `entry` (a path relative to the repository) and returns the absolute path of the `.js` file. */
export async function bundleForNode(entry: string): Promise<string> {
  const cache = join(repoRoot, 'node_modules', '.cache', 'fhir-engine-tests');
  mkdirSync(cache, { recursive: true });
  const outDir = mkdtempSync(join(cache, 'bundle-'));
  chmodSync(outDir, 0o755); // a child may run as another user
  const name = basename(entry).replace(/\.ts$/, '');
  await build({
    config: false,
    entry: { [name]: join(repoRoot, entry) },
    outDir,
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    external: ['better-sqlite3'],
    dts: false,
    sourcemap: false,
    splitting: false,
    silent: true,
  });
  return join(outDir, `${name}.js`);
}
