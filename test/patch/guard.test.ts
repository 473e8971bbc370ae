import { describe, expect, it } from 'vitest';
import { FhirError } from '../../src/errors.js';
import type { Resource } from '../../src/resource/resource.js';
import {
  assertNoProtoKeys,
  assertPatchResultAllowed,
  assertSafeSegments,
  FORBIDDEN_SEGMENTS,
  IMMUTABLE_MESSAGE,
} from '../../src/patch/index.js';

const original = (): Resource => ({
  resourceType: 'Patient',
  id: 'p1',
  meta: { versionId: '1', lastUpdated: '2024-01-01T00:00:00Z', tag: [{ code: 'a' }] },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' },
  gender: 'male',
});

function thrown(fn: () => unknown): FhirError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FhirError);
    return error as FhirError;
  }
  throw new Error('expected a FhirError');
}

describe('assertPatchResultAllowed', () => {
  it('accepts unchanged immutables and changes elsewhere (including meta.tag/security/profile)', () => {
    const patched = original();
    patched['gender'] = 'female';
    patched.meta = { ...patched.meta, tag: [], security: [{ code: 'R' }], profile: ['http://p'] };
    expect(() => assertPatchResultAllowed(original(), patched)).not.toThrow();
  });

  it.each<[string, (r: Resource) => void]>([
    ['id changed', (r) => (r.id = 'p2')],
    ['id removed', (r) => delete r.id],
    ['resourceType changed', (r) => (r.resourceType = 'Observation')],
    ['meta.versionId changed', (r) => (r.meta!.versionId = '2')],
    ['meta.lastUpdated changed', (r) => (r.meta!.lastUpdated = '2025-01-01T00:00:00Z')],
    ['meta removed', (r) => delete r.meta],
    ['text.div changed', (r) => ((r['text'] as Record<string, unknown>)['div'] = '<div/>')],
    ['text.status changed', (r) => ((r['text'] as Record<string, unknown>)['status'] = 'empty')],
    ['text removed', (r) => delete r['text']],
  ])('refuses %s with 400 invalid', (_name, mutate) => {
    const patched = original();
    mutate(patched);
    const error = thrown(() => assertPatchResultAllowed(original(), patched));
    expect(error.status).toBe(400);
    expect(error.message).toBe(IMMUTABLE_MESSAGE);
    expect(error.issues[0]?.code).toBe('invalid');
  });

  it('refuses adding an id to a resource that had none', () => {
    const before: Resource = { resourceType: 'Patient' };
    expect(thrown(() => assertPatchResultAllowed(before, { resourceType: 'Patient', id: 'x' })).status).toBe(400);
  });

  it.each([[null], [[]], ['Patient'], [{ id: 'p1' }]])('refuses a non-resource result %j', (value) => {
    expect(thrown(() => assertPatchResultAllowed(original(), value)).status).toBe(400);
  });
});

describe('prototype pollution guards', () => {
  it('refuses forbidden segments', () => {
    for (const segment of FORBIDDEN_SEGMENTS) {
      expect(thrown(() => assertSafeSegments(['a', segment], 'test')).status).toBe(400);
    }
    expect(() => assertSafeSegments(['name', '0', 'given'], 'test')).not.toThrow();
  });

  it('refuses own __proto__ keys anywhere in a value', () => {
    const evil = JSON.parse('{"a":[{"b":{"__proto__":{"polluted":true}}}]}') as unknown;
    expect(thrown(() => assertNoProtoKeys(evil, 'test')).status).toBe(400);
    expect(() => assertNoProtoKeys({ a: [{ constructor: 'is a plain key here' }] }, 'test')).not.toThrow();
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
