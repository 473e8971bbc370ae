/**
 * The generated table: in step with its generator and the npm package, and closed (every type an element
 * names is defined).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RESOURCE_TYPES, primitiveType, structure } from '../../src/validation/definitions.js';
import { r4ExamplesDir } from '../support/corpora.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const committed = join(root, 'src/search/structure-definitions-r4.json');
const table = JSON.parse(readFileSync(committed, 'utf8')) as {
  resourceTypes: string[];
  primitives: Record<string, unknown>;
  structures: Record<string, unknown>;
};

describe('src/search/structure-definitions-r4.json', () => {
  it('is what the generator makes from hl7.fhir.r4.examples@4.0.1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'structures-'));
    try {
      const output = join(dir, 'out.json');
      execFileSync(process.execPath, ['--import', 'tsx', join(root, 'scripts/generate-structure-definitions.ts'), r4ExamplesDir, output], { cwd: root, stdio: 'pipe' });
      expect(readFileSync(output, 'utf8') === readFileSync(committed, 'utf8')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('has the 146 R4 resource types and 20 primitives, and every type an element names is defined', () => {
    expect(RESOURCE_TYPES.size).toBe(146);
    expect(Object.keys(table.primitives)).toHaveLength(20);
    const undefinedTypes = Object.keys(table.structures).flatMap((name) =>
      [...structure(name)!.keys.values()]
        .filter((key) => !key.primitive && key.type !== 'Resource' && !structure(key.type))
        .map((key) => `${name}.${key.key}: ${key.type}`),
    );
    expect(undefinedTypes).toEqual([]);
    expect(primitiveType('dateTime')?.json).toBe('string');
    expect(primitiveType('positiveInt')?.json).toBe('number');
  });
});
