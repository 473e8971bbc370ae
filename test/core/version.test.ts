import { describe, expect, it } from 'vitest';
import { httpDate, nextLastUpdated } from '../../src/resource/version.js';

describe('httpDate', () => {
  it('formats stored instants exactly as Date#toUTCString does, across four centuries', () => {
    const step = 86_400_000 * 2.37 + 12_345; // walks through every weekday, month and leap rule
    const wrong: string[] = [];
    for (let t = Date.UTC(1700, 0, 1); t < Date.UTC(2300, 0, 1); t += step) {
      const iso = new Date(t).toISOString();
      if (httpDate(iso) !== new Date(t).toUTCString()) wrong.push(iso);
    }
    expect(wrong).toEqual([]);
  });

  it('falls back to Date for other instant forms', () => {
    expect(httpDate('2026-11-25T13:00:00+01:00')).toBe('Wed, 25 Nov 2026 12:00:00 GMT');
  });
});

describe('nextLastUpdated', () => {
  it('takes the clock when it is later than the previous version', () => {
    expect(nextLastUpdated(new Date('2026-01-02T00:00:00.000Z'), '2026-01-01T00:00:00.000Z')).toBe('2026-01-02T00:00:00.000Z');
  });

  it('is one millisecond after the previous version when the clock stands still or goes back', () => {
    expect(nextLastUpdated(new Date('2026-01-01T00:00:00.000Z'), '2026-01-01T00:00:00.000Z')).toBe('2026-01-01T00:00:00.001Z');
    expect(nextLastUpdated(new Date('2025-01-01T00:00:00.000Z'), '2026-01-01T00:00:00.999Z')).toBe('2026-01-01T00:00:01.000Z');
  });
});
