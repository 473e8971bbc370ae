/**
 * The engine's FHIR REST behaviour on one adapter: versioning, If-Match, create/update, delete,
 * history and purge, through both the typed API and handle(). Part of the adapter conformance
 * suite, so every adapter gives the same answers.
 */
import { afterEach, describe, expect, it } from './api.js';
import { fixedClock, sequentialIds } from '../clock.js';
import { FhirEngine } from '../engine.js';
import { FhirError } from '../errors.js';
import type { Resource } from '../resource/resource.js';
import { RuntimeStorage } from '../storage/runtime-storage.js';
import type { ResourceKey, StorageAdapter, StorageTx, StoredVersion } from '../storage/storage-adapter.js';
import { overrideTx, passThrough } from './job-helpers.js';

const FHIR_JSON = { 'content-type': 'application/fhir+json' };
const JSON_PATCH = { 'content-type': 'application/json-patch+json' };

/** A JSON Patch as a bundle entry carries it: a Binary. */
const binaryPatch = (operations: object[]): Resource => ({
  resourceType: 'Binary',
  contentType: 'application/json-patch+json',
  data: Buffer.from(JSON.stringify(operations)).toString('base64'),
});

/** A test client over one engine: JSON in, parsed JSON out. */
export function client(engine: FhirEngine) {
  return async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await engine.handle({
      method,
      url,
      headers: body === undefined ? headers : { ...FHIR_JSON, ...headers },
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { ...response, json: response.body ? (JSON.parse(response.body) as Record<string, any>) : undefined };
  };
}

const patient = (extra: Record<string, unknown> = {}): Resource => ({
  resourceType: 'Patient',
  name: [{ family: 'Doe', given: ['Jane'] }],
  ...extra,
});

export function registerEngineConformance(name: string, makeAdapter: () => Promise<StorageAdapter>): void {
  describe(`engine conformance: ${name}`, () => {
    let engine: FhirEngine;
    const setup = async () => {
      engine = new FhirEngine({
        storage: await makeAdapter(),
        clock: fixedClock('2026-01-01T00:00:00Z', 1000),
        ids: sequentialIds(),
        baseUrl: 'http://fhir.test',
      });
      return { engine, http: client(engine) };
    };
    afterEach(async () => {
      await engine?.close();
    });

    describe('create and read', () => {
      it('POST assigns id, versionId 1, lastUpdated, ETag, Last-Modified and a versioned Location', async () => {
        const { http } = await setup();
        const res = await http('POST', '/Patient', patient({ id: 'client-id', meta: { versionId: '7' } }));
        expect(res.status).toBe(201);
        expect(res.json).toMatchObject({ resourceType: 'Patient', id: '1', meta: { versionId: '1', lastUpdated: '2026-01-01T00:00:00.000Z' } });
        expect(res.headers.etag).toBe('W/"1"');
        expect(res.headers['last-modified']).toBe('Thu, 01 Jan 2026 00:00:00 GMT');
        expect(res.headers.location).toBe('http://fhir.test/Patient/1/_history/1');
        expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
        const read = await http('GET', '/Patient/1');
        expect(read.status).toBe(200);
        expect(read.json).toEqual(res.json);
        expect(read.headers.etag).toBe('W/"1"');
      });

      it('typed create and read give the same resource', async () => {
        await setup();
        const created = await engine.create(patient());
        expect(created).toMatchObject({ outcome: 'created', versionId: '1', etag: 'W/"1"', location: 'http://fhir.test/Patient/1/_history/1' });
        expect(await engine.read('Patient', '1')).toEqual(created.resource);
      });

      it('read of an unknown id → 404, of an unknown type → 404, vread of a missing version → 404', async () => {
        const { http } = await setup();
        expect((await http('GET', '/Patient/nope')).status).toBe(404);
        expect((await http('GET', '/Unicorn/1')).status).toBe(404);
        expect((await http('POST', '/Unicorn', { resourceType: 'Unicorn' })).status).toBe(404);
        expect((await http('GET', '/patient/1')).status).toBe(404);
        await http('POST', '/Patient', patient());
        expect((await http('GET', '/Patient/1/_history/2')).status).toBe(404);
        await expect(engine.read('Patient', 'nope')).rejects.toMatchObject({ status: 404 });
      });

      it('malformed JSON → 400, wrong resourceType → 400, bad id syntax → 400, other content types → 415', async () => {
        const { http } = await setup();
        const bad = await http('POST', '/Patient', '{"resourceType": ');
        expect(bad.status).toBe(400);
        expect(bad.json?.resourceType).toBe('OperationOutcome');
        expect((await http('POST', '/Patient', { resourceType: 'Observation' })).status).toBe(400);
        expect((await http('POST', '/Patient', [1, 2])).status).toBe(400);
        expect((await http('PUT', '/Patient/bad$id', patient({ id: 'bad$id' }))).status).toBe(400);
        expect((await http('PUT', `/Patient/${'x'.repeat(65)}`, patient({ id: 'x'.repeat(65) }))).status).toBe(400);
        const xml = await http('POST', '/Patient', '<Patient/>', { 'content-type': 'application/fhir+xml' });
        expect(xml.status).toBe(415);
        const none = await engine.handle({ method: 'POST', url: '/Patient', body: JSON.stringify(patient()) });
        expect(none.status).toBe(415);
        // Nothing was written by any of them.
        expect((await http('GET', '/_history')).json?.entry ?? []).toHaveLength(0);
      });

      it('an unknown route → 404, a wrong method → 405, both as OperationOutcome', async () => {
        const { http } = await setup();
        await http('POST', '/Patient', patient());
        const notAllowed = await http('DELETE', '/Patient/1/_history/1');
        expect(notAllowed.status).toBe(405);
        expect(notAllowed.json?.resourceType).toBe('OperationOutcome');
        expect((await http('GET', '/Patient/1/foo/bar/baz')).status).toBe(404);
        // An operation the engine does not have is an unknown route, whatever the method (Microsoft: 404 too).
        const lookup = await http('POST', '/ValueSet/$lookup', { resourceType: 'Parameters' });
        expect(lookup.status).toBe(404);
        expect(lookup.json?.issue[0].code).toBe('not-found');
        expect((await http('GET', '/Patient/$match')).status).toBe(404);
      });

      it('GET /metadata returns a CapabilityStatement', async () => {
        const { http } = await setup();
        const res = await http('GET', '/metadata');
        expect(res.status).toBe(200);
        expect(res.json?.resourceType).toBe('CapabilityStatement');
        const types = res.json?.rest[0].resource.map((r: { type: string }) => r.type);
        expect(types).toContain('Patient');
        expect(types).toContain('Observation');
      });
    });

    describe('update and versioning', () => {
      it('PUT updates with versionId + 1 and no Location; a client versionId never decides', async () => {
        const { http } = await setup();
        await http('POST', '/Patient', patient());
        const res = await http('PUT', '/Patient/1', patient({ id: '1', gender: 'female', meta: { versionId: '99' } }));
        expect(res.status).toBe(200);
        expect(res.json?.meta).toMatchObject({ versionId: '2', lastUpdated: '2026-01-01T00:00:01.000Z' });
        expect(res.headers.etag).toBe('W/"2"');
        expect(res.headers.location).toBeUndefined();
        expect((await http('GET', '/Patient/1/_history/1')).json?.gender).toBeUndefined();
      });

      it('PUT of a new id creates it (201, version 1, Location)', async () => {
        const { http } = await setup();
        const res = await http('PUT', '/Patient/abc', patient({ id: 'abc' }));
        expect(res.status).toBe(201);
        expect(res.json?.meta.versionId).toBe('1');
        expect(res.headers.location).toBe('http://fhir.test/Patient/abc/_history/1');
      });

      it('PUT without a body id, or with a different one → 400 and nothing written', async () => {
        const { http } = await setup();
        expect((await http('PUT', '/Patient/a', patient())).status).toBe(400);
        expect((await http('PUT', '/Patient/a', patient({ id: 'b' }))).status).toBe(400);
        expect((await http('GET', '/Patient/a')).status).toBe(404);
        expect((await http('GET', '/Patient/b')).status).toBe(404);
      });

      it('an update with the same content writes no version: 200 with the current one', async () => {
        const { http } = await setup();
        const created = await http('POST', '/Patient', patient({ meta: { tag: [{ code: 't' }] } }));
        const same = await http('PUT', '/Patient/1', { ...created.json, meta: { versionId: '5', lastUpdated: '2020-01-01T00:00:00Z', tag: [{ code: 't' }] } });
        expect(same.status).toBe(200);
        expect(same.headers.etag).toBe('W/"1"');
        expect(same.json?.meta.lastUpdated).toBe(created.json?.meta.lastUpdated);
        // A change to a tag is a change.
        const tagged = await http('PUT', '/Patient/1', { ...created.json, meta: { tag: [{ code: 'u' }] } });
        expect(tagged.headers.etag).toBe('W/"2"');
        expect((await http('GET', '/Patient/1/_history')).json?.entry).toHaveLength(2);
      });

      it('If-Match: matching → 200, mismatch → 412, malformed → 400, on a missing id → 404; nothing changes', async () => {
        const { http } = await setup();
        await http('POST', '/Patient', patient());
        const body = patient({ id: '1', gender: 'male' });
        expect((await http('PUT', '/Patient/1', body, { 'if-match': 'W/"2"' })).status).toBe(412);
        expect((await http('PUT', '/Patient/1', body, { 'if-match': 'W/"abc"' })).status).toBe(412);
        expect((await http('PUT', '/Patient/1', body, { 'if-match': 'Jibberish' })).status).toBe(400);
        expect((await http('PUT', '/Patient/9', patient({ id: '9' }), { 'if-match': 'W/"1"' })).status).toBe(404);
        expect((await http('GET', '/Patient/1')).json?.meta.versionId).toBe('1');
        expect((await http('GET', '/Patient/9')).status).toBe(404);
        const ok = await http('PUT', '/Patient/1', body, { 'if-match': 'W/"1"' });
        expect(ok.status).toBe(200);
        expect(ok.headers.etag).toBe('W/"2"');
        expect((await http('PUT', '/Patient/1', patient({ id: '1' }), { 'if-match': '"2"' })).status).toBe(200);
      });

      it('8 concurrent If-Match: W/"1" updates: exactly one 200, the rest 412, no lost update', async () => {
        const { http } = await setup();
        await http('POST', '/Patient', patient());
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            http('PUT', '/Patient/1', patient({ id: '1', name: [{ family: `F${i}` }] }), { 'if-match': 'W/"1"' }),
          ),
        );
        const ok = results.filter((r) => r.status === 200);
        expect(ok).toHaveLength(1);
        // Each loser sent If-Match for a version that is no longer current: 412, never a 409.
        expect(results.map((r) => r.status).sort()).toEqual([200, 412, 412, 412, 412, 412, 412, 412]);
        const current = await http('GET', '/Patient/1');
        expect(current.json?.meta.versionId).toBe('2');
        expect(current.json?.name).toEqual(ok[0]!.json?.name);
      });

      it('a write that loses a race inside storage: 412 with If-Match, 409 without, and nothing written', async () => {
        // The engine reads version 1 (a stale snapshot, as a concurrent storage may give it) while
        // version 2 is already stored: its If-Match check passes, and storage refuses the write.
        const storage = await makeAdapter();
        const stale = new Map<string, StoredVersion>();
        const staleStorage = overrideTx(storage, (tx) => ({
          readCurrent: async (key: ResourceKey) => stale.get(`${key.type}/${key.id}`) ?? tx.readCurrent(key),
        }));
        engine = new FhirEngine({ storage: staleStorage, clock: fixedClock('2026-01-01T00:00:00Z', 1000), ids: sequentialIds() });
        const http = client(engine);
        await http('POST', '/Patient', patient());
        stale.set('Patient/1', (await storage.readCurrent({ type: 'Patient', id: '1' }))!);
        const other = new FhirEngine({ storage, clock: fixedClock('2026-02-01T00:00:00Z', 1000) });
        await other.update(patient({ id: '1', gender: 'female' }));
        const withIfMatch = await http('PUT', '/Patient/1', patient({ id: '1', gender: 'male' }), { 'if-match': 'W/"1"' });
        expect(withIfMatch.status).toBe(412);
        expect(withIfMatch.json?.resourceType).toBe('OperationOutcome');
        const without = await http('PUT', '/Patient/1', patient({ id: '1', gender: 'other' }));
        expect(without.status).toBe(409);
        const current = await storage.readCurrent({ type: 'Patient', id: '1' });
        expect(current?.versionId).toBe('2');
        expect(JSON.parse(current!.json!).gender).toBe('female');
      });

      it('typed update honours ifMatch and reports unchanged', async () => {
        await setup();
        const { resource } = await engine.create(patient());
        await expect(engine.update({ ...resource, gender: 'other' }, { ifMatch: 'W/"3"' })).rejects.toBeInstanceOf(FhirError);
        const updated = await engine.update({ ...resource, gender: 'other' }, { ifMatch: 'W/"1"' });
        expect(updated.outcome).toBe('updated');
        expect((await engine.update(updated.resource)).outcome).toBe('unchanged');
      });

      it('lastUpdated increases per resource even when the clock stands still', async () => {
        engine = new FhirEngine({ storage: await makeAdapter(), clock: fixedClock('2026-01-01T00:00:00Z'), ids: sequentialIds() });
        const a = await engine.create(patient());
        const b = await engine.update({ ...a.resource, gender: 'male' });
        expect(Date.parse(b.lastUpdated)).toBeGreaterThan(Date.parse(a.lastUpdated));
      });
    });

    describe('Prefer: return', () => {
      it('minimal → no body; OperationOutcome → an outcome; representation → the resource', async () => {
        const { http } = await setup();
        const minimal = await http('POST', '/Patient', patient(), { prefer: 'return=minimal' });
        expect(minimal.status).toBe(201);
        expect(minimal.body).toBeUndefined();
        expect(minimal.headers.location).toBe('http://fhir.test/Patient/1/_history/1');
        const outcome = await http('POST', '/Patient', patient(), { prefer: 'return=OperationOutcome' });
        expect(outcome.json?.resourceType).toBe('OperationOutcome');
        const full = await http('PUT', '/Patient/1', patient({ id: '1', gender: 'male' }), { prefer: 'return=representation' });
        expect(full.json?.gender).toBe('male');
      });
    });

    describe('delete', () => {
      it('soft delete: 204 with the tombstone ETag, read → 410, history keeps every version, vread works', async () => {
        const { http } = await setup();
        await http('POST', '/Patient', patient());
        await http('PUT', '/Patient/1', patient({ id: '1', gender: 'male' }));
        const del = await http('DELETE', '/Patient/1');
        expect(del.status).toBe(204);
        expect(del.headers.etag).toBe('W/"3"');
        const read = await http('GET', '/Patient/1');
        expect(read.status).toBe(410);
        expect(read.headers.etag).toBe('W/"3"');
        expect((await http('GET', '/Patient/1/_history/1')).status).toBe(200);
        expect((await http('GET', '/Patient/1/_history/3')).status).toBe(410);
        const history = await http('GET', '/Patient/1/_history');
        expect(history.json?.entry.map((e: any) => e.request.method)).toEqual(['DELETE', 'PUT', 'POST']);
        expect(history.json?.entry.map((e: any) => e.response.status)).toEqual(['204 No Content', '200 OK', '201 Created']);
        await expect(engine.read('Patient', '1')).rejects.toMatchObject({ status: 410 });
      });

      it('deleting an unknown or already-deleted id → 204 and no new version', async () => {
        const { http } = await setup();
        const unknown = await http('DELETE', '/Patient/zzz');
        expect(unknown.status).toBe(204);
        expect(unknown.headers.etag).toBeUndefined();
        expect((await http('GET', '/Patient/zzz')).status).toBe(404);
        await http('POST', '/Patient', patient());
        await http('DELETE', '/Patient/1');
        const again = await http('DELETE', '/Patient/1');
        expect(again.status).toBe(204);
        expect((await http('GET', '/Patient/1/_history')).json?.entry).toHaveLength(2);
      });

      it('a PUT after a soft delete recreates the resource as the next version: 200, no Location', async () => {
        const { http } = await setup();
        await http('POST', '/Patient', patient());
        await http('DELETE', '/Patient/1');
        const revived = await http('PUT', '/Patient/1', patient({ id: '1' }));
        // The resource existed (its history goes on), so this is an update, not a create.
        expect(revived.status).toBe(200);
        expect(revived.headers.location).toBeUndefined();
        expect(revived.json?.meta.versionId).toBe('3');
        expect((await http('GET', '/Patient/1')).status).toBe(200);
      });

      it('hardDelete=true (or _hardDelete) removes the resource and its whole history', async () => {
        const { http } = await setup();
        for (const param of ['hardDelete', '_hardDelete']) {
          const created = await http('POST', '/Patient', patient());
          const id = created.json!.id;
          await http('PUT', `/Patient/${id}`, { ...created.json, gender: 'male' });
          const del = await http('DELETE', `/Patient/${id}?${param}=true`);
          expect(del.status).toBe(204);
          expect((await http('GET', `/Patient/${id}`)).status).toBe(404);
          expect((await http('GET', `/Patient/${id}/_history/1`)).status).toBe(404);
          expect((await http('GET', `/Patient/${id}/_history`)).status).toBe(404);
        }
      });

      it('typed delete reports what it did', async () => {
        await setup();
        await engine.create(patient());
        expect(await engine.delete('Patient', '1')).toEqual({ deleted: 1, versionId: '2' });
        expect(await engine.delete('Patient', '1')).toEqual({ deleted: 0 });
        expect(await engine.delete('Patient', '1', { hard: true })).toEqual({ deleted: 1 });
      });

      it('$purge-history keeps the current version; versions keep counting afterwards', async () => {
        const { http } = await setup();
        await http('POST', '/Patient', patient());
        await http('PUT', '/Patient/1', patient({ id: '1', gender: 'male' }));
        const purge = await http('DELETE', '/Patient/1/$purge-history');
        expect(purge.status).toBe(204);
        expect((await http('GET', '/Patient/1')).json?.meta.versionId).toBe('2');
        expect((await http('GET', '/Patient/1/_history/2')).status).toBe(200);
        expect((await http('GET', '/Patient/1/_history/1')).status).toBe(404);
        expect((await http('GET', '/Patient/1/_history')).json?.entry).toHaveLength(1);
        const next = await http('PUT', '/Patient/1', patient({ id: '1', gender: 'female' }));
        expect(next.json?.meta.versionId).toBe('3');
        expect((await http('DELETE', '/Patient/none/$purge-history')).status).toBe(404);
      });
    });

    describe('conditional interactions', () => {
      const withId = (value: string) => patient({ identifier: [{ system: 'urn:sys', value }] });

      it('conditional create: 0 matches → 201, 1 → 200 with the existing resource, >1 → 412', async () => {
        const { http } = await setup();
        const first = await http('POST', '/Patient', withId('a'), { 'if-none-exist': 'identifier=urn:sys|a' });
        expect(first.status).toBe(201);
        const again = await http('POST', '/Patient', withId('a'), { 'if-none-exist': 'identifier=urn:sys|a' });
        expect(again.status).toBe(200);
        expect(again.json?.id).toBe(first.json?.id);
        expect(again.headers.etag).toBe('W/"1"');
        expect(again.headers.location).toBe(`http://fhir.test/Patient/${first.json?.id}/_history/1`);
        await http('POST', '/Patient', withId('a'));
        const many = await http('POST', '/Patient', withId('a'), { 'if-none-exist': 'identifier=urn:sys|a' });
        expect(many.status).toBe(412);
        expect((await http('POST', '/Patient', withId('b'), { 'if-none-exist': '&' })).status).toBe(400);
        const typed = await engine.create(withId('c'), { ifNoneExist: 'identifier=urn:sys|c' });
        expect((await engine.create(withId('c'), { ifNoneExist: 'identifier=urn:sys|c' })).outcome).toBe('matched');
        expect(typed.outcome).toBe('created');
      });

      it('10 concurrent conditional creates with the same criteria create exactly one resource', async () => {
        const { http } = await setup();
        const results = await Promise.all(
          Array.from({ length: 10 }, () => http('POST', '/Patient', withId('race'), { 'if-none-exist': 'identifier=urn:sys|race' })),
        );
        expect(results.filter((r) => r.status === 201)).toHaveLength(1);
        expect(results.filter((r) => r.status === 200)).toHaveLength(9);
        const found = await http('GET', '/Patient?identifier=urn:sys|race');
        expect(found.json?.entry).toHaveLength(1);
      });

      it('conditional update: 0 → 201, 1 → 200 on the match, different body id → 400, >1 → 412, no criteria → 400', async () => {
        const { http } = await setup();
        const created = await http('PUT', '/Patient?identifier=urn:sys|u', withId('u'));
        expect(created.status).toBe(201);
        const id = created.json?.id;
        const updated = await http('PUT', '/Patient?identifier=urn:sys|u', { ...withId('u'), gender: 'male' });
        expect(updated.status).toBe(200);
        expect(updated.json).toMatchObject({ id, gender: 'male', meta: { versionId: '2' } });
        expect((await http('PUT', '/Patient?identifier=urn:sys|u', { ...withId('u'), id: 'other' })).status).toBe(400);
        const withClientId = await http('PUT', '/Patient?identifier=urn:sys|new', { ...withId('new'), id: 'mine' });
        expect(withClientId.status).toBe(201);
        expect(withClientId.json?.id).toBe('mine');
        await http('POST', '/Patient', withId('u'));
        expect((await http('PUT', '/Patient?identifier=urn:sys|u', withId('u'))).status).toBe(412);
        expect((await http('PUT', '/Patient', withId('u'))).status).toBe(400);
      });

      it('conditional delete: 1 match deleted, >1 without _count → 412, _count deletes up to N with Items-Deleted', async () => {
        const { http } = await setup();
        await http('POST', '/Patient', withId('d1'));
        expect((await http('DELETE', '/Patient?identifier=urn:sys|d1')).status).toBe(204);
        expect((await http('GET', '/Patient?identifier=urn:sys|d1')).json?.entry ?? []).toHaveLength(0);
        expect((await http('DELETE', '/Patient?identifier=urn:sys|nothing')).status).toBe(204);
        for (let i = 0; i < 5; i++) await http('POST', '/Patient', patient({ meta: { tag: [{ system: 'urn:t', code: 'many' }] } }));
        const refused = await http('DELETE', '/Patient?_tag=urn:t|many');
        expect(refused.status).toBe(412);
        expect((await http('GET', '/Patient?_tag=urn:t|many')).json?.entry).toHaveLength(5);
        const three = await http('DELETE', '/Patient?_tag=urn:t|many&_count=3');
        expect(three.status).toBe(204);
        expect(three.headers['items-deleted']).toBe('3');
        expect((await http('GET', '/Patient?_tag=urn:t|many')).json?.entry).toHaveLength(2);
        const hard = await http('DELETE', '/Patient?_tag=urn:t|many&_count=100&hardDelete=true');
        expect(hard.headers['items-deleted']).toBe('2');
        for (const bad of ['0', '-1', '101', '2147483647', 'abc']) {
          expect((await http('DELETE', `/Patient?_tag=urn:t|many&_count=${bad}`)).status).toBe(400);
        }
      });

      it('conditional delete with _include / _revinclude deletes the included resources too, counted in Items-Deleted', async () => {
        const { http } = await setup();
        const members: string[] = [];
        for (let i = 0; i < 5; i++) members.push((await http('POST', '/Patient', patient())).json!.id);
        const group = {
          resourceType: 'Group',
          type: 'person',
          actual: true,
          meta: { tag: [{ system: 'urn:t', code: 'g' }] },
          member: members.map((m) => ({ entity: { reference: `Patient/${m}` } })),
        };
        const g = (await http('POST', '/Group', group)).json!.id;
        const res = await http('DELETE', '/Group?_tag=urn:t|g&_count=1&_include=Group:member');
        expect(res.status).toBe(204);
        expect(res.headers['items-deleted']).toBe('6');
        for (const id of [...members.map((m) => `Patient/${m}`), `Group/${g}`]) expect((await http('GET', `/${id}`)).status, id).toBe(410);
        // Hard, and the other way round: the Observations that refer to the match.
        const p = (await http('POST', '/Patient', patient({ identifier: [{ system: 'urn:sys', value: 'rev' }] }))).json!.id;
        const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${p}` } };
        const o1 = (await http('POST', '/Observation', obs)).json!.id;
        const o2 = (await http('POST', '/Observation', obs)).json!.id;
        const rev = await http('DELETE', '/Patient?identifier=urn:sys|rev&_revinclude=Observation:subject&hardDelete=true&_count=10');
        expect(rev.status).toBe(204);
        expect(rev.headers['items-deleted']).toBe('3');
        for (const id of [`Patient/${p}`, `Observation/${o1}`, `Observation/${o2}`]) expect((await http('GET', `/${id}`)).status, id).toBe(404);
        // Without _count: one match, its includes go with it, no Items-Deleted; the ETag is the match's tombstone.
        const q = (await http('POST', '/Patient', patient({ identifier: [{ system: 'urn:sys', value: 'one' }] }))).json!.id;
        const o3 = (await http('POST', '/Observation', { ...obs, subject: { reference: `Patient/${q}` } })).json!.id;
        const single = await http('DELETE', '/Patient?identifier=urn:sys|one&_revinclude=Observation:subject');
        expect(single.status).toBe(204);
        expect(single.headers['items-deleted']).toBeUndefined();
        expect(single.headers.etag).toBe('W/"2"');
        expect((await http('GET', `/Observation/${o3}`)).status).toBe(410);
      });

      it('conditional delete: more included resources than the limit → 400 and nothing deleted', async () => {
        const small = new FhirEngine({ storage: await makeAdapter(), ids: sequentialIds(), limits: { maxCount: 3 } });
        try {
          const http = client(small);
          const p = (await http('POST', '/Patient', patient({ identifier: [{ system: 'urn:sys', value: 'cap' }] }))).json!.id;
          const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${p}` } };
          for (let i = 0; i < 3; i++) await http('POST', '/Observation', obs);
          const three = await http('GET', `/Observation?subject=Patient/${p}&_summary=count`);
          expect(three.json?.total).toBe(3);
          await http('POST', '/Observation', obs);
          const res = await http('DELETE', '/Patient?identifier=urn:sys|cap&_revinclude=Observation:subject');
          expect(res.status).toBe(400);
          expect(res.json?.issue[0].diagnostics).toContain('partial included resources');
          expect((await http('GET', `/Patient/${p}`)).status).toBe(200);
          expect((await http('GET', `/Observation?subject=Patient/${p}&_summary=count`)).json?.total).toBe(4);
        } finally {
          await small.close();
        }
      });

      it('conditional delete with no criteria → 400, with no usable criteria → 412, never a delete of everything', async () => {
        const { http } = await setup();
        await http('POST', '/Patient', patient());
        expect((await http('DELETE', '/Patient')).status).toBe(400);
        expect((await http('DELETE', '/Patient?_tag=')).status).toBe(412);
        expect((await http('DELETE', '/Patient?unknownParam=1')).status).toBe(412);
        expect((await http('DELETE', '/Patient?_count=10')).status).toBe(412);
        expect((await http('DELETE', '/Patient?hardDelete=true')).status).toBe(412);
        expect((await http('GET', '/Patient/1')).status).toBe(200);
        await expect(engine.conditionalDelete('Patient', '')).rejects.toMatchObject({ status: 400 });
        await expect(engine.conditionalDelete('Patient', '', { count: 10 })).rejects.toMatchObject({ status: 412 });
        expect((await http('GET', '/Patient/1')).status).toBe(200);
      });

      it('unusable criteria get one answer per case from HTTP, batch entries and the typed API alike', async () => {
        const { http } = await setup();
        const dup = () => withId('dup');
        await http('POST', '/Patient', dup());
        await http('POST', '/Patient', dup());
        const op = [{ op: 'add', path: '/active', value: true }];
        // [case, HTTP request, batch entry, typed call, status]
        const cases: [string, () => Promise<number>, object, () => Promise<unknown>, number][] = [
          ['create, empty If-None-Exist', () => http('POST', '/Patient', dup(), { 'if-none-exist': '&' }).then((r) => r.status),
            { resource: dup(), request: { method: 'POST', url: 'Patient', ifNoneExist: '&' } }, () => engine.create(dup(), { ifNoneExist: '' }), 400],
          ['create, no usable parameter', () => http('POST', '/Patient', dup(), { 'if-none-exist': 'unknownParam=1' }).then((r) => r.status),
            { resource: dup(), request: { method: 'POST', url: 'Patient', ifNoneExist: 'unknownParam=1' } }, () => engine.create(dup(), { ifNoneExist: 'unknownParam=1' }), 412],
          ['create, several matches', () => http('POST', '/Patient', dup(), { 'if-none-exist': 'identifier=urn:sys|dup' }).then((r) => r.status),
            { resource: dup(), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:sys|dup' } }, () => engine.create(dup(), { ifNoneExist: 'identifier=urn:sys|dup' }), 412],
          ['update, no query', () => http('PUT', '/Patient', dup()).then((r) => r.status),
            { resource: dup(), request: { method: 'PUT', url: 'Patient' } }, () => engine.conditionalUpdate('', dup()), 400],
          ['update, no usable parameter', () => http('PUT', '/Patient?unknownParam=1', dup()).then((r) => r.status),
            { resource: dup(), request: { method: 'PUT', url: 'Patient?unknownParam=1' } }, () => engine.conditionalUpdate('unknownParam=1', dup()), 412],
          ['update, several matches', () => http('PUT', '/Patient?identifier=urn:sys|dup', dup()).then((r) => r.status),
            { resource: dup(), request: { method: 'PUT', url: 'Patient?identifier=urn:sys|dup' } }, () => engine.conditionalUpdate('identifier=urn:sys|dup', dup()), 412],
          ['patch, no query', () => http('PATCH', '/Patient', op, JSON_PATCH).then((r) => r.status),
            { resource: binaryPatch(op), request: { method: 'PATCH', url: 'Patient' } }, () => engine.patch('Patient', { query: '' }, { jsonPatch: op }), 400],
          ['patch, no usable parameter', () => http('PATCH', '/Patient?unknownParam=1', op, JSON_PATCH).then((r) => r.status),
            { resource: binaryPatch(op), request: { method: 'PATCH', url: 'Patient?unknownParam=1' } }, () => engine.patch('Patient', { query: 'unknownParam=1' }, { jsonPatch: op }), 412],
          ['patch, several matches', () => http('PATCH', '/Patient?identifier=urn:sys|dup', op, JSON_PATCH).then((r) => r.status),
            { resource: binaryPatch(op), request: { method: 'PATCH', url: 'Patient?identifier=urn:sys|dup' } }, () => engine.patch('Patient', { query: 'identifier=urn:sys|dup' }, { jsonPatch: op }), 412],
          ['delete, no query', () => http('DELETE', '/Patient').then((r) => r.status),
            { request: { method: 'DELETE', url: 'Patient' } }, () => engine.conditionalDelete('Patient', ''), 400],
          ['delete, no usable parameter', () => http('DELETE', '/Patient?unknownParam=1').then((r) => r.status),
            { request: { method: 'DELETE', url: 'Patient?unknownParam=1' } }, () => engine.conditionalDelete('Patient', 'unknownParam=1'), 412],
          ['delete, several matches', () => http('DELETE', '/Patient?identifier=urn:sys|dup').then((r) => r.status),
            { request: { method: 'DELETE', url: 'Patient?identifier=urn:sys|dup' } }, () => engine.conditionalDelete('Patient', 'identifier=urn:sys|dup'), 412],
        ];
        const batch = await engine.batch({ resourceType: 'Bundle', type: 'batch', entry: cases.map(([, , entry]) => entry) });
        for (const [index, [name, viaHttp, , typed, status]] of cases.entries()) {
          expect([name, await viaHttp()]).toEqual([name, status]);
          expect([name, batch.entry[index]!.response.status.split(' ')[0]]).toEqual([name, String(status)]);
          const error = await typed().then(() => undefined, (e: unknown) => e);
          expect(error).toBeInstanceOf(FhirError);
          expect([name, (error as FhirError).status]).toEqual([name, status]);
        }
        // Nothing was written or deleted by any of them.
        expect((await http('GET', '/Patient?_summary=count')).json?.total).toBe(2);
        expect((await http('GET', '/Patient?active=true')).json?.entry).toBeUndefined();
      });

      it('conditional references in a body resolve to Type/id; none or several → 400', async () => {
        const { http } = await setup();
        const observation = (reference: string) => ({
          resourceType: 'Observation',
          status: 'final',
          code: { text: 'x' },
          subject: { reference },
        });
        const p = await http('POST', '/Patient', withId('ref'));
        const obs = await http('POST', '/Observation', observation('Patient?identifier=urn:sys|ref'));
        expect(obs.status).toBe(201);
        expect(obs.json?.subject.reference).toBe(`Patient/${p.json?.id}`);
        expect((await http('POST', '/Observation', observation('Patient?identifier=urn:sys|none'))).status).toBe(400);
        await http('POST', '/Patient', withId('ref'));
        const several = await http('POST', '/Observation', observation('Patient?identifier=urn:sys|ref'));
        expect(several.status).toBe(400);
        expect(several.json?.issue[0].diagnostics).toContain('multiple');
        expect((await http('GET', '/Observation?_count=10')).json?.entry).toHaveLength(1);
      });
    });

    describe('patch', () => {

      it('JSON Patch applies, bumps the version, and a no-op patch writes nothing', async () => {
        const { http } = await setup();
        await http('POST', '/Patient', patient({ gender: 'male' }));
        const res = await http('PATCH', '/Patient/1', [{ op: 'replace', path: '/gender', value: 'female' }, { op: 'remove', path: '/name' }], JSON_PATCH);
        expect(res.status).toBe(200);
        expect(res.json).toMatchObject({ gender: 'female', meta: { versionId: '2' } });
        expect(res.json?.name).toBeUndefined();
        const same = await http('PATCH', '/Patient/1', [{ op: 'replace', path: '/gender', value: 'female' }], JSON_PATCH);
        expect(same.headers.etag).toBe('W/"2"');
      });

      it('failing test op, immutable paths and bad documents → 400 and nothing changes', async () => {
        const { http } = await setup();
        await http('POST', '/Patient', patient({ gender: 'male' }));
        for (const ops of [
          [{ op: 'test', path: '/gender', value: 'female' }, { op: 'replace', path: '/gender', value: 'other' }],
          [{ op: 'replace', path: '/id', value: 'x' }],
          [{ op: 'replace', path: '/resourceType', value: 'Observation' }],
          [{ op: 'replace', path: '/meta/versionId', value: '9' }],
          [{ op: 'add', path: '/__proto__/polluted', value: 1 }],
          [{ op: 'jump', path: '/gender' }],
          { not: 'an array' },
        ]) {
          expect((await http('PATCH', '/Patient/1', ops, JSON_PATCH)).status).toBe(400);
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect((await http('GET', '/Patient/1')).json?.meta.versionId).toBe('1');
        expect((await http('PATCH', '/Patient/1', '', JSON_PATCH)).status).toBe(400);
        expect((await http('PATCH', '/Patient/1', [{ op: 'remove', path: '/gender' }], { 'content-type': 'text/plain' })).status).toBe(415);
      });

      it('FHIRPath Patch applies a Parameters body', async () => {
        const { http } = await setup();
        await http('POST', '/Patient', patient());
        const res = await http('PATCH', '/Patient/1', {
          resourceType: 'Parameters',
          parameter: [
            { name: 'operation', part: [{ name: 'type', valueCode: 'add' }, { name: 'path', valueString: 'Patient' }, { name: 'name', valueString: 'birthDate' }, { name: 'value', valueDate: '1990-02-03' }] },
          ],
        });
        expect(res.status).toBe(200);
        expect(res.json?.birthDate).toBe('1990-02-03');
        const bad = await http('PATCH', '/Patient/1', { resourceType: 'Parameters', parameter: [{ name: 'operation', part: [{ name: 'type', valueCode: 'coo' }] }] });
        expect(bad.status).toBe(400);
      });

      it('If-Match on patch, missing target → 404, deleted → 410, conditional patch 0/1/>1', async () => {
        const { http } = await setup();
        await http('POST', '/Patient', patient({ identifier: [{ system: 'urn:sys', value: 'p' }] }));
        const op = [{ op: 'add', path: '/gender', value: 'male' }];
        expect((await http('PATCH', '/Patient/1', op, { ...JSON_PATCH, 'if-match': 'W/"5"' })).status).toBe(412);
        expect((await http('PATCH', '/Patient/1', op, { ...JSON_PATCH, 'if-match': 'W/"1"' })).status).toBe(200);
        expect((await http('PATCH', '/Patient/404', op, JSON_PATCH)).status).toBe(404);
        expect((await http('PATCH', '/Patient?identifier=urn:sys|none', op, JSON_PATCH)).status).toBe(404);
        const cond = await http('PATCH', '/Patient?identifier=urn:sys|p', [{ op: 'replace', path: '/gender', value: 'female' }], JSON_PATCH);
        expect(cond.status).toBe(200);
        expect(cond.json?.gender).toBe('female');
        await http('POST', '/Patient', patient({ identifier: [{ system: 'urn:sys', value: 'p' }] }));
        expect((await http('PATCH', '/Patient?identifier=urn:sys|p', op, JSON_PATCH)).status).toBe(412);
        await http('DELETE', '/Patient/1');
        expect((await http('PATCH', '/Patient/1', op, JSON_PATCH)).status).toBe(410);
        const typed = await engine.patch('Patient', '2', { jsonPatch: [{ op: 'add', path: '/active', value: true }] });
        expect(typed.resource.active).toBe(true);
      });
    });

    describe('history', () => {
      it('instance, type and system history, newest first, with _count, next links and _since', async () => {
        const { http } = await setup();
        await http('POST', '/Patient', patient()); // t0
        await http('POST', '/Observation', { resourceType: 'Observation', status: 'final', code: { text: 'x' } }); // t1
        await http('PUT', '/Patient/1', patient({ id: '1', gender: 'male' })); // t2
        await http('POST', '/Patient', patient()); // t3
        const type = await http('GET', '/Patient/_history');
        expect(type.json).toMatchObject({ resourceType: 'Bundle', type: 'history' });
        expect(type.json?.entry.map((e: any) => `${e.resource.id}/${e.resource.meta.versionId}`)).toEqual(['3/1', '1/2', '1/1']);
        expect(type.json?.entry[0].fullUrl).toBe('http://fhir.test/Patient/3');
        const page1 = await http('GET', '/_history?_count=2');
        expect(page1.json?.entry).toHaveLength(2);
        const next = page1.json?.link.find((l: any) => l.relation === 'next').url as string;
        expect(next.startsWith('http://fhir.test/_history?')).toBe(true);
        const page2 = await http('GET', next.replace('http://fhir.test', ''));
        expect(page2.json?.entry.map((e: any) => e.resource.resourceType)).toEqual(['Observation', 'Patient']);
        expect(page2.json?.link.find((l: any) => l.relation === 'next')).toBeUndefined();
        const since = await http('GET', '/_history?_since=2026-01-01T00:00:02Z');
        expect(since.json?.entry).toHaveLength(2);
        expect((await http('GET', '/_history?_since=yesterday')).status).toBe(400);
        expect((await http('GET', '/_history?_count=abc')).status).toBe(400);
        const typed = await engine.history({ level: 'instance', type: 'Patient', id: '1' });
        expect((typed as any).entry).toHaveLength(2);
      });
    });

    describe('search links', () => {
      const linkOf = (bundle: any, relation: string): string | undefined => bundle?.link?.find((l: any) => l.relation === relation)?.url;

      it('lenient: the self link holds only the parameters used; the next link keeps them', async () => {
        const { http } = await setup();
        for (const family of ['Smith', 'Smythe', 'Jones']) await http('POST', '/Patient', patient({ name: [{ family }] }));
        const res = await http(
          'GET',
          '/Patient?Cookie=Chip&family=sm&_tag=&_sort=nope,-family&_count=1&organization.nope=x&_has:Observation:code:status=final&_summary=true',
          undefined,
          { prefer: 'handling=lenient' },
        );
        expect(res.status).toBe(200);
        const issues = res.json?.entry.find((e: any) => e.search?.mode === 'outcome').resource.issue.map((i: any) => i.diagnostics);
        expect(issues.join('\n')).toContain("'Cookie'");
        expect(linkOf(res.json, 'self')).toBe('http://fhir.test/Patient?family=sm&_sort=-family&_count=1');
        expect(linkOf(res.json, 'next')).toMatch(/^http:\/\/fhir\.test\/Patient\?family=sm&_sort=-family&_count=1&_cursor=[^&]+$/);
        expect(res.json?.entry.filter((e: any) => e.search?.mode === 'match').map((e: any) => e.resource.name[0].family)).toEqual(['Smythe']);
        // Following the next link gives the rest of the same search.
        const next = await http('GET', linkOf(res.json, 'next')!.slice('http://fhir.test'.length));
        expect(next.json?.entry.map((e: any) => e.resource.name[0].family)).toEqual(['Smith']);
        expect(linkOf(next.json, 'self')).toBe(linkOf(res.json, 'next'));
      });

      it('a search that uses every parameter keeps them all; strict refuses an unknown one with 400', async () => {
        const { http } = await setup();
        await http('POST', '/Patient', patient());
        const used = await http('GET', '/Patient?family=doe&_count=5&_sort=family&_include=Patient%3Aorganization');
        expect(linkOf(used.json, 'self')).toBe('http://fhir.test/Patient?family=doe&_count=5&_sort=family&_include=Patient%3Aorganization');
        const strict = await http('GET', '/Patient?family=doe&Cookie=Chip', undefined, { prefer: 'handling=strict' });
        expect(strict.status).toBe(400);
        expect(strict.json?.resourceType).toBe('OperationOutcome');
      });
    });

    describe('engines sharing one adapter', () => {
      it('share its runtime: the units of a serial adapter never overlap, whichever engine runs them', async () => {
        const adapter = await makeAdapter();
        // Counts the units in flight in the adapter itself, under whatever runtime calls it.
        let inFlight = 0;
        let most = 0;
        const counted = new Proxy(adapter, {
          get(target, prop) {
            if (prop === 'transact') {
              return async <T>(work: (tx: StorageTx) => Promise<T>): Promise<T> => {
                most = Math.max(most, ++inFlight);
                try {
                  return await target.transact(work);
                } finally {
                  inFlight--;
                }
              };
            }
            return passThrough(target, prop);
          },
        });
        const first = (engine = new FhirEngine({ storage: counted, ids: sequentialIds('a') }));
        const second = new FhirEngine({ storage: counted, ids: sequentialIds('b') });
        expect(second.storage).toBe(first.storage);
        expect(() => new RuntimeStorage(counted)).toThrow(/already runs under a RuntimeStorage/);
        // Each create is a unit that awaits the adapter several times: units of two runtimes would interleave.
        const creates = [first, second].flatMap((e) => Array.from({ length: 10 }, () => e.create(patient())));
        const ids = (await Promise.all(creates)).map((r) => r.resource.id);
        expect(new Set(ids).size).toBe(20);
        if (adapter.capabilities.concurrency === 'serial') expect(most).toBe(1);
        expect((await second.search('Patient', '_summary=count')).total).toBe(20);
        expect(await first.read('Patient', 'b10')).toMatchObject({ id: 'b10' });
        // Closing one engine closes the adapter for every engine on it, a later one too.
        await second.close();
        await expect(first.read('Patient', 'a1')).rejects.toThrow(/closed/);
        await expect(new FhirEngine({ storage: counted }).read('Patient', 'a1')).rejects.toThrow(/closed/);
      });
    });
  });
}
