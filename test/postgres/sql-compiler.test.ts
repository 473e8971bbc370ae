/**
 * The shared SQL search compiler (`adapters/sql/`) on its own: the helpers that make predicates
 * index-friendly against `matchPredicate`, positions, and that no value or parameter name from a query ever reaches the SQL text.
 */
import { describe, expect, it } from 'vitest';

import { postgresTarget } from '../../adapters/postgres/dialect.js';
import { prefixSuccessor, uriAncestors } from '../../adapters/sql/predicates.js';
import { compileSearch, InvalidPositionError } from '../../adapters/sql/search.js';
import { encodePosition, matchPredicate } from '../../src/adapter-kit.js';
import type { Clause, Predicate } from '../../src/storage/query.js';

describe('prefix ranges', () => {
  it('the successor bounds exactly the strings that start with the prefix', () => {
    expect(prefixSuccessor('ab')).toBe('ac');
    expect(prefixSuccessor('a\u{10FFFF}')).toBe('b');
    expect(prefixSuccessor('\u{10FFFF}')).toBeUndefined();
    expect(prefixSuccessor('\uD7FF')).toBe('\uE000');
    expect(prefixSuccessor('zé')).toBe('zê');
    // Code point order, as PostgreSQL's "C" collation compares UTF-8 bytes.
    const cp = (s: string) => [...s].map((c) => c.codePointAt(0) as number);
    const lessByCodePoint = (a: string, b: string) => {
      const x = cp(a);
      const y = cp(b);
      for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return (x[i] as number) < (y[i] as number);
      return x.length < y.length;
    };
    for (const prefix of ['a', 'mul', 'zé', '\u{1F600}x']) {
      const upper = prefixSuccessor(prefix) as string;
      for (const s of [`${prefix}`, `${prefix}\u{10FFFF}`, `${prefix}zzz`, `${prefix}\u{1F600}`]) expect(lessByCodePoint(s, upper)).toBe(true);
      expect(lessByCodePoint(upper, upper)).toBe(false);
    }
  });

  it('uri `above` candidates are exactly the stored values matchPredicate accepts', () => {
    const values = ['http://example.org/fhir/ValueSet/a/b/c', 'urn:oid:1.2.3', '/rel/path', 'http://x.org/a/', ''];
    const stored = ['http://example.org/fhir/ValueSet/a/b/c', 'http://example.org/fhir/ValueSet/a', 'http://example.org/fhir/', 'http://example.org/fhir',
      'http://example.org/fhir/Value', 'http:', 'http:/', 'http://', '', '/rel', '/rel/', 'urn:oid:1.2', 'http://x.org/a', 'http://x.org/a/', 'http://x.org'];
    for (const value of values) {
      const above: Predicate = { kind: 'uri', match: 'above', value };
      const candidates = new Set(uriAncestors(value));
      for (const e of stored) {
        expect({ value, e, match: candidates.has(e) }).toEqual({ value, e, match: matchPredicate({ param: 'url', kind: 'uri', value: e }, above) });
      }
    }
  });
});

describe('positions', () => {
  it('a position the compiler did not write, or one with another number of sort values, is refused', () => {
    const target = postgresTarget('"fhir"');
    const query = { types: ['Patient'], where: [], sort: [], limit: 10 };
    expect(() => compileSearch(target, { ...query, after: encodePosition({ values: [], type: 'Patient', id: 'p1' }) })).not.toThrow();
    for (const bad of ['', 'not json', encodePosition({ values: ['a'], type: 'Patient', id: 'p1' }), '["Patient",1]']) {
      expect(() => compileSearch(target, { ...query, after: bad })).toThrow(InvalidPositionError);
    }
  });
});

describe('compiled SQL', () => {
  const evil = `x'); DROP TABLE fhir.resource; --`;
  const predicates: Predicate[] = [
    { kind: 'token', system: evil, code: evil },
    { kind: 'text', folded: evil },
    { kind: 'string', match: 'prefix', folded: evil, exact: evil },
    { kind: 'string', match: 'contains', folded: evil, exact: evil },
    { kind: 'string', match: 'exact', folded: evil, exact: evil },
    { kind: 'reference', targetType: evil, targetId: evil },
    { kind: 'reference', url: evil },
    { kind: 'uri', match: 'below', value: evil },
    { kind: 'uri', match: 'above', value: evil },
    { kind: 'quantity', op: 'ge', low: 1, high: 2, system: evil, code: evil },
  ];

  it('binds every value and parameter name: nothing from the query reaches the SQL text', () => {
    const clauses: Clause[] = [
      ...predicates.map((p): Clause => ({ kind: 'any', param: evil, of: [p] })),
      { kind: 'none', param: evil, of: [predicates[0] as Predicate] },
      { kind: 'missing', param: evil, missing: true },
      { kind: 'ids', ids: [evil] },
    ];
    const after = encodePosition({ values: [evil, undefined], type: evil, id: evil });
    const compiled = compileSearch(postgresTarget('"fhir"'), {
      types: [evil, 'Patient'],
      where: clauses,
      sort: [{ param: evil, descending: true }],
      limit: 10,
      total: true,
      maxSeq: 5,
      after,
    });
    for (const sql of [compiled.sql, compiled.count?.sql ?? '']) {
      expect(sql).not.toContain('DROP');
      expect(sql).not.toContain('Patient');
    }
    expect(compiled.params).toContain(evil);
    // Placeholders are numbered 1..n with no gap: every bound value is used.
    const used = new Set([...compiled.sql.matchAll(/\$(\d+)::/g)].map((m) => Number(m[1])));
    expect([...used].sort((a, b) => a - b)).toEqual(compiled.params.map((_, n) => n + 1));
  });
});
