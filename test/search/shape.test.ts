import { describe, expect, it } from 'vitest';
import type { Resource } from '../../src/resource/resource.js';
import { shapeResource, shapes } from '../../src/search/shape.js';

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'Resource encoded in summary mode' };
const patient = (): Resource => ({
  resourceType: 'Patient',
  id: 'p1',
  meta: { versionId: '2', tag: [{ code: 'keep' }] },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">P</div>' },
  gender: 'female',
  birthDate: '1980-01-01',
  _birthDate: { extension: [{ url: 'x', valueString: 'y' }] },
  name: [{ family: 'Muller' }],
});

describe('search result shaping', () => {
  it('_elements keeps the listed elements, their extensions and the mandatory ones, tagged SUBSETTED', () => {
    expect(shapeResource(patient(), { elements: ['Patient.birthDate', 'gender'], summary: undefined })).toEqual({
      resourceType: 'Patient',
      id: 'p1',
      meta: { versionId: '2', tag: [{ code: 'keep' }, SUBSETTED] },
      gender: 'female',
      birthDate: '1980-01-01',
      _birthDate: { extension: [{ url: 'x', valueString: 'y' }] },
    });
  });

  it('_summary=text keeps id, meta and text; _summary=data drops text', () => {
    const text = shapeResource(patient(), { elements: undefined, summary: 'text' });
    expect(Object.keys(text).sort()).toEqual(['id', 'meta', 'resourceType', 'text']);
    expect(text.meta?.tag).toEqual([{ code: 'keep' }, SUBSETTED]);
    const data = shapeResource(patient(), { elements: undefined, summary: 'data' });
    const { text: _text, ...rest } = patient();
    expect(data).toEqual({ ...rest, meta: { versionId: '2', tag: [{ code: 'keep' }, SUBSETTED] } });
  });

  it('leaves the resource alone otherwise', () => {
    const r = patient();
    for (const parsed of [{ elements: undefined, summary: undefined }, { elements: [], summary: 'false' as const }, { elements: undefined, summary: 'count' as const }]) {
      expect(shapes(parsed)).toBe(false);
      expect(shapeResource(r, parsed)).toBe(r);
    }
    expect(r).toEqual(patient());
    expect(shapes({ elements: ['gender'], summary: undefined })).toBe(true);
  });
});
