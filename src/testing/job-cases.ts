/**
 * `$bulk-delete` and the job runner on one adapter (Microsoft's scenarios, §10.7 of the behaviour notes):
 * kick-off, polling, counts per type, soft/hard/purge-history modes, cancel, failure, snapshot and
 * concurrency limits. Part of the adapter conformance suite, so jobs behave the same on every adapter.
 */
import { afterEach, describe, expect, it } from './api.js';
import type { FhirEngine } from '../engine.js';
import { FhirError } from '../errors.js';
import type { Resource } from '../resource/resource.js';
import type { JobRecord } from '../storage/job-record.js';
import type { StorageAdapter, StorageTx } from '../storage/storage-adapter.js';
import { body, countsOf, gated, holdWrites, jobIdOf, overrideTx, kickOff, makeEngine as makeEngineOn, runHttp, seed, status, TAG } from './job-helpers.js';

export function registerJobConformance(name: string, makeAdapter: () => Promise<StorageAdapter>): void {
  describe(`job conformance: ${name}`, () => {
    const engines: FhirEngine[] = [];
    afterEach(async () => {
      for (const e of engines.splice(0)) await e.close();
    });
    /** An engine on a fresh adapter (or the one given), closed after the case. */
    const makeEngine = async (options: Partial<Parameters<typeof makeEngineOn>[0]> = {}): Promise<FhirEngine> => {
      const engine = makeEngineOn({ ...options, storage: options.storage ?? (await makeAdapter()) });
      engines.push(engine);
      return engine;
    };

    describe('$bulk-delete over HTTP', () => {
      it('scenario 1: system level deletes every tagged resource, counts per type', async () => {
        const engine = await makeEngine();
        const patients = await seed(engine, 'Patient', 2);
        await seed(engine, 'Location', 1);
        await seed(engine, 'Organization', 1);
        const [untagged] = await seed(engine, 'Patient', 1, false);
        const res = await kickOff(engine, '/$bulk-delete?_tag=T');
        expect(res.status).toBe(202);
        expect(res.headers['content-location']).toBe('/_operations/bulk-delete/job-1');
        expect(res.body).toBeUndefined();
        await engine.jobs.settled('job-1');
        const done = await status(engine, 'job-1');
        expect(done.status).toBe(200);
        expect(body(done).resourceType).toBe('Parameters');
        expect(countsOf(done)).toEqual({ Location: 1, Organization: 1, Patient: 2 });
        expect((await engine.handle({ method: 'GET', url: `/Patient/${patients[0]}` })).status).toBe(410);
        expect((await engine.handle({ method: 'GET', url: `/Patient/${untagged}` })).status).toBe(200);
      });

      it('Content-Location carries the base URL', async () => {
        const engine = await makeEngine({ baseUrl: 'http://fhir.test/r4/' });
        const res = await kickOff(engine, '/Patient/$bulk-delete');
        expect(res.headers['content-location']).toBe('http://fhir.test/r4/_operations/bulk-delete/job-1');
      });

      it('scenario 2: type level deletes only that type', async () => {
        const engine = await makeEngine();
        await seed(engine, 'Patient', 4);
        const [device] = await seed(engine, 'Device', 1);
        const done = await runHttp(engine, '/Patient/$bulk-delete?_tag=T');
        expect(countsOf(done)).toEqual({ Patient: 4 });
        expect((await engine.handle({ method: 'GET', url: `/Device/${device}` })).status).toBe(200);
      });

      it('scenario 3: unknown and unsupported parameters are a 400; no job is created', async () => {
        const engine = await makeEngine();
        for (const url of [
          '/$bulk-delete?_tag=T&invalidParam=badRequest',
          '/Patient/$bulk-delete?Cookie=Chip',
          '/Patient/$bulk-delete?_include:iterate=Patient:organization',
          '/Patient/$bulk-delete?_include=Patient:nope',
          '/Patient/$bulk-delete?_hardDelete=yes',
          '/$bulk-delete?excludedResourceTypes=Nope',
          '/Patient/$bulk-delete?birthdate=notadate',
        ]) {
          const res = await kickOff(engine, url);
          expect(res.status, url).toBe(400);
          expect(body(res).resourceType).toBe('OperationOutcome');
        }
        expect(await engine.jobs.get('job-1')).toBeUndefined();
        expect((await kickOff(engine, '/Nope/$bulk-delete')).status).toBe(404);
      });

      it('$bulkDelete (the article\'s spelling) is the same operation at both levels, listed once in the CapabilityStatement', async () => {
        const engine = await makeEngine();
        await seed(engine, 'Patient', 2);
        await seed(engine, 'Organization', 1);
        const typeLevel = await kickOff(engine, '/Patient/$bulkDelete?_tag=T');
        expect(typeLevel.status).toBe(202);
        expect(typeLevel.headers['content-location']).toBe('/_operations/bulk-delete/job-1');
        await engine.jobs.settled('job-1');
        expect(countsOf(await status(engine, 'job-1'))).toEqual({ Patient: 2 });
        await seed(engine, 'Patient', 1);
        const systemLevel = await kickOff(engine, '/$bulkDelete?_tag=T&_hardDelete=true');
        expect(systemLevel.status).toBe(202);
        expect(systemLevel.headers['content-location']).toBe('/_operations/bulk-delete/job-2');
        await engine.jobs.settled('job-2');
        expect(countsOf(await status(engine, 'job-2'))).toEqual({ Organization: 1, Patient: 1 });
        expect((await engine.jobs.get('job-2'))?.params).toMatchObject({ level: 'system', mode: 'hard' });
        // The same rules: Prefer required, unknown parameters and types refused, other methods 405.
        expect((await kickOff(engine, '/$bulkDelete?_tag=T', {})).status).toBe(400);
        expect((await kickOff(engine, '/Patient/$bulkDelete?Cookie=Chip')).status).toBe(400);
        expect((await kickOff(engine, '/Nope/$bulkDelete')).status).toBe(404);
        expect((await engine.handle({ method: 'POST', url: '/Patient/$bulkDelete' })).status).toBe(405);
        expect(await engine.jobs.get('job-3')).toBeUndefined();
        const metadata = body(await engine.handle({ method: 'GET', url: '/metadata' })) as {
          rest: { operation: { name: string }[]; resource: { operation?: { name: string }[] }[] }[];
        };
        const names = [...metadata.rest[0]!.operation, ...metadata.rest[0]!.resource.flatMap((r) => r.operation ?? [])].map((o) => o.name);
        expect(names.filter((n) => /bulk-?delete/i.test(n))).toEqual(['bulk-delete']);
      });

      it('Prefer: respond-async is required', async () => {
        const engine = await makeEngine();
        expect((await kickOff(engine, '/$bulk-delete?_tag=T', {})).status).toBe(400);
        const other = await kickOff(engine, '/$bulk-delete?_tag=T', { prefer: 'return=minimal' });
        expect(other.status).toBe(400);
        expect(other.body).toContain('Prefer');
        expect((await kickOff(engine, '/$bulk-delete?_tag=T', { Prefer: 'respond-async' })).status).toBe(202);
      });

      it('other methods on the routes are 405', async () => {
        const engine = await makeEngine();
        expect((await engine.handle({ method: 'POST', url: '/$bulk-delete' })).status).toBe(405);
        expect((await engine.handle({ method: 'PUT', url: '/_operations/bulk-delete/job-1' })).status).toBe(405);
      });

      it('scenario 4: soft delete keeps history; the job writes DELETE versions', async () => {
        const engine = await makeEngine();
        const [id] = await seed(engine, 'Patient', 1);
        await runHttp(engine, '/Patient/$bulk-delete?_tag=T');
        const hist = body(await engine.handle({ method: 'GET', url: `/Patient/${id}/_history` })) as {
          entry: { request?: { method: string } }[];
        };
        expect(hist.entry).toHaveLength(2);
        expect(hist.entry[0]!.request?.method).toBe('DELETE');
        expect((await engine.handle({ method: 'GET', url: `/Patient/${id}` })).status).toBe(410);
        expect((await engine.handle({ method: 'GET', url: `/Patient/${id}/_history/1` })).status).toBe(200);
      });

      for (const flag of ['_hardDelete=true', 'hardDelete=true', 'hardDelete=TRUE&_purgeHistory=true']) it(`scenario 5: ${flag} removes every version`, async () => {
        const engine = await makeEngine();
        const [id] = await seed(engine, 'Patient', 1);
        await engine.update({ resourceType: 'Patient', id, meta: { tag: [TAG] }, active: true });
        const done = await runHttp(engine, `/Patient/$bulk-delete?_tag=T&${flag}`);
        expect(countsOf(done)).toEqual({ Patient: 1 });
        expect((await engine.handle({ method: 'GET', url: `/Patient/${id}` })).status).toBe(404);
        expect((await engine.handle({ method: 'GET', url: `/Patient/${id}/_history/1` })).status).toBe(404);
        const hist = await engine.handle({ method: 'GET', url: `/Patient/${id}/_history` });
        expect(hist.status).toBe(404);
      });

      it('scenario 6: _purgeHistory keeps the current version only, across several chunks', async () => {
        const engine = await makeEngine({ chunkSize: 2 });
        const ids = await seed(engine, 'Patient', 5);
        for (const id of ids) await engine.update({ resourceType: 'Patient', id, meta: { tag: [TAG] }, active: true });
        const done = await runHttp(engine, '/Patient/$bulk-delete?_tag=T&_purgeHistory=true');
        expect(countsOf(done)).toEqual({ Patient: 5 });
        for (const id of ids) {
          const hist = body(await engine.handle({ method: 'GET', url: `/Patient/${id}/_history` })) as { entry: unknown[] };
          expect(hist.entry).toHaveLength(1);
          const read = await engine.handle({ method: 'GET', url: `/Patient/${id}` });
          expect(read.status).toBe(200);
          expect(read.headers.etag).toBe('W/"2"');
        }
      });

      it('scenario 8: excludedResourceTypes are never touched', async () => {
        const engine = await makeEngine();
        await seed(engine, 'Patient', 2);
        await seed(engine, 'Organization', 1);
        await seed(engine, 'Observation', 1, true, { status: 'final', code: { text: 'x' } });
        await seed(engine, 'Location', 1);
        const done = await runHttp(engine, '/$bulk-delete?_tag=T&excludedResourceTypes=Observation,Location');
        expect(countsOf(done)).toEqual({ Organization: 1, Patient: 2 });
        const left = body(await engine.handle({ method: 'GET', url: '/?_tag=T' })) as { entry?: { resource: { resourceType: string } }[] };
        expect(left.entry?.map((e) => e.resource.resourceType).sort()).toEqual(['Location', 'Observation']);
      });

      it('criteria: identifier, string :contains and a chain', async () => {
        const engine = await makeEngine();
        const { resource: org } = await engine.create<Resource>({ resourceType: 'Organization', name: 'Acme Hospital' });
        const { resource: a } = await engine.create<Resource>({ resourceType: 'Patient', identifier: [{ system: 'http://x', value: '1' }] });
        const { resource: b } = await engine.create<Resource>({ resourceType: 'Patient', address: [{ city: 'Seattle' }] });
        const { resource: c } = await engine.create<Resource>({ resourceType: 'Patient', managingOrganization: { reference: `Organization/${org.id}` } });
        const { resource: d } = await engine.create<Resource>({ resourceType: 'Patient', name: [{ family: 'Keep' }] });
        expect(countsOf(await runHttp(engine, '/Patient/$bulk-delete?identifier=http://x|1'))).toEqual({ Patient: 1 });
        expect(countsOf(await runHttp(engine, '/Patient/$bulk-delete?address:contains=EAT'))).toEqual({ Patient: 1 });
        expect(countsOf(await runHttp(engine, '/Patient/$bulk-delete?organization.name=Acme'))).toEqual({ Patient: 1 });
        for (const p of [a, b, c]) expect((await engine.handle({ method: 'GET', url: `/Patient/${p.id}` })).status).toBe(410);
        expect((await engine.handle({ method: 'GET', url: `/Patient/${d.id}` })).status).toBe(200);
        expect((await engine.handle({ method: 'GET', url: `/Organization/${org.id}` })).status).toBe(200);
      });

      it('result-control parameters are ignored', async () => {
        const engine = await makeEngine();
        await seed(engine, 'Patient', 3);
        expect(countsOf(await runHttp(engine, '/Patient/$bulk-delete?_tag=T&_count=1&_summary=count&_total=accurate'))).toEqual({ Patient: 3 });
      });

      it('a job that matches nothing completes with no ResourceDeletedCount', async () => {
        const engine = await makeEngine();
        const done = await runHttp(engine, '/Patient/$bulk-delete?_tag=none');
        expect(done.status).toBe(200);
        expect(body(done)).toEqual({ resourceType: 'Parameters' });
      });

      it('status: 202 with X-Progress while queued, progress events per chunk, 404 for an unknown id', async () => {
        const gate = gated(await makeAdapter());
        const engine = await makeEngine({ chunkSize: 1, storage: gate.storage });
        await seed(engine, 'Patient', 3);
        const seen: JobRecord[] = [];
        engine.jobs.on('progress', (job) => {
          seen.push(job);
          if (job.status === 'queued') gate.hold(); // the runner's first unit waits: the job stays queued
        });
        const id = jobIdOf(await kickOff(engine, '/Patient/$bulk-delete?_tag=T'));
        const queued = await status(engine, id);
        gate.release();
        expect(queued.status).toBe(202);
        expect(queued.headers['x-progress']).toBe('in progress');
        const issues = (body(queued).parameter as { name: string; resource?: { issue: { severity: string; code: string }[] } }[]).find(
          (p) => p.name === 'Issues',
        );
        expect(issues?.resource?.issue[0]).toMatchObject({ severity: 'information', code: 'informational' });
        await engine.jobs.settled(id);
        // chunk 3 deletes the last match and sees that nothing is left: it completes the job
        expect(seen.map((j) => j.status)).toEqual(['queued', 'running', 'running', 'completed']);
        expect(seen.map((j) => j.progress.processed)).toEqual([0, 1, 2, 3]);
        expect(seen.map((j) => j.revision)).toEqual([1, 2, 3, 4]);
        const unknown = await status(engine, 'nope');
        expect(unknown.status).toBe(404);
        expect(unknown.body).toContain('The requested job \\"nope\\" was not found.');
        expect((await engine.handle({ method: 'DELETE', url: '/_operations/bulk-delete/nope' })).status).toBe(404);
      });

      it('status while running: 202 with X-Progress and the counts committed so far; another engine finishes the job', async () => {
        const storage = await makeAdapter();
        const first = makeEngineOn({ storage, chunkSize: 1 }); // closed through `second`, which shares its storage
        await seed(first, 'Patient', 3);
        let stopped: Promise<void> | undefined;
        const afterFirstChunk = new Promise<void>((resolve) =>
          first.jobs.on('progress', (job) => {
            if (job.status === 'running' && !stopped) {
              stopped = first.jobs.stop(); // no chunk starts after this one
              resolve();
            }
          }),
        );
        const id = jobIdOf(await kickOff(first, '/Patient/$bulk-delete?_tag=T'));
        await afterFirstChunk;
        await stopped;
        const running = await status(first, id);
        expect(running.status).toBe(202);
        expect(running.headers['x-progress']).toBe('in progress');
        expect(countsOf(running)).toEqual({ Patient: 1 });
        const second = await makeEngine({ storage, chunkSize: 1 });
        await second.start();
        expect((await second.jobs.settled(id)).status).toBe('completed');
        const done = await status(second, id);
        expect(done.status).toBe(200);
        expect(countsOf(done)).toEqual({ Patient: 3 });
      });

      it('scenario 10: cancel a running job → 202, it stops between chunks, ends cancelled with counts so far', async () => {
        const engine = await makeEngine({ chunkSize: 2 });
        await seed(engine, 'Patient', 10);
        let cancel: Promise<Awaited<ReturnType<typeof status>>> | undefined;
        engine.jobs.on('progress', (job) => {
          if (job.progress.chunks === 2 && !cancel) cancel = engine.handle({ method: 'DELETE', url: `/_operations/bulk-delete/${job.id}` });
        });
        const id = jobIdOf(await kickOff(engine, '/Patient/$bulk-delete?_tag=T'));
        const final = await engine.jobs.settled(id);
        expect((await cancel)?.status).toBe(202);
        expect(final.status).toBe('cancelled');
        expect(final.progress.byType).toEqual({ Patient: 4 });
        expect(final.transitions.map((t) => t.status)).toEqual(['queued', 'running', 'cancelled']);
        const res = await status(engine, id);
        expect(res.status).toBe(200);
        expect(countsOf(res)).toEqual({ Patient: 4 });
        expect(res.body).toContain('Job Canceled');
        const left = body(await engine.handle({ method: 'GET', url: '/Patient?_tag=T&_summary=count' }));
        expect(left.total).toBe(6);
        // Cancelling a finished job: 409, unchanged.
        const again = await engine.handle({ method: 'DELETE', url: `/_operations/bulk-delete/${id}` });
        expect(again.status).toBe(409);
        expect(await engine.jobs.get(id)).toEqual(final);
      });

      it('scenario 10: cancelling a completed job → 409 and the job is unchanged', async () => {
        const engine = await makeEngine();
        await seed(engine, 'Patient', 1);
        const done = await runHttp(engine, '/Patient/$bulk-delete?_tag=T');
        expect(done.status).toBe(200);
        const before = await engine.jobs.get('job-1');
        const res = await engine.handle({ method: 'DELETE', url: '/_operations/bulk-delete/job-1' });
        expect(res.status).toBe(409);
        expect(res.body).toContain('Bulk delete operation has already completed');
        expect(await engine.jobs.get('job-1')).toEqual(before);
        await expect(engine.jobs.cancel('job-1')).rejects.toMatchObject({ status: 409 });
      });

      it('scenario 10: a failed job → 500 OperationOutcome with the reason; cancelling it → 409', async () => {
        const errors: unknown[] = [];
        const failing = failingPurge(await makeAdapter());
        const engine = await makeEngine({ storage: failing, onError: (e) => errors.push(e) });
        const [id] = await seed(engine, 'Patient', 2);
        const res = await runHttp(engine, '/Patient/$bulk-delete?_hardDelete=true');
        expect(res.status).toBe(500);
        expect(body(res).resourceType).toBe('OperationOutcome');
        expect(res.body).toContain('disk on fire');
        const job = (await engine.jobs.get('job-1'))!;
        expect(job.status).toBe('failed');
        expect(job.error).toEqual({ code: 'exception', message: 'disk on fire' });
        expect(job.transitions.map((t) => t.status)).toEqual(['queued', 'running', 'failed']);
        expect(errors).toHaveLength(1);
        // The failing chunk rolled back: nothing was deleted.
        expect((await engine.handle({ method: 'GET', url: `/Patient/${id}` })).status).toBe(200);
        expect((await engine.handle({ method: 'DELETE', url: '/_operations/bulk-delete/job-1' })).status).toBe(409);
      });
    });

    /** An adapter whose `purge` throws. */
    const failingPurge = (inner: StorageAdapter): StorageAdapter => overrideTx(inner, () => ({ purge: () => Promise.reject(new Error('disk on fire')) }));

    describe('$bulk-delete with _include, _revinclude and _remove-references', () => {
      const ref = (type: string, id: string) => ({ reference: `${type}/${id}` });
      const read = (engine: FhirEngine, type: string, id: string) => engine.handle({ method: 'GET', url: `/${type}/${id}` });
      const historyLength = async (engine: FhirEngine, type: string, id: string) =>
        ((body(await engine.handle({ method: 'GET', url: `/${type}/${id}/_history` })) as { entry?: unknown[] }).entry ?? []).length;

      it('scenario 7: _include=Observation:* deletes what the matches refer to, counted per type', async () => {
        const engine = await makeEngine();
        const [patient] = await seed(engine, 'Patient', 1, false);
        const [encounter] = await seed(engine, 'Encounter', 1, false, { status: 'finished', class: { code: 'AMB' } });
        const [obs] = await seed(engine, 'Observation', 1, true, { status: 'final', code: { text: 'x' }, subject: ref('Patient', patient!), encounter: ref('Encounter', encounter!) });
        const [other] = await seed(engine, 'Observation', 1, false, { status: 'final', code: { text: 'y' }, subject: ref('Patient', patient!) });
        const done = await runHttp(engine, '/Observation/$bulk-delete?_tag=T&_include=Observation:*');
        expect(done.status).toBe(200);
        expect(countsOf(done)).toEqual({ Encounter: 1, Observation: 1, Patient: 1 });
        for (const [type, id] of [['Observation', obs], ['Patient', patient], ['Encounter', encounter]] as const) {
          expect((await read(engine, type, id!)).status, `${type}/${id}`).toBe(410);
        }
        expect((await read(engine, 'Observation', other!)).status).toBe(200);
      });

      it('scenario 7: _revinclude=*:* deletes whatever refers to the matches, through any reference', async () => {
        const engine = await makeEngine();
        const [patient, untagged] = [...(await seed(engine, 'Patient', 1)), ...(await seed(engine, 'Patient', 1, false))];
        await seed(engine, 'Observation', 1, false, { status: 'final', code: { text: 'x' }, subject: ref('Patient', patient!) });
        await seed(engine, 'Encounter', 1, false, { status: 'finished', class: { code: 'AMB' }, subject: ref('Patient', patient!) });
        const [kept] = await seed(engine, 'Observation', 1, false, { status: 'final', code: { text: 'x' }, subject: ref('Patient', untagged!) });
        const done = await runHttp(engine, '/Patient/$bulk-delete?_tag=T&_revinclude=*:*');
        expect(countsOf(done)).toEqual({ Encounter: 1, Observation: 1, Patient: 1 });
        expect((await read(engine, 'Observation', kept!)).status).toBe(200);
        expect((await read(engine, 'Patient', untagged!)).status).toBe(200);
      });

      /** 5 tagged Patients of one Organization, 3 Observations each, and one Patient with 5: more than a chunk. */
      async function family(engine: FhirEngine) {
        const [org] = await seed(engine, 'Organization', 1, false);
        const patients = await seed(engine, 'Patient', 6, true, { managingOrganization: ref('Organization', org!) });
        const observations: string[] = [];
        for (const [i, p] of patients.entries()) {
          observations.push(...(await seed(engine, 'Observation', i === 5 ? 5 : 3, false, { status: 'final', code: { text: 'x' }, subject: ref('Patient', p) })));
        }
        const [stranger] = await seed(engine, 'Observation', 1, false, { status: 'final', code: { text: 'x' } });
        return { org: org!, patients, observations, stranger: stranger! };
      }
      const FAMILY = '/Patient/$bulk-delete?_tag=T&_include=Patient:organization&_revinclude=Observation:subject';

      const modes = [
        ['soft', '', 410, 2],
        ['hard', '&_hardDelete=true', 404, 0],
        ['purge-history', '&_purgeHistory=true', 200, 1],
      ] as const;
      for (const [mode, flag, readStatus, versions] of modes) it(`exact across chunks of 2 (${mode}): each resource deleted once, counted once, nothing left`, async () => {
        const engine = await makeEngine({ chunkSize: 2 });
        const { org, patients, observations, stranger } = await family(engine);
        const done = await runHttp(engine, `${FAMILY}${flag}`);
        expect(done.status).toBe(200);
        expect(countsOf(done)).toEqual({ Observation: 20, Organization: 1, Patient: 6 });
        for (const [type, id] of [['Organization', org], ...patients.map((p) => ['Patient', p]), ...observations.map((o) => ['Observation', o])] as const) {
          expect((await read(engine, type, id)).status, `${type}/${id}`).toBe(readStatus);
          expect(await historyLength(engine, type, id), `${type}/${id} history`).toBe(versions);
        }
        expect((await read(engine, 'Observation', stranger)).status).toBe(200);
      });

      it('a unit never writes more than the chunk size, and a stopped job resumed by another engine ends exact', async () => {
        const storage = await makeAdapter();
        const first = makeEngineOn({ storage, chunkSize: 2 });
        await family(first);
        const units: number[] = [];
        let stopped: Promise<void> | undefined;
        const afterTwoUnits = new Promise<void>((resolve) =>
          first.jobs.on('progress', (job) => {
            if (job.status !== 'running') return;
            units.push(job.progress.processed);
            if (units.length === 2 && !stopped) {
              stopped = first.jobs.stop();
              resolve();
            }
          }),
        );
        const id = jobIdOf(await kickOff(first, `${FAMILY}&_hardDelete=true`));
        await afterTwoUnits;
        await stopped;
        const second = await makeEngine({ storage, chunkSize: 2 });
        second.jobs.on('progress', (job) => units.push(job.progress.processed));
        await second.start();
        const done = await second.jobs.settled(id);
        expect(done.status).toBe('completed');
        expect(done.progress.byType).toEqual({ Observation: 20, Organization: 1, Patient: 6 });
        expect(done.progress.processed).toBe(27);
        const steps = units.map((n, i) => n - (units[i - 1] ?? 0));
        expect(Math.max(...steps)).toBeLessThanOrEqual(2);
        expect(units.at(-1)).toBe(27);
      });

      it('a chunk of 600 matches: their references are searched in several queries, every include deleted', async () => {
        const engine = await makeEngine();
        const entry = Array.from({ length: 600 }, (_, i) => [
          { resource: { resourceType: 'Patient', id: `bp${i}`, meta: { tag: [TAG] } }, request: { method: 'PUT', url: `Patient/bp${i}` } },
          { resource: { resourceType: 'Observation', id: `bo${i}`, status: 'final', code: { text: 'x' }, subject: ref('Patient', `bp${i}`) }, request: { method: 'PUT', url: `Observation/bo${i}` } },
        ]).flat();
        const batch = await engine.handle({ method: 'POST', url: '/', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry }) });
        expect(batch.status).toBe(200);
        const done = await runHttp(engine, '/Patient/$bulk-delete?_tag=T&_revinclude=Observation:subject&_hardDelete=true');
        expect(countsOf(done)).toEqual({ Observation: 600, Patient: 600 });
        expect(body(await engine.handle({ method: 'GET', url: '/Observation?_summary=count' })).total).toBe(0);
      });

      it('excludedResourceTypes: included resources of those types are not deleted', async () => {
        const engine = await makeEngine();
        const { org, observations } = await family(engine);
        const done = await runHttp(engine, `${FAMILY}&excludedResourceTypes=Organization`);
        expect(countsOf(done)).toEqual({ Observation: 20, Patient: 6 });
        expect((await read(engine, 'Organization', org)).status).toBe(200);
        expect((await read(engine, 'Observation', observations[0]!)).status).toBe(410);
      });

      it('scenario 9: _remove-references with a hard delete rewrites each reference as a new version, in the same unit', async () => {
        const engine = await makeEngine({ chunkSize: 2 });
        const [patient] = await seed(engine, 'Patient', 1);
        // More referrers than a unit can write: they are rewritten over several units, then the Patient goes.
        const referrers = await seed(engine, 'Observation', 5, false, {
          status: 'final',
          code: { text: 'x' },
          subject: ref('Patient', patient!),
          performer: [ref('Patient', patient!), { reference: 'Practitioner/kept', display: 'Dr Kept' }],
        });
        // A tagged Patient linking to the first is deleted too, not rewritten.
        const [linked] = await seed(engine, 'Patient', 1, true, { link: [{ other: ref('Patient', patient!), type: 'seealso' }] });
        const done = await runHttp(engine, '/Patient/$bulk-delete?_tag=T&_hardDelete=true&_remove-references=true');
        expect(countsOf(done)).toEqual({ Patient: 2 });
        expect((await read(engine, 'Patient', patient!)).status).toBe(404);
        expect((await read(engine, 'Patient', linked!)).status).toBe(404);
        for (const id of referrers) {
          const res = await read(engine, 'Observation', id);
          expect(res.status).toBe(200);
          const obs = body(res) as { meta: { versionId: string }; subject: unknown; performer: unknown[] };
          expect(obs.meta.versionId).toBe('2');
          expect(obs.subject).toEqual({ display: 'Referenced resource deleted' });
          expect(obs.performer).toEqual([{ display: 'Referenced resource deleted' }, { reference: 'Practitioner/kept', display: 'Dr Kept' }]);
        }
        const left = body(await engine.handle({ method: 'GET', url: `/Observation?subject=Patient/${patient}` })) as { entry?: unknown[] };
        expect(left.entry ?? []).toHaveLength(0);
      });

      it('_remove-references with includes: a referrer the job deletes later is deleted, never left rewritten', async () => {
        const engine = await makeEngine({ chunkSize: 1 });
        // Reverse: Observation/o2 refers to p1 (performer) and is an include of p2 (subject).
        const [p1, p2] = await seed(engine, 'Patient', 2);
        const [o2] = await seed(engine, 'Observation', 1, false, { status: 'final', code: { text: 'x' }, subject: ref('Patient', p2!), performer: [ref('Patient', p1!)] });
        const rev = await runHttp(engine, '/Patient/$bulk-delete?_tag=T&_revinclude=Observation:subject&_hardDelete=true&_remove-references=true');
        expect(countsOf(rev)).toEqual({ Observation: 1, Patient: 2 });
        expect((await read(engine, 'Observation', o2!)).status).toBe(404);
        // Forward: Patient b links to a; a is an include of the first Observation, b of the second.
        const [a] = await seed(engine, 'Patient', 1, false);
        const [b] = await seed(engine, 'Patient', 1, false, { link: [{ other: ref('Patient', a!), type: 'seealso' }] });
        await seed(engine, 'Observation', 1, true, { status: 'final', code: { text: 'x' }, subject: ref('Patient', a!) });
        await seed(engine, 'Observation', 1, true, { status: 'final', code: { text: 'x' }, subject: ref('Patient', b!) });
        const fwd = await runHttp(engine, '/Observation/$bulk-delete?_tag=T&_include=Observation:subject&_hardDelete=true&_remove-references=true');
        expect(countsOf(fwd)).toEqual({ Observation: 2, Patient: 2 });
        expect((await read(engine, 'Patient', b!)).status).toBe(404);
      });

      it('snapshot: matches and includes written after submission survive', async () => {
        const gate = gated(await makeAdapter());
        const engine = await makeEngine({ chunkSize: 2, storage: gate.storage });
        const { patients, observations } = await family(engine);
        const lastObservation = observations.at(-1)!;
        const writes: Promise<unknown>[] = [];
        let armed = true;
        engine.jobs.on('progress', (job) => {
          if (armed && job.status === 'running') {
            armed = false;
            // After the first unit: a new referrer of the last Patient, a new match, an update of an include of the last Patient.
            writes.push(engine.create({ resourceType: 'Observation', status: 'final', code: { text: 'new' }, subject: ref('Patient', patients[5]!) }));
            writes.push(engine.create({ resourceType: 'Patient', meta: { tag: [TAG] } }));
            writes.push(engine.update({ resourceType: 'Observation', id: lastObservation, status: 'amended', code: { text: 'x' }, subject: ref('Patient', patients[5]!) }));
            gate.hold();
            void Promise.allSettled(writes).then(() => gate.release());
          }
        });
        const id = jobIdOf(await kickOff(engine, `${FAMILY}&_hardDelete=true`));
        const done = await engine.jobs.settled(id);
        const [newObs, newPatient] = (await Promise.all(writes)) as { resource: Resource }[];
        expect(done.progress.byType).toEqual({ Observation: 19, Organization: 1, Patient: 6 });
        expect((await read(engine, 'Observation', newObs!.resource.id!)).status).toBe(200);
        expect((await read(engine, 'Patient', newPatient!.resource.id!)).status).toBe(200);
        expect((await read(engine, 'Observation', lastObservation)).status).toBe(200);
        for (const p of patients) expect((await read(engine, 'Patient', p)).status).toBe(404);
      });

      it('_remove-references is ignored by soft deletes; a bad value is a 400', async () => {
        const engine = await makeEngine();
        const [patient] = await seed(engine, 'Patient', 1);
        const [obs] = await seed(engine, 'Observation', 1, false, { status: 'final', code: { text: 'x' }, subject: ref('Patient', patient!) });
        expect(countsOf(await runHttp(engine, '/Patient/$bulk-delete?_tag=T&_remove-references=true'))).toEqual({ Patient: 1 });
        const res = body(await read(engine, 'Observation', obs!)) as { meta: { versionId: string }; subject: unknown };
        expect(res.meta.versionId).toBe('1');
        expect(res.subject).toEqual(ref('Patient', patient!));
        expect((await kickOff(engine, '/Patient/$bulk-delete?_remove-references=maybe')).status).toBe(400);
      });
    });

    describe('engine.bulkDelete (typed API)', () => {
      it('deletes, reports per-type counts and resolves settled()', async () => {
        const engine = await makeEngine({ chunkSize: 3 });
        await seed(engine, 'Patient', 7);
        await seed(engine, 'Organization', 2);
        const job = await engine.bulkDelete({ criteria: '_tag=T' });
        expect(job).toMatchObject({ id: 'job-1', kind: 'bulk-delete', status: 'queued', revision: 1, cancelRequested: false });
        const done = await engine.jobs.settled(job.id);
        expect(done.status).toBe('completed');
        expect(done.progress).toEqual({ processed: 9, byType: { Organization: 2, Patient: 7 }, chunks: 3 });
        expect(done.transitions.map((t) => t.status)).toEqual(['queued', 'running', 'completed']);
        for (const t of done.transitions) expect(t.at).toMatch(/^2026-01-01T/);
        expect(await engine.jobs.settled(job.id)).toEqual(done); // a finished job keeps its outcome
      });

      it('criteria as pairs or a record; type, hardDelete, purgeHistory, excludedResourceTypes', async () => {
        const engine = await makeEngine();
        const [p1] = await seed(engine, 'Patient', 2);
        await seed(engine, 'Organization', 1);
        await seed(engine, 'Device', 1);
        const a = await engine.jobs.settled((await engine.bulkDelete({ type: 'Patient', criteria: [['_id', p1!]], hardDelete: true })).id);
        expect(a.progress.byType).toEqual({ Patient: 1 });
        expect(a.params).toMatchObject({ level: 'type', type: 'Patient', mode: 'hard' });
        await expect(engine.read('Patient', p1!)).rejects.toMatchObject({ status: 404 });
        const b = await engine.jobs.settled(
          (await engine.bulkDelete({ criteria: { _tag: 'T' }, excludedResourceTypes: ['Device'], purgeHistory: true })).id,
        );
        expect(b.params).toMatchObject({ level: 'system', mode: 'purge-history', excludedResourceTypes: ['Device'] });
        expect(b.progress.byType).toEqual({ Organization: 1, Patient: 1 });
      });

      it('invalid requests throw FhirError 400 / 404', async () => {
        const engine = await makeEngine();
        await expect(engine.bulkDelete({ criteria: 'invalidParam=1' })).rejects.toBeInstanceOf(FhirError);
        await expect(engine.bulkDelete({ criteria: 'invalidParam=1' })).rejects.toMatchObject({ status: 400 });
        await expect(engine.bulkDelete({ type: 'Nope' })).rejects.toMatchObject({ status: 404 });
        await expect(engine.bulkDelete({ excludedResourceTypes: ['Nope'] })).rejects.toMatchObject({ status: 400 });
        await expect(engine.bulkDelete({ hardDelete: 'yes' } as never)).rejects.toMatchObject({ status: 400 });
        await expect(engine.jobs.cancel('nope')).rejects.toMatchObject({ status: 404 });
        await expect(engine.jobs.settled('nope')).rejects.toMatchObject({ status: 404 });
        expect(await engine.jobs.get('nope')).toBeUndefined();
      });

      it('snapshot: resources created or updated after submit survive', async () => {
        const gate = gated(await makeAdapter());
        const engine = await makeEngine({ chunkSize: 2, storage: gate.storage });
        const ids = await seed(engine, 'Patient', 6);
        const last = ids[ids.length - 1]!;
        const writes: Promise<unknown>[] = [];
        engine.jobs.on('progress', (job) => {
          if (job.progress.chunks === 1 && job.status === 'running') {
            // The two writes start their units now; the job's next unit waits until both committed.
            writes.push(engine.create({ resourceType: 'Patient', meta: { tag: [TAG] } }));
            writes.push(engine.update({ resourceType: 'Patient', id: last, meta: { tag: [TAG] }, active: true }));
            gate.hold();
            void Promise.allSettled(writes).then(() => gate.release());
          }
        });
        const job = await engine.bulkDelete({ type: 'Patient', criteria: '_tag=T' });
        const done = await engine.jobs.settled(job.id);
        await Promise.all(writes);
        expect(writes).toHaveLength(2);
        const tagged = await engine.search('Patient', '_tag=T');
        const survivors = tagged.entry!.map((e) => e.resource!.id).sort();
        expect(survivors).toEqual(['7', last].sort());
        expect(done.progress.byType).toEqual({ Patient: 5 });
      });

      it('a cancelled queued job ends without running a chunk; runs at most maxConcurrentJobs at once', async () => {
        const engine = await makeEngine({ chunkSize: 1, limits: { maxConcurrentJobs: 1 } });
        await seed(engine, 'Patient', 3);
        await seed(engine, 'Device', 3);
        let running = 0;
        let maxRunning = 0;
        const statuses = new Map<string, string>();
        engine.jobs.on('progress', (job) => {
          statuses.set(job.id, job.status);
          running = [...statuses.values()].filter((s) => s === 'running').length;
          maxRunning = Math.max(maxRunning, running);
        });
        const a = await engine.bulkDelete({ type: 'Patient' });
        const b = await engine.bulkDelete({ type: 'Device' });
        const c = await engine.bulkDelete({ type: 'Observation' });
        const cancelled = await engine.jobs.cancel(c.id);
        expect(cancelled.status).toBe('cancelled');
        expect(cancelled.transitions.map((t) => t.status)).toEqual(['queued', 'running', 'cancelled']);
        const [da, db, dc] = await Promise.all([a, b, c].map((j) => engine.jobs.settled(j.id)));
        expect(da!.progress.byType).toEqual({ Patient: 3 });
        expect(db!.progress.byType).toEqual({ Device: 3 });
        expect(dc!.status).toBe('cancelled');
        expect(dc!.progress.chunks).toBe(0);
        expect(maxRunning).toBe(1);
      });

      it('two jobs run at once with the default limit', async () => {
        // On a serial adapter the two jobs' units interleave in the queue. On a concurrent one, the
        // Patient job's first deletion waits until the Device job has committed a chunk, and the
        // Device job's later deletions wait until the Patient job has committed one (a job reports
        // 'running' with its first chunk): both are running at once whatever the database's speed.
        const adapter = await makeAdapter();
        let deviceChunk!: () => void;
        const deviceProgressed = new Promise<void>((resolve) => (deviceChunk = resolve));
        let patientChunk!: () => void;
        const patientProgressed = new Promise<void>((resolve) => (patientChunk = resolve));
        let armed = false;
        let deviceRunning = false;
        const storage =
          adapter.capabilities.concurrency === 'concurrent'
            ? holdWrites(
                holdWrites(adapter, (type) => armed && type === 'Patient', deviceProgressed),
                (type) => deviceRunning && type === 'Device',
                patientProgressed,
              )
            : adapter;
        const engine = await makeEngine({ chunkSize: 1, storage });
        await seed(engine, 'Patient', 4);
        await seed(engine, 'Device', 4);
        armed = true;
        const order: string[] = [];
        const running = new Set<string>();
        let most = 0;
        engine.jobs.on('progress', (job) => {
          if (job.status === 'running') {
            order.push(job.id);
            running.add(job.id);
            most = Math.max(most, running.size);
            if (job.id === b?.id) {
              deviceRunning = true;
              deviceChunk();
            } else patientChunk();
          } else if (job.status !== 'queued') running.delete(job.id);
        });
        let b: JobRecord | undefined;
        const a = await engine.bulkDelete({ type: 'Patient' });
        b = await engine.bulkDelete({ type: 'Device' });
        await Promise.all([engine.jobs.settled(a.id), engine.jobs.settled(b.id)]);
        expect(most).toBe(2);
        expect(order.indexOf(b.id)).toBeLessThan(order.lastIndexOf(a.id));
        expect(order.filter((id) => id === a.id)).not.toHaveLength(0);
      });

      it('settled() honours an abort signal; close() stops the runner', async () => {
        const engine = await makeEngine({ chunkSize: 1 });
        await seed(engine, 'Patient', 3);
        const job = await engine.bulkDelete({ type: 'Patient' });
        const controller = new AbortController();
        const waiting = engine.jobs.settled(job.id, { signal: controller.signal });
        controller.abort(new Error('bored'));
        await expect(waiting).rejects.toThrow('bored');
        await engine.jobs.settled(job.id);
        await engine.close();
        await expect(engine.bulkDelete({ type: 'Patient' })).rejects.toThrow(/stopped/);
      });
    });
  });
}
