import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
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

/** Every module a file imports or re-exports, type-only ones included, as TypeScript reads them. */
const specifiersOf = (file: string): string[] =>
  ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((i) => i.fileName);

/** The files a file imports from this repository (`./x.js` → `x.ts`, a folder → its `index.ts`). */
function localImportsOf(file: string): string[] {
  return specifiersOf(file)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => {
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
      return existsSync(target) && statSync(target).isFile() ? target : join(target, 'index.ts');
    });
}

/** The import cycles of a graph: its strongly connected components of more than one file (Tarjan), and self-imports. */
function cyclesOf(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.includes(v)) cycles.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

const rel = (file: string): string => relative(root, file);

describe('package boundaries', () => {
  const core = sourceFiles(join(root, 'src'));
  const adapters = sourceFiles(join(root, 'adapters'));

  it('checks a non-empty list of files', () => {
    expect(core.length).toBeGreaterThan(40);
    expect(adapters.length).toBeGreaterThan(5);
    expect(core.map(rel)).toEqual(expect.arrayContaining(['src/routes.ts', 'src/http/handle.ts', 'src/bundle/batch.ts']));
  });

  it('nothing in the core imports the Node mount helpers (src/node/)', () => {
    const node = join(root, 'src', 'node') + '/';
    const offenders = core
      .filter((file) => !file.startsWith(node))
      .flatMap((file) => localImportsOf(file).filter((target) => target.startsWith(node)).map((target) => `${rel(file)} imports ${rel(target)}`));
    expect(core.filter((file) => file.startsWith(node)).length).toBeGreaterThan(2);
    expect(offenders).toEqual([]);
  });

  it('only the HTTP edge knows HTTP: bundle/, jobs/, interactions/, search/ and patch/ never import http/', () => {
    const inner = ['bundle', 'jobs', 'interactions', 'search', 'patch'].map((dir) => join(root, 'src', dir));
    const http = join(root, 'src', 'http');
    const checked = core.filter((file) => inner.some((dir) => file.startsWith(dir + '/')));
    expect(checked.length).toBeGreaterThan(20);
    const offenders = checked.flatMap((file) =>
      localImportsOf(file)
        .filter((target) => target.startsWith(http + '/'))
        .map((target) => `${rel(file)} imports ${rel(target)}`),
    );
    expect(offenders).toEqual([]);
  });

  it('has no import cycles in src/ and adapters/, type-only imports included', () => {
    const graph = new Map([...core, ...adapters].map((file) => [file, localImportsOf(file)]));
    expect(graph.size).toBe(core.length + adapters.length);
    expect([...graph.values()].flat().length).toBeGreaterThan(200);
    expect(cyclesOf(graph).map((cycle) => cycle.map(rel))).toEqual([]);
  });

  it('the cycle check finds a cycle, type-only or not', () => {
    const a = join(root, 'a.ts');
    const b = join(root, 'b.ts');
    const c = join(root, 'c.ts');
    expect(cyclesOf(new Map([[a, [b]], [b, [c]], [c, [a]]])).map((cycle) => cycle.map(rel))).toEqual([['a.ts', 'b.ts', 'c.ts']]);
    expect(cyclesOf(new Map([[a, [b]], [b, []]]))).toEqual([]);
    expect(specifiersOf(join(root, 'src/storage/storage-adapter.ts'))).toEqual(expect.arrayContaining(['./query.js', './stored-version.js']));
  });

  it('the core (src/ but the Node mount helpers in src/node/ and the conformance kit in src/testing/) imports no adapter, no native module and no node: built-in', () => {
    const nodeOnly = ['node', 'testing'].map((dir) => join(root, 'src', dir) + '/');
    const offenders = sourceFiles(join(root, 'src')).filter((file) => !nodeOnly.some((dir) => file.startsWith(dir))).flatMap((file) =>
      importsOf(file)
        .filter((spec) => spec.startsWith('node:') || spec === 'better-sqlite3' || spec.includes('/adapters/'))
        .map((spec) => `${file.slice(root.length)} imports ${spec}`),
    );
    expect(offenders).toEqual([]);
    // The kit imports no adapter and no test runner either: it runs on the caller's.
    const kit = sourceFiles(join(root, 'src', 'testing')).flatMap((file) =>
      importsOf(file).filter((spec) => spec.includes('/adapters/') || spec === 'vitest').map((spec) => `${rel(file)} imports ${spec}`),
    );
    expect(kit).toEqual([]);
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
