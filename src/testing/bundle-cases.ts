/**
 * Batch and transaction bundles on one adapter: entry statuses, parallel batches, urn:uuid and
 * conditional references, execution order, and atomicity (also when storage fails mid-way, through
 * {@link FaultAdapter}). Part of the adapter conformance suite; fixtures are inline.
 */
import { afterEach, describe, expect, it } from './api.js';
import { sequentialIds } from '../clock.js';
import { FhirEngine } from '../engine.js';
import { FhirError } from '../errors.js';
import type { StorageAdapter } from '../storage/storage-adapter.js';
import { FaultAdapter } from './fault-adapter.js';

const patient = (family: string, extra: object = {}) => ({ resourceType: 'Patient', name: [{ family }], ...extra });
const batch = (entry: object[]) => ({ resourceType: 'Bundle', type: 'batch', entry });
const tx = (entry: object[]) => ({ resourceType: 'Bundle', type: 'transaction', entry });
/** A `urn:uuid:` fullUrl named for reading (`urn('pat')`): a real UUID, as bundle.html requires. */
const urn = (name: string) => `urn:uuid:00000000-0000-4000-8000-${Buffer.from(name).toString('hex').padStart(12, '0')}`;
const statuses = (bundle: { entry: { response: { status: string } }[] }): string[] => bundle.entry.map((e) => e.response.status);

