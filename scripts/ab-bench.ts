/**
 * Same-process before/after benchmark of two checkouts of this repository: bundles both engines into
 * one script and runs `ab-run.ts` (bundle modes, or core CRUD through handle()), so that the two are
 * measured under the same load, side by side, rather than in two runs minutes apart. For comparing a
 * change on a shared machine, where absolute figures move from run to run.
 *
 *   npx tsx scripts/ab-bench.ts <before-checkout> [after-checkout=.] [bundle|core] [rounds]
 *   e.g. git worktree add /tmp/base main && npx tsx scripts/ab-bench.ts /tmp/base . core 16
 *
 * (The before checkout needs no node_modules of its own: both resolve packages from this one.)
 * @packageDocumentation
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';

const [before, after = '.', which = 'bundle', rounds = '15'] = process.argv.slice(2);
if (before === undefined) {
  console.error('usage: npx tsx scripts/ab-bench.ts <before-checkout> [after-checkout] [bundle|core] [rounds]');
  process.exit(2);
}
const here = fileURLToPath(new URL('.', import.meta.url));
const outDir = resolve(here, `../node_modules/.cache/fhir-engine-ab/${process.pid}`);
mkdirSync(outDir, { recursive: true });
await build({
  entry: [resolve(here, 'ab-run.ts')],
  outDir,
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  outExtension: () => ({ js: '.mjs' }),
  external: ['better-sqlite3'],
  noExternal: [/^@before\//, /^@after\//],
  esbuildOptions(options) {
    options.alias = { '@before': resolve(before), '@after': resolve(after) };
    options.nodePaths = [resolve(here, '../node_modules')];
  },
  silent: true,
  config: false,
});
const outfile = `${outDir}/ab-run.mjs`;
const run = spawnSync(process.execPath, [outfile, which, rounds], { stdio: 'inherit' });
rmSync(outDir, { recursive: true, force: true });
process.exit(run.status ?? 1);
