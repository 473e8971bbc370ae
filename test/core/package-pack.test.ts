/**
 * The package as a user gets it: built with declarations, packed, checked by
 * `@arethetypeswrong/cli` (node16 and bundler resolution), installed from the tarball into a project
 * of its own outside this repository, and used from an ES module, a CommonJS module and the bin.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
let work: string;
let tarball: string;
let app: string;

const run = (command: string, args: string[], cwd: string): string =>
  execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false' } });

describe('the packed package', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'fhir-engine-pack-'));
    // Staged copy: the build does not touch this checkout's dist/.
    const stage = join(work, 'stage');
    mkdirSync(stage);
    for (const file of ['package.json', 'README.md', 'LICENSE']) cpSync(join(root, file), join(stage, file));
    run(process.execPath, [join(root, 'node_modules/tsup/dist/cli-default.js'), '--out-dir', join(stage, 'dist'), '--silent'], root);
    tarball = join(work, run('npm', ['pack', '--silent', '--pack-destination', work], stage).trim().split('\n').pop()!);
    app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    // From the npm cache `npm ci` filled: the package's own dependencies, nothing of this repository.
    run('npm', ['install', '--prefer-offline', '--no-package-lock', '--ignore-scripts', tarball], app);
  }, 300_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('ships the built entries, the LICENSE and the README; no source maps, no sources', () => {
    const files = run('tar', ['tzf', tarball], work).trim().split('\n').map((f) => f.replace(/^package\//, ''));
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts', 'dist/node/index.js', 'dist/cli.js']));
    expect(files.filter((f) => f.endsWith('.map') || f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.d.cts'))).toEqual([]);
  });

  it('lists only the dependencies it does not bundle (p-limit is bundled), and leaves @internal members out of its declarations', () => {
    const pkg = JSON.parse(readFileSync(join(app, 'node_modules/fhir-engine/package.json'), 'utf8'));
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['fast-json-patch', 'fastify-plugin', 'fhirpath', 'zod']);
    expect(pkg.repository.url).toMatch(/^git\+https:/);
    expect(pkg.bugs.url).toBeDefined();
    expect(pkg.homepage).toBeDefined();
    const dts = run('sh', ['-c', 'cat dist/*.d.ts'], join(app, 'node_modules/fhir-engine'));
    expect(dts).toContain('class FhirEngine');
    // `FhirEngine.context` is @internal.
    expect(dts).not.toMatch(/get context\(\)/);
  });

  it('has no problems under @arethetypeswrong/cli for node16 (CJS and ESM) and bundler resolution', () => {
    let out: string;
    try {
      out = run(process.execPath, [join(root, 'node_modules/@arethetypeswrong/cli/dist/index.js'), tarball, '--profile', 'node16', '--format', 'json'], work);
    } catch (error) {
      out = (error as { stdout: string }).stdout;
    }
    const { problems } = JSON.parse(out) as { problems: Record<string, { resolutionKind?: string; entrypoint?: string }[]> };
    // The node16 profile leaves out node10 (pre-`exports`) resolution, which subpath entries cannot have.
    const found = Object.values(problems).flat().filter((p) => p.resolutionKind !== 'node10');
    expect(found).toEqual([]);
  });

  it('works from an ES module and from CommonJS; a FhirError of one build is isFhirError() to the other', () => {
    writeFileSync(
      join(app, 'esm.mjs'),
      `import { FhirEngine, isFhirError } from 'fhir-engine';
       import { MemoryAdapter } from 'fhir-engine/adapters/memory';
       import { fhirListener } from 'fhir-engine/node';
       import { runAdapterConformance } from 'fhir-engine/testing';
       import { createRequire } from 'node:module';
       const engine = new FhirEngine({ storage: new MemoryAdapter() });
       const { resource } = await engine.create({ resourceType: 'Patient', name: [{ family: 'Esm' }] });
       const search = await engine.search('Patient', 'family=esm');
       const cjs = createRequire(import.meta.url)('fhir-engine');
       const other = new cjs.FhirEngine({ storage: new MemoryAdapter() });
       const error = await other.read('Patient', 'nope').catch((e) => e);
       console.log(JSON.stringify({ id: typeof resource.id, matches: search.entry.length, listener: typeof fhirListener(engine), kit: typeof runAdapterConformance,
         crossInstanceof: error instanceof (await import('fhir-engine')).FhirError, crossIsFhirError: isFhirError(error), status: error.status }));`,
    );
    expect(JSON.parse(run(process.execPath, ['esm.mjs'], app))).toEqual({ id: 'string', matches: 1, listener: 'function', kit: 'function', crossInstanceof: false, crossIsFhirError: true, status: 404 });
    writeFileSync(
      join(app, 'cjs.cjs'),
      `const { FhirEngine } = require('fhir-engine');
       const { MemoryAdapter } = require('fhir-engine/adapters/memory');
       const { fhirFastify } = require('fhir-engine/node');
       const engine = new FhirEngine({ storage: new MemoryAdapter() });
       engine.handle({ method: 'POST', url: '/Patient', body: { resourceType: 'Patient' } })
         .then((res) => console.log(JSON.stringify({ status: res.status, plugin: typeof fhirFastify })));`,
    );
    expect(JSON.parse(run(process.execPath, ['cjs.cjs'], app))).toEqual({ status: 201, plugin: 'function' });
  });

  it('installs the fhir-engine bin', () => {
    const help = run(join(app, 'node_modules/.bin/fhir-engine'), ['--help'], app);
    expect(help).toContain('Usage: fhir-engine serve [options]');
    expect(run(join(app, 'node_modules/.bin/fhir-engine'), ['--version'], app).trim()).toBe(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version);
  });
});