export function registerBundleConformance(name: string, makeAdapter: () => Promise<StorageAdapter>): void {
  describe(`bundle conformance: ${name}`, () => {
    let engine: FhirEngine | undefined;
    const open = async (options: { storage?: StorageAdapter; maxBundleEntries?: number } = {}): Promise<FhirEngine> =>
      (engine = new FhirEngine({
        storage: options.storage ?? (await makeAdapter()),
        ids: sequentialIds(),
        ...(options.maxBundleEntries !== undefined && { limits: { maxBundleEntries: options.maxBundleEntries } }),
      }));
    afterEach(async () => {
      await engine?.close();
      engine = undefined;
    });

    /** POST / with a bundle through handle(). */
    const post = async (bundle: unknown, headers: Record<string, string> = {}) => {
      const res = await engine!.handle({
        method: 'POST',
        url: '/',
        headers: { 'content-type': 'application/fhir+json', ...headers },
        body: JSON.stringify(bundle),
      });
      return { status: res.status, body: res.body === undefined ? undefined : (JSON.parse(res.body) as any) };
    };
    const count = async (type = 'Patient') => (await engine!.search(type, '_summary=count')).total;

    describe('envelope', () => {
      it('refuses a body that is not a Bundle, a Bundle without a type or of another type: 400', async () => {
        await open();
        const notBundle = await post(patient('x'));
        expect(notBundle.status).toBe(400);
        expect(notBundle.body.issue[0].diagnostics).toBe('Only a bundle can be submitted for batch or transaction processing.');
        const missing = await post({ resourceType: 'Bundle', entry: [] });
        expect(missing.status).toBe(400);
        expect(missing.body.issue[0].diagnostics).toMatch(/Bundle type is not present/);
        const invalid = await post({ resourceType: 'Bundle', type: 'invalid-type', entry: [] });
        expect(invalid.status).toBe(400);
        expect(invalid.body.issue[0].diagnostics).toMatch(/not supported/);
        expect((await post({ resourceType: 'Bundle', type: 'collection', entry: [] })).status).toBe(400);
      });

      it('refuses more entries than limits.maxBundleEntries with 413', async () => {
        await open({ maxBundleEntries: 2 });
        const entry = { request: { method: 'GET', url: 'Patient' } };
        const res = await post(batch([entry, entry, entry]));
        expect(res.status).toBe(413);
        expect(res.body.resourceType).toBe('OperationOutcome');
        expect((await post(batch([entry, entry]))).status).toBe(200);
      });

      it('accepts an empty batch', async () => {
        await open();
        const res = await post(batch([]));
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ resourceType: 'Bundle', type: 'batch-response', entry: [] });
      });
    });

    describe('batch', () => {
      it('runs every interaction through the route table, each on its own', async () => {
        const engine = await open();
        await engine.update({ resourceType: 'Patient', id: 'p1', name: [{ family: 'One' }], identifier: [{ system: 's', value: '1' }] });
        await engine.update({ resourceType: 'Patient', id: 'gone' });
        const res = await post(
          batch([
            { fullUrl: urn('a'), resource: patient('Created'), request: { method: 'POST', url: 'Patient' } },
            { resource: patient('Ignored'), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=s|1' } },
            { resource: { resourceType: 'Patient', id: 'p2', name: [{ family: 'Two' }] }, request: { method: 'PUT', url: 'Patient/p2' } },
            { resource: { resourceType: 'Patient', id: 'p1' }, request: { method: 'PUT', url: 'Patient/p1', ifMatch: 'W/"9"' } },
            { resource: patient('Cond'), request: { method: 'PUT', url: 'Patient?identifier=s|2' } },
            { request: { method: 'DELETE', url: 'Patient/gone' } },
            { request: { method: 'GET', url: 'Patient/nope' } },
            { request: { method: 'GET', url: 'Patient?family=One' } },
            { request: { method: 'GET', url: 'Patient/p1' } },
            { resource: { resourceType: 'Observation' }, request: { method: 'POST', url: 'Patient' } },
            { resource: { resourceType: 'Parameters' }, request: { method: 'POST', url: 'ValueSet/$lookup' } },
          ]),
        );
        expect(res.status).toBe(200);
        expect(res.body.type).toBe('batch-response');
        expect(statuses(res.body)).toEqual([
          '201 Created',
          '200 OK',
          '201 Created',
          '412 Precondition Failed',
          '201 Created',
          '204 No Content',
          '404 Not Found',
          '200 OK',
          '200 OK',
          '400 Bad Request',
          // An operation the engine does not have is an unknown route (R4 http.html; Microsoft: "404").
          '404 Not Found',
        ]);
        const [created, matched, put, failed, , , missing, search, read, , lookup] = res.body.entry;
        expect(created.response.location).toMatch(/^\/Patient\/\d+\/_history\/1$/);
        expect(created.response.etag).toBe('W/"1"');
        expect(created.response.lastModified).toBe(created.resource.meta.lastUpdated);
        expect(created.resource.name[0].family).toBe('Created');
        expect(matched.resource.id).toBe('p1');
        expect(put.resource.id).toBe('p2');
        expect(failed.response.outcome.resourceType).toBe('OperationOutcome');
        expect(failed.resource).toBeUndefined();
        expect(missing.response.outcome.issue[0].code).toBe('not-found');
        expect(lookup.response.outcome.issue[0].code).toBe('not-found');
        expect(search.resource.type).toBe('searchset');
        expect(search.resource.entry).toHaveLength(1);
        expect(read.resource.id).toBe('p1');
        await expect(engine.read('Patient', 'gone')).rejects.toMatchObject({ status: 410 });
        expect(await count()).toBe(4);
      });

      it('reports a malformed entry as that entry only', async () => {
        await open();
        const res = await post(batch([{}, { request: { url: 'Patient' } }, { request: { method: 'GET' } }, { request: { method: 'GET', url: 'Patient' } }]));
        expect(statuses(res.body)).toEqual(['400 Bad Request', '400 Bad Request', '400 Bad Request', '200 OK']);
      });

      it('passes Prefer: return=minimal on to the entries', async () => {
        await open();
        const res = await post(batch([{ resource: patient('m'), request: { method: 'POST', url: 'Patient' } }]), { prefer: 'return=minimal' });
        expect(res.body.entry[0].resource).toBeUndefined();
        expect(res.body.entry[0].response.status).toBe('201 Created');
      });

      it('a failing write in a batch leaves the other entries written', async () => {
        const storage = new FaultAdapter(await makeAdapter());
        await open({ storage });
        storage.arm(2);
        const res = await post(batch(['a', 'b', 'c'].map((f) => ({ resource: patient(f), request: { method: 'POST', url: 'Patient' } }))));
        expect(res.status).toBe(200);
        expect(statuses(res.body)).toEqual(['201 Created', '500 Internal Server Error', '201 Created']);
        expect(storage.faults).toBe(1);
        expect(await count()).toBe(2);
      });
    });

    describe('parallel batch', () => {
      it('runs and answers in entry order', async () => {
        await open();
        const entries = Array.from({ length: 30 }, (_, i) => ({ resource: patient(`P${i}`), request: { method: 'POST', url: 'Patient' } }));
        const res = await post(batch(entries), { 'X-Bundle-Processing-Logic': '  PaRaLLeL ' });
        expect(res.status).toBe(200);
        expect(res.body.entry.map((e: any) => e.resource.name[0].family)).toEqual(entries.map((_, i) => `P${i}`));
        expect(await count()).toBe(30);
      });

      it('refuses entries touching the same resource, conditional criteria or POST fullUrl with 400 naming them', async () => {
        await open();
        const res = await post(
          batch([
            { resource: patient('a'), request: { method: 'PUT', url: 'Patient?identifier=s|1&name=x' } },
            { resource: patient('b'), request: { method: 'POST', url: 'Patient', ifNoneExist: 'name=x&identifier=s|1' } },
            { fullUrl: urn('1'), resource: patient('c'), request: { method: 'POST', url: 'Patient' } },
            { fullUrl: urn('1'), resource: patient('d'), request: { method: 'POST', url: 'Patient' } },
            { request: { method: 'GET', url: 'Patient/1' } },
            { request: { method: 'GET', url: 'Patient/1' } },
            { resource: { resourceType: 'Patient', id: 'x' }, request: { method: 'PUT', url: 'Patient/x' } },
            { resource: { resourceType: 'Patient', id: 'x', active: true }, request: { method: 'PUT', url: 'Patient/x' } },
          ]),
          { 'x-bundle-processing-logic': 'parallel' },
        );
        expect(res.status).toBe(400);
        expect(res.body.issue).toHaveLength(3);
        expect(res.body.issue[0].diagnostics).toContain('entry[0]');
        expect(res.body.issue[0].diagnostics).toContain('entry[1]');
        expect(res.body.issue[1].diagnostics).toContain('entry[3]');
        expect(res.body.issue[2].diagnostics).toContain("'Patient/x'");
        expect(await count()).toBe(0);
      });
    });

    it('FhirEngine.batch returns the response bundle, serial or parallel', async () => {
      const engine = await open();
      const bundle = batch([
        { resource: patient('a'), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Patient/none' } },
      ]);
      for (const parallel of [false, true]) {
        const res = await engine.batch(bundle, { parallel });
        expect(res.type).toBe('batch-response');
        expect(res.entry.map((e) => e.response.status)).toEqual(['201 Created', '404 Not Found']);
      }
      await expect(engine.batch({ resourceType: 'Patient' })).rejects.toBeInstanceOf(FhirError);
      await expect(engine.batch({ resourceType: 'Bundle', type: 'transaction' })).rejects.toMatchObject({ status: 400 });
    });

    describe('transaction', () => {
      it('assigns ids to urn:uuid / urn:oid fullUrls and rewrites references anywhere, in storage and index', async () => {
        const engine = await open();
        const res = await post(
          tx([
            {
              fullUrl: urn('obs'),
              resource: {
                resourceType: 'Observation',
                status: 'final',
                code: { text: 'x' },
                subject: { reference: urn('pat') },
                performer: [{ reference: 'urn:oid:1.2.3' }],
                contained: [{ resourceType: 'Provenance', target: [{ reference: urn('pat') }], recorded: '2026-01-01T00:00:00Z', agent: [{ who: { display: 'a clerk' } }] }],
                hasMember: [{ reference: urn('absent') }],
              },
              request: { method: 'POST', url: 'Observation' },
            },
            { fullUrl: urn('pat'), resource: patient('P', { id: 'client-id' }), request: { method: 'POST', url: 'Patient' } },
            { fullUrl: 'urn:oid:1.2.3', resource: { resourceType: 'Practitioner' }, request: { method: 'POST', url: 'Practitioner' } },
          ]),
        );
        expect(res.status).toBe(200);
        expect(res.body.type).toBe('transaction-response');
        const [obs, pat, prac] = res.body.entry;
        expect(pat.resource.id).not.toBe('client-id');
        expect(obs.resource.subject.reference).toBe(`Patient/${pat.resource.id}`);
        expect(obs.resource.performer[0].reference).toBe(`Practitioner/${prac.resource.id}`);
        expect(obs.resource.contained[0].target[0].reference).toBe(`Patient/${pat.resource.id}`);
        expect(obs.resource.hasMember[0].reference).toBe(urn('absent'));
        const stored = await engine.read<any>('Observation', obs.resource.id);
        expect(stored.subject.reference).toBe(`Patient/${pat.resource.id}`);
        expect((await engine.search('Observation', `subject=Patient/${pat.resource.id}`)).entry).toHaveLength(1);
      });

      it('runs DELETE before POST before PUT/PATCH before GET; refuses a PUT and a PATCH of one resource', async () => {
        const engine = await open();
        await engine.update({ resourceType: 'Patient', id: 'old', name: [{ family: 'New' }] });
        const overlap = await post(
          tx([
            {
              resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify([{ op: 'add', path: '/gender', value: 'male' }])).toString('base64') },
              request: { method: 'PATCH', url: 'Patient/put1' },
            },
            { resource: { resourceType: 'Patient', id: 'put1', name: [{ family: 'New' }] }, request: { method: 'PUT', url: 'Patient/put1' } },
          ]),
        );
        expect(overlap.status).toBe(400);
        expect(overlap.body.issue[0].diagnostics).toContain("'Patient/put1'");
        const res = await post(
          tx([
            { request: { method: 'GET', url: 'Patient?family=New' } },
            { resource: { resourceType: 'Patient', id: 'put1', name: [{ family: 'New' }] }, request: { method: 'PUT', url: 'Patient/put1' } },
            { resource: patient('New'), request: { method: 'POST', url: 'Patient' } },
            { request: { method: 'DELETE', url: 'Patient/old' } },
          ]),
        );
        expect(res.status).toBe(200);
        expect(statuses(res.body)).toEqual(['200 OK', '201 Created', '201 Created', '204 No Content']);
        // The GET ran last: it sees the POST and the PUT, not the deleted one.
        const ids = res.body.entry[0].resource.entry.map((e: any) => e.resource.id).sort();
        expect(ids).toEqual([res.body.entry[2].resource.id, 'put1'].sort());
      });

      it('rolls back every entry, a DELETE too, when one fails; the failure is the transaction status', async () => {
        const engine = await open();
        const before = await engine.update({ resourceType: 'Patient', id: 'keep' });
        const res = await post(
          tx([
            { request: { method: 'DELETE', url: 'Patient/keep' } },
            { resource: patient('a'), request: { method: 'POST', url: 'Patient' } },
            { request: { method: 'GET', url: 'Patient/12345' } },
          ]),
        );
        expect(res.status).toBe(404);
        expect(res.body.issue.map((i: any) => i.code)).toEqual(['processing', 'not-found']);
        expect(res.body.issue[0].diagnostics).toBe("Transaction failed on 'GET' for the requested url 'Patient/12345'.");
        expect((await engine.read('Patient', 'keep')).meta?.lastUpdated).toBe(before.lastUpdated);
        expect(await count()).toBe(1);
        expect((await engine.history({ level: 'system' })).entry).toHaveLength(1);
        // An entry for an operation the engine does not have fails the transaction the same way: 404.
        const lookup = await post(tx([
          { resource: patient('b'), request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Parameters' }, request: { method: 'POST', url: 'ValueSet/$lookup' } },
        ]));
        expect(lookup.status).toBe(404);
        expect(await count()).toBe(1);
      });

      it('is atomic when storage fails mid-way (fault adapter)', async () => {
        const storage = new FaultAdapter(await makeAdapter());
        const engine = await open({ storage });
        await engine.update({ resourceType: 'Patient', id: 'keep', name: [{ family: 'Keep' }] });
        const bundle = tx([
          { request: { method: 'DELETE', url: 'Patient/keep' } },
          ...Array.from({ length: 5 }, (_, i) => ({ fullUrl: urn(`${i}`), resource: patient(`N${i}`), request: { method: 'POST', url: 'Patient' } })),
        ]);
        for (const n of [1, 2, 4, 6]) {
          storage.arm(n);
          const res = await post(bundle);
          expect(res.status).toBe(500);
          expect(res.body.issue[0].diagnostics).toMatch(/^Transaction failed on '(DELETE|POST)'/);
          expect((await engine.read('Patient', 'keep')).id).toBe('keep');
          expect(await count()).toBe(1);
          expect((await engine.history({ level: 'system' })).entry).toHaveLength(1);
        }
        expect(storage.faults).toBe(4);
        storage.disarm();
        const ok = await post(bundle);
        expect(ok.status).toBe(200);
        expect(await count()).toBe(5);
      });

      it('refuses a conditional create that matches a resource another entry updates by id: 400', async () => {
        const engine = await open();
        await engine.update({ resourceType: 'Patient', id: 'x', identifier: [{ system: 's', value: '1' }] });
        const res = await post(
          tx([
            { resource: patient('a'), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=s|1' } },
            { resource: { resourceType: 'Patient', id: 'x' }, request: { method: 'PUT', url: 'Patient/x' } },
          ]),
        );
        expect(res.status).toBe(400);
        expect(res.body.issue[0].diagnostics).toContain("'Patient/x'");
      });

      it('maps the fullUrl of a conditional create that matches to the existing resource', async () => {
        const engine = await open();
        await engine.update({ resourceType: 'Patient', id: 'existing', identifier: [{ system: 's', value: '1' }] });
        const res = await post(
          tx([
            { fullUrl: urn('p'), resource: patient('a', { identifier: [{ system: 's', value: '1' }] }), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=s|1' } },
            { fullUrl: urn('q'), resource: patient('q'), request: { method: 'PUT', url: 'Patient?identifier=s|2' } },
            { resource: { resourceType: 'Observation', status: 'final', code: { text: 'c' }, subject: { reference: urn('p') }, focus: [{ reference: urn('q') }] }, request: { method: 'POST', url: 'Observation' } },
          ]),
        );
        expect(res.status).toBe(200);
        expect(statuses(res.body)).toEqual(['200 OK', '201 Created', '201 Created']);
        expect(res.body.entry[0].resource.id).toBe('existing');
        const obs = res.body.entry[2].resource;
        expect(obs.subject.reference).toBe('Patient/existing');
        expect(obs.focus[0].reference).toBe(`Patient/${res.body.entry[1].resource.id}`);
        expect((await engine.read('Patient', res.body.entry[1].resource.id)).id).toBe(res.body.entry[1].resource.id);
      });

      it('fails with 412 when a conditional entry matches several resources, writing nothing', async () => {
        const engine = await open();
        await engine.create(patient('dup', { identifier: [{ system: 's', value: 'd' }] }));
        await engine.create(patient('dup', { identifier: [{ system: 's', value: 'd' }] }));
        const res = await post(
          tx([
            { resource: patient('new'), request: { method: 'POST', url: 'Patient' } },
            { fullUrl: urn('c'), resource: patient('c'), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=s|d' } },
          ]),
        );
        expect(res.status).toBe(412);
        expect(res.body.issue[0].diagnostics).toContain("Transaction failed on 'POST'");
        expect(await count()).toBe(2);
      });

      it('allows a conditional DELETE (the spec does; Microsoft refuses it)', async () => {
        const engine = await open();
        await engine.create(patient('del', { identifier: [{ system: 's', value: 'del' }] }));
        const res = await post(tx([{ request: { method: 'DELETE', url: 'Patient?identifier=s|del' } }]));
        expect(res.status).toBe(200);
        expect(statuses(res.body)).toEqual(['204 No Content']);
        expect(await count()).toBe(0);
      });

      it('resolves conditional references inside the transaction, including to resources it creates; none → 400', async () => {
        await open();
        const res = await post(
          tx([
            { resource: patient('ref', { identifier: [{ system: 's', value: 'r' }] }), request: { method: 'POST', url: 'Patient' } },
            { resource: { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'c' }, subject: { reference: 'Patient?identifier=s|r' } }, request: { method: 'PUT', url: 'Observation/o1' } },
          ]),
        );
        expect(res.status).toBe(200);
        expect(res.body.entry[1].resource.subject.reference).toBe(`Patient/${res.body.entry[0].resource.id}`);
        const bad = await post(tx([
          { resource: { resourceType: 'Observation', status: 'final', code: { text: 'c' }, subject: { reference: 'Patient?identifier=s|none' } }, request: { method: 'POST', url: 'Observation' } },
        ]));
        expect(bad.status).toBe(400);
        expect(await count('Observation')).toBe(1);
      });

      it('reports a malformed entry as a failed transaction: 400', async () => {
        await open();
        const res = await post(tx([{ request: { method: 'GET', url: 'Patient' } }, { request: { url: 'Patient' } }]));
        expect(res.status).toBe(400);
        expect(res.body.issue[0].diagnostics).toMatch(/^Transaction failed on/);
      });

      it('reads history inside its unit of work (it sees the transaction\'s own writes), and refuses asynchronous operations', async () => {
        const engine = await open();
        await engine.update({ resourceType: 'Patient', id: 'old' });
        const res = await post(
          tx([
            { request: { method: 'GET', url: 'Patient/_history' } },
            { fullUrl: urn('n'), resource: patient('New'), request: { method: 'POST', url: 'Patient' } },
          ]),
        );
        expect(res.status).toBe(200);
        expect(statuses(res.body)).toEqual(['200 OK', '201 Created']);
        // The GET ran last, inside the unit: it sees the POST of this very transaction.
        expect(res.body.entry[0].resource.entry.map((e: any) => e.resource.id).sort()).toEqual([res.body.entry[1].resource.id, 'old'].sort());
        const bulk = await post(tx([{ request: { method: 'DELETE', url: 'Patient/$bulk-delete' } }]), { prefer: 'respond-async' });
        expect(bulk.status).toBe(400);
        expect(bulk.body.issue[1].diagnostics).toMatch(/cannot be part of a transaction/);
        // With sequential ids the first job accepted would be job-1.
        expect(await engine.jobs.get('job-1')).toBeUndefined();
        expect(await count()).toBe(2);
      });

      it('refuses a bundle nested in an entry: 405, in a transaction and in a batch', async () => {
        const engine = await open();
        const inner = { resourceType: 'Bundle', type: 'batch', entry: [] };
        const res = await post(tx([{ resource: inner, request: { method: 'POST', url: '/' } }]));
        expect(res.status).toBe(405);
        expect(res.body.issue[1].diagnostics).toMatch(/bundles do not nest/);
        const nested = await engine.batch(batch([{ resource: inner, request: { method: 'POST', url: '/' } }]));
        expect(nested.entry[0]!.response.status).toBe('405 Method Not Allowed');
      });

      it('FhirEngine.transaction returns the response bundle or throws the failure', async () => {
        const engine = await open();
        const ok = await engine.transaction(tx([{ fullUrl: urn('a'), resource: patient('a'), request: { method: 'POST', url: 'Patient' } }]));
        expect(ok.type).toBe('transaction-response');
        expect(ok.entry[0]!.response.status).toBe('201 Created');
        const failed = engine.transaction(tx([{ request: { method: 'GET', url: 'Patient/none' } }]));
        await expect(failed).rejects.toBeInstanceOf(FhirError);
        await expect(failed).rejects.toMatchObject({
          status: 404,
          issues: [{ diagnostics: "Transaction failed on 'GET' for the requested url 'Patient/none'." }, { code: 'not-found' }],
        });
      });
    });
  });
}
