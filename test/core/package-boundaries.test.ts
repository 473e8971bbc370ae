import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Module specifiers of `import … from`, `export … from`, bare `import '…'` and `import('…')`. */
const importsOf = (file: string): string[] =>
  [
    ...readFileSync(file, 'utf8').matchAll(
      /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]/gm,
    ),
  ].map((m) => (m[1] ?? m[2] ?? m[3])!);

describe('package boundaries', () => {
  it('the core (src/) imports no adapter, no native module and no node: built-in', () => {
    const offenders = sourceFiles(join(root, 'src')).flatMap((file) =>
      importsOf(file)
        .filter((spec) => spec.startsWith('node:') || spec === 'better-sqlite3' || spec.includes('/adapters/'))
        .map((spec) => `${file.slice(root.length)} imports ${spec}`),
    );
    expect(offenders).toEqual([]);
  });

  it('only the SQLite adapter imports better-sqlite3', () => {
    const importers = [...sourceFiles(join(root, 'src')), ...sourceFiles(join(root, 'adapters'))]
      .filter((file) => importsOf(file).includes('better-sqlite3'))
      .map((file) => file.slice(root.length));
    expect(importers.every((file) => file.startsWith('adapters/sqlite/'))).toBe(true);
  });

  it('adapters reach the core only through its public adapter kit (src/adapter-kit.ts)', () => {
    const offenders = sourceFiles(join(root, 'adapters')).flatMap((file) =>
      importsOf(file)
        .filter((spec) => spec.includes('/src/') && !spec.endsWith('/src/adapter-kit.js'))
        .map((spec) => `${file.slice(root.length)} imports ${spec}`),
    );
    expect(offenders).toEqual([]);
  });

  it('only src/fhirpath/ (the one compile cache and R4 model) imports fhirpath.js', () => {
    const importers = [...sourceFiles(join(root, 'src')), ...sourceFiles(join(root, 'adapters'))]
      .filter((file) => importsOf(file).some((spec) => spec === 'fhirpath' || spec.startsWith('fhirpath/')))
      .map((file) => file.slice(root.length));
    expect(importers.sort()).toEqual(['src/fhirpath/compile.ts', 'src/fhirpath/r4-model.ts']);
  });

  it('package.json exposes the core and each adapter as separate entry points', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(Object.keys(pkg.exports)).toEqual(expect.arrayContaining(['.', './adapters/memory', './adapters/sqlite']));
    expect(pkg.dependencies['better-sqlite3']).toBeUndefined();
    expect(pkg.peerDependenciesMeta['better-sqlite3'].optional).toBe(true);
  });
});
