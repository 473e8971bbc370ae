/**
 * Errors a user of the typed API can handle: the same status as HTTP gives for the same input, a
 * FhirError 400 for arguments of the wrong type (never a TypeError from inside), `isFhirError()`
 * across the package's copies, and a clear message for an adapter built without options.
 */
import { describe, expect, it } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { FhirEngine, FhirError, isFhirError } from '../../src/index.js';

const engine = new FhirEngine({ storage: new MemoryAdapter() });
/** The engine with its types switched off, as a JavaScript caller sees it. */
const js = engine as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;

const rejection = async (promise: Promise<unknown>): Promise<{ status: number; diagnostics: string }> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FhirError);
  const fhirError = error as FhirError;
  return { status: fhirError.status, diagnostics: fhirError.issues[0]!.diagnostics! };
};

describe('the typed API answers as HTTP does', () => {
  it('create({}) is a 400, as POST with that body is', async () => {
    const http = await engine.handle({ method: 'POST', url: '/Patient', body: {} });
    expect(http.status).toBe(400);
    expect((await rejection(engine.create({} as never))).status).toBe(400);
    expect((await rejection(engine.create({ resourceType: 'Patient', id: 'not valid!' }))).status).toBe(400);
  });

  it('an unknown resource type is a 404 both ways', async () => {
    expect((await engine.handle({ method: 'POST', url: '/Nope', body: { resourceType: 'Nope' } })).status).toBe(404);
    expect((await rejection(engine.create({ resourceType: 'Nope' }))).status).toBe(404);
  });
});

describe('arguments of the wrong type are a FhirError 400, not a TypeError', () => {
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ["search('Patient', { family: 'doe' })", () => js.search!.call(engine, 'Patient', { family: 'doe' }), /query must be a query string such as 'family=doe/],
    ['create(null)', () => js.create!.call(engine, null), /resource must be a FHIR resource object, got null/],
    ['create("{}")', () => js.create!.call(engine, '{"resourceType":"Patient"}'), /got string/],
    ['read(42, "1")', () => js.read!.call(engine, 42, '1'), /resource type must be a string, got number/],
    ['read("Patient", 1)', () => js.read!.call(engine, 'Patient', 1), /id must be a string, got number/],
    ['vread("Patient", "1", 1)', () => js.vread!.call(engine, 'Patient', '1', 1), /version id must be a string/],
    ['update([])', () => js.update!.call(engine, []), /got an array/],
    ['update(patient, "W/1")', () => js.update!.call(engine, { resourceType: 'Patient', id: 'a' }, 'W/"1"'), /options must be an object, got string/],
    ['patch("Patient", "1", [ops])', () => js.patch!.call(engine, 'Patient', '1', [{ op: 'add' }]), /patch must be \{ jsonPatch/],
    ['patch("Patient", "1", {})', () => js.patch!.call(engine, 'Patient', '1', {}), /patch must be \{ jsonPatch/],
    ['delete(undefined, "1")', () => js.delete!.call(engine, undefined, '1'), /resource type must be a string, got undefined/],
    ['conditionalDelete("Patient", ["a"])', () => js.conditionalDelete!.call(engine, 'Patient', ['a']), /query must be a query string/],
    ['history(null)', () => js.history!.call(engine, null), /history scope must be an object/],
    ['history({ level: "type" })', () => js.history!.call(engine, { level: 'type' }), /resource type must be a string/],
    ['batch(undefined)', () => js.batch!.call(engine, undefined), /bundle must be a FHIR resource object, got undefined/],
    ['transaction(42)', () => js.transaction!.call(engine, 42), /bundle must be a FHIR resource object, got number/],
  ];
  for (const [call, run, message] of cases) {
    it(call, async () => {
      const { status, diagnostics } = await rejection(run());
      expect(status).toBe(400);
      expect(diagnostics).toMatch(message);
    });
  }
});

describe('isFhirError()', () => {
  it('is true for a FhirError, and for one from another copy of the package by its code and shape', () => {
    expect(isFhirError(new FhirError(404, 'not-found', 'x'))).toBe(true);
    const foreign = { code: 'FHIR_ERROR', status: 412, issues: [], headers: {}, toOperationOutcome: () => ({}) };
    expect(isFhirError(foreign)).toBe(true);
    for (const other of [new Error('x'), { code: 'FHIR_ERROR' }, { status: 400 }, null, undefined, 'FHIR_ERROR']) {
      expect(isFhirError(other)).toBe(false);
    }
  });
});

describe('SqliteAdapter without options', () => {
  it('says what it needs instead of failing on a property of undefined', () => {
    const Unchecked = SqliteAdapter as unknown as new (options?: unknown) => SqliteAdapter;
    expect(() => new Unchecked()).toThrow(/SqliteAdapter needs a database: new SqliteAdapter\(\{ filename: '\.\/fhir\.sqlite' \}\)/);
    expect(() => new Unchecked({})).toThrow(/SqliteAdapter needs a database/);
  });
});
