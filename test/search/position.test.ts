import { describe, expect, it } from 'vitest';
import { decodePosition, encodePosition } from '../../src/search/position.js';
import type { SortPosition } from '../../src/search/sort.js';

describe('the position codec', () => {
  it('round-trips sort values, including open range bounds, NaN and missing values', () => {
    const positions: SortPosition[] = [
      { values: [], type: 'Patient', id: 'a' },
      { values: [-Infinity, Infinity, NaN, 0, -1.5, 'müller', undefined], type: 'Observation', id: 'x.y-z' },
      { values: ['{"n":"+Infinity"}'], type: 'Patient', id: '1' },
    ];
    for (const p of positions) expect(decodePosition(encodePosition(p))).toEqual(p);
  });

  it('writes the documented compact JSON', () => {
    expect(encodePosition({ values: [], type: 'Patient', id: 'a' })).toBe('["Patient","a"]');
    expect(encodePosition({ values: [-Infinity, 'x', undefined, 2], type: 'Patient', id: 'a' })).toBe(
      '["Patient","a",[{"n":"-Infinity"},"x",null,2]]',
    );
  });

  it('reads positions the SQLite adapter wrote before the codec was shared (durable job cursors)', () => {
    expect(decodePosition('W1t7Im4iOiItSW5maW5pdHkifSwic21pdGgiLG51bGxdLCJQYXRpZW50IiwicDEiXQ', 3)).toEqual({
      values: [-Infinity, 'smith', undefined],
      type: 'Patient',
      id: 'p1',
    });
  });

  it('rejects text it did not write, and positions of another number of sort keys', () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const bad = [
      ...['', 'garbage', '%%%', '12', 'null', '{}', '["P"]', '["P","x",[],1]', '[1,"x"]', '["P","x",{}]', '["P","x",[{"n":"inf"}]]', '["P","x",[{}]]', '["P","x",[true]]'],
      ...[b64({}), b64([[], 'Patient']), b64([[], 1, 'x']), b64([[{ n: 'inf' }], 'P', 'x']), b64(['P', 'x'])],
    ];
    for (const text of bad) expect(decodePosition(text), text).toBeUndefined();
    const two = encodePosition({ values: [1, 'a'], type: 'Patient', id: 'x' });
    expect(decodePosition(two, 2)).toBeDefined();
    expect(decodePosition(two, 1)).toBeUndefined();
  });
});
