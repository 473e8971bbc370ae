import { describe, expect, it } from 'vitest';
import { cloneJson } from '../../src/resource/equal.js';

describe('cloneJson', () => {
  it('copies arrays and plain objects deeply, sharing nothing mutable', () => {
    const original = { resourceType: 'Patient', name: [{ given: ['A', 'B'], family: 'F' }], active: true, n: 1.5, none: null };
    const copy = cloneJson(original);
    expect(copy).toEqual(original);
    copy.name[0]!.given.push('C');
    (copy as { active: boolean }).active = false;
    expect(original.name[0]!.given).toEqual(['A', 'B']);
    expect(original.active).toBe(true);
  });

  it('keeps a parsed __proto__ key as an own key without touching the prototype', () => {
    const parsed = JSON.parse('{"a":{"__proto__":{"polluted":true}}}') as { a: Record<string, unknown> };
    const copy = cloneJson(parsed);
    expect(Object.hasOwn(copy.a, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(copy.a)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('copies values that are not plain JSON with structuredClone', () => {
    const when = new Date(0);
    const copy = cloneJson({ when });
    expect(copy.when).toBeInstanceOf(Date);
    expect(copy.when).not.toBe(when);
    expect(copy.when.getTime()).toBe(0);
  });
});
