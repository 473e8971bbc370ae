import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareCodePoints, compareSortValues } from '../../src/search/sort.js';

const utf8Order = (a: string, b: string): number => Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));

describe('string sort order (shared by the adapters)', () => {
  it('is the order of UTF-8 bytes, as SQLite (BINARY) and PostgreSQL ("C") sort', () => {
    // By UTF-16 code units the emoji (a surrogate pair) would come first.
    expect(compareCodePoints('Ｚed', '😀x')).toBe(-1);
    expect(compareSortValues('😀x', 'Ｚed', false)).toBe(1);
    expect(compareSortValues('😀x', 'Ｚed', true)).toBe(-1);
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        expect(compareCodePoints(a, b)).toBe(utf8Order(a, b));
      }),
      { numRuns: 2000 },
    );
  });
});
