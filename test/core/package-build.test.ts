import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
let out: string;

/** Runs a script with node in the repository (so `better-sqlite3` and friends resolve) and returns its output. */
const node = (args: string[]): string => execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' });

describe('the built package', () => {
  beforeAll(() => {
    // Inside the repository, so the built files resolve dependencies from its node_modules.
    out = mkdtempSync(join(root, 'node_modules', '.fhir-engine-build-'));
    execFileSync(process.execPath, [join(root, 'node_modules/tsup/dist/cli-default.js'), '--out-dir', out, '--silent'], {
      cwd: root,
      env: { ...process.env, TSUP_NO_DTS: '1' },
      stdio: 'pipe',
    });
  }, 120_000);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('works through require() (CommonJS) and loads no native module for the core', () => {
    const script = `
      const { FhirEngine } = require(${JSON.stringify(join(out, 'index.cjs'))});
      const { MemoryAdapter } = require(${JSON.stringify(join(out, 'adapters/memory/index.cjs'))});
      const engine = new FhirEngine({ storage: new MemoryAdapter() });
      engine.handle({ method: 'POST', url: '/Patient', body: { resourceType: 'Patient', name: [{ family: 'Cjs' }] } })
        .then(() => engine.handle({ method: 'GET', url: '/Patient?family=cjs' }))
        .then((res) => console.log(JSON.stringify({
          matches: JSON.parse(res.body).entry.length,
          sqlite: Object.keys(require.cache).some((k) => k.includes('better-sqlite3')),
        })));`;
    expect(JSON.parse(node(['-e', script]))).toEqual({ matches: 1, sqlite: false });
  });

  it('works through import (ESM), with the SQLite adapter as its own entry point', () => {
    const script = `
      const { FhirEngine } = await import(${JSON.stringify(join(out, 'index.js'))});
      const { SqliteAdapter } = await import(${JSON.stringify(join(out, 'adapters/sqlite/index.js'))});
      const engine = new FhirEngine({ storage: new SqliteAdapter({ filename: ':memory:' }) });
      const created = await engine.handle({ method: 'POST', url: '/Patient', body: { resourceType: 'Patient' } });
      await engine.close();
      console.log(created.status);`;
    expect(node(['--input-type=module', '-e', script]).trim()).toBe('201');
  });
});
