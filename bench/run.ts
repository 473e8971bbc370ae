/**
 * `npm run bench`: runs every bench/*.bench.ts in its own process (so heap figures are not mixed)
 * and passes their JSON lines through. `npm run bench -- core` runs only files whose name contains
 * `core`.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const filter = process.argv[2] ?? '';
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts') && f.includes(filter))
  .sort();
let failed = 0;
for (const file of files) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', `${dir}${file}`], { stdio: 'inherit' });
  if (result.status !== 0) {
    failed++;
    console.error(JSON.stringify({ bench: file, error: `exited with ${result.status}` }));
  }
}
process.exit(failed ? 1 : 0);
