/**
 * The validator's generated fast path (`src/validation/compiled.ts`) may only say "valid" where the walker
 * finds nothing: checked on every resource of the npm R4 examples (the invalid ones included) and of the
 * Synthea bundles, and on hand-made cases for what it leaves to the walker. It must also say "valid" for
 * nearly every valid resource, or it buys nothing.
 */
import { describe, expect, it } from 'vitest';
import { validFast } from '../../src/validation/compiled.js';
import { DEFAULT_MAX_DEPTH } from '../../src/validation/index.js';
import { walkResource } from '../../src/validation/validate.js';
import { allR4ExampleFiles, r4Example, synthea } from '../support/corpora.js';

const fast = (value: unknown, maxDepth = DEFAULT_MAX_DEPTH): boolean => validFast(value, maxDepth);

describe('the generated fast path agrees with the walker', () => {
  it('on every npm R4 example and every Synthea resource: never valid where the walker finds issues, valid nearly everywhere else', () => {
    // Synthea (only in ../shared) when present: the npm examples alone decide otherwise.
    const bundles: { entry?: { resource: unknown }[] }[] = synthea.available
      ? ['synthea-v2-simple', 'synthea-v3-conditional'].flatMap((folder) => synthea.files(folder).map((file) => synthea.json(`${folder}/${file}`)))
      : [];
    const resources = [...allR4ExampleFiles().map((f) => r4Example<unknown>(f)), ...bundles.flatMap((b) => [b, ...(b.entry ?? []).map((e) => e.resource)])];
    let valid = 0;
    let fastValid = 0;
    const wrong: string[] = [];
    for (const resource of resources) {
      const walkerValid = walkResource(resource).length === 0;
      const fastSays = fast(resource);
      if (fastSays && !walkerValid) wrong.push(JSON.stringify(resource).slice(0, 80));
      if (walkerValid) valid++;
      if (fastSays) fastValid++;
    }
    expect(wrong).toEqual([]);
    expect(resources.length).toBeGreaterThan(5000);
    // What it leaves to the walker (null items and `_x` arrays of primitive arrays) is rare in real data.
    expect(fastValid / valid).toBeGreaterThan(0.97);
  });

  it('leaves the unusual to the walker, and says not valid for what the walker reports', () => {
    const patient = { resourceType: 'Patient', name: [{ given: ['a', null], _given: [null, { extension: [{ url: 'http://x', valueString: 'v' }] }] }] };
    expect(fast(patient)).toBe(false);
    expect(walkResource(patient)).toEqual([]);
    const inherited = Object.assign(Object.create({ gender: 'male' }) as object, { resourceType: 'Patient' });
    expect(fast(inherited)).toBe(false);
    for (const bad of [
      { resourceType: 'Patient', gender: 'other ' },
      { resourceType: 'Patient', birthDate: '2023-02-30' },
      { resourceType: 'Patient', active: true, deceasedBoolean: false, deceasedDateTime: '2020' },
      { resourceType: 'Patient', name: [{}] },
      { resourceType: 'Patient', _birthDate: { extension: [] } },
      { resourceType: 'Patient', managingOrganization: { reference: 'patient/1' } },
      { resourceType: 'Observation', status: 'final' },
      { resourceType: 'Patient', contained: [{ resourceType: 'Nope' }] },
      { resourceType: 'Patient', resourceType2: 1 },
      { resourceType: 'Patient', text: { status: 'generated', div: '<div>\u0000</div>' } },
    ]) {
      expect(walkResource(bad).length).toBeGreaterThan(0);
      expect(fast(bad)).toBe(false);
    }
  });

  it('says not valid past the depth limit, as the walker does', () => {
    const deep = { resourceType: 'Patient', extension: [{ url: 'http://x', extension: [{ url: 'http://y', valueString: 'z' }] }] };
    expect(fast(deep, 2)).toBe(false);
    expect(walkResource(deep, { maxDepth: 2 }).map((i) => i.code)).toEqual(['too-costly']);
    expect(fast(deep, 3)).toBe(true);
  });
});
