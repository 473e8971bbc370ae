/**
 * Compartment search, `Patient/$everything` and bulk `$export` on one adapter, through `handle()`.
 * Part of the adapter conformance suite: membership is an index parameter (`_compartment`), so every
 * adapter must store and query it like any other.
 */
import { afterEach, describe, expect, it } from './api.js';
import { fixedClock, sequentialIds } from '../clock.js';
import { FhirEngine } from '../engine.js';
import type { FhirHttpResponse } from '../http/handle.js';
import type { Resource } from '../resource/resource.js';
import type { StorageAdapter } from '../storage/storage-adapter.js';

const BASE = 'http://fhir.test';
const ref = (reference: string) => ({ reference });
const obs = (id: string, extra: Record<string, unknown>): Resource => ({ resourceType: 'Observation', id, status: 'final', code: { text: id }, ...extra });

/**
 * The fixture: two patients, a practitioner, a related person, a device, encounters, and resources
 * that are in compartments through each kind of parameter.
 */
const FIXTURE: Resource[] = [
  { resourceType: 'Organization', id: 'org' },
  { resourceType: 'Patient', id: 'p1', managingOrganization: ref('Organization/org') },
  { resourceType: 'Patient', id: 'p2' },
  { resourceType: 'Patient', id: 'p3', link: [{ other: ref('Patient/p1'), type: 'seealso' }] },
  { resourceType: 'Practitioner', id: 'dr' },
  { resourceType: 'RelatedPerson', id: 'rp', patient: ref('Patient/p2') },
  { resourceType: 'Device', id: 'dev' },
  { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' }, subject: ref('Patient/p1'), participant: [{ individual: ref('Practitioner/dr') }] },
  { resourceType: 'Encounter', id: 'e2', status: 'finished', class: { code: 'AMB' }, subject: ref('Patient/p2') },
  obs('o-subject', { subject: ref('Patient/p1'), encounter: ref('Encounter/e1'), effectiveDateTime: '2024-01-03' }),
  obs('o-performer', { subject: ref('Patient/p2'), performer: [ref('Patient/p1')], effectiveDateTime: '2024-01-01' }),
  obs('o-dr', { subject: ref('Patient/p2'), performer: [ref('Practitioner/dr')], effectiveDateTime: '2024-01-02' }),
  obs('o-rp', { subject: ref('Patient/p2'), performer: [ref('RelatedPerson/rp')] }),
  obs('o-device', { subject: ref('Device/dev'), device: ref('Device/dev') }),
  { resourceType: 'Condition', id: 'c-asserter', subject: ref('Patient/p2'), asserter: ref('Patient/p1') },
  { resourceType: 'Condition', id: 'c-p2', subject: ref('Patient/p2') },
];

const ids = (res: { json?: Record<string, any> }, mode = 'match'): string[] =>
  ((res.json?.entry ?? []) as { resource: Resource; search?: { mode: string } }[])
    .filter((e) => e.search?.mode === mode)
    .map((e) => `${e.resource.resourceType}/${e.resource.id}`)
    .sort();

const next = (res: { json?: Record<string, any> }): string | undefined =>
  (res.json?.link as { relation: string; url: string }[] | undefined)?.find((l) => l.relation === 'next')?.url.slice(BASE.length);

async function text(stream: AsyncIterable<Uint8Array> | undefined): Promise<string> {
  let out = '';
  const decoder = new TextDecoder();
  for await (const chunk of stream ?? []) out += decoder.decode(chunk, { stream: true });
  return out + decoder.decode();
}

export function registerCompartmentConformance(name: string, makeAdapter: () => Promise<StorageAdapter>): void {
  describe(`compartments, $everything and $export: ${name}`, () => {
    let engine: FhirEngine;
    const http = async (method: string, url: string, headers: Record<string, string> = {}) => {
      const response = await engine.handle({ method, url, headers });
      return { ...response, json: response.body ? (JSON.parse(response.body) as Record<string, any>) : undefined };
    };
    const setup = async (options: { exportChunkSize?: number; defaultCount?: number } = {}) => {
      engine = new FhirEngine({
        storage: await makeAdapter(),
        clock: fixedClock('2026-01-01T00:00:00Z', 1000),
        ids: sequentialIds(),
        baseUrl: BASE,
        limits: options,
      });
      for (const r of FIXTURE) await engine.update(r as Resource & { id: string });
      return engine;
    };
    /** Pages of a search to the end: every match, page by page. */
    const walk = async (url: string): Promise<{ pages: string[][]; includes: string[][] }> => {
      const pages: string[][] = [];
      const includes: string[][] = [];
      for (let u: string | undefined = url; u !== undefined; ) {
        const res = await http('GET', u);
        expect([u, res.status]).toEqual([u, 200]);
        pages.push(ids(res));
        includes.push(ids(res, 'include'));
        u = next(res);
      }
      return { pages, includes };
    };
    afterEach(async () => {
      await engine?.close();
    });

    describe('compartment search', () => {
      it("follows each compartment definition's parameters for the type", async () => {
        await setup();
        const cases: [string, string[]][] = [
          // Observation: subject or performer (Patient compartment)
          ['/Patient/p1/Observation', ['Observation/o-performer', 'Observation/o-subject']],
          ['/Patient/p2/Observation', ['Observation/o-dr', 'Observation/o-performer', 'Observation/o-rp']],
          // Condition: patient or asserter; Encounter: patient
          ['/Patient/p1/Condition', ['Condition/c-asserter']],
          ['/Patient/p2/Condition', ['Condition/c-asserter', 'Condition/c-p2']],
          ['/Patient/p1/Encounter', ['Encounter/e1']],
          // Patient: link (p3 links to p1); the compartment's own Patient is no member of it
          ['/Patient/p1/Patient', ['Patient/p3']],
          // Practitioner: Observation performer, Encounter practitioner/participant
          ['/Practitioner/dr/Observation', ['Observation/o-dr']],
          ['/Practitioner/dr/Encounter', ['Encounter/e1']],
          ['/RelatedPerson/rp/Observation', ['Observation/o-rp']],
          // Device: Observation subject or device
          ['/Device/dev/Observation', ['Observation/o-device']],
          // Encounter: the encounter itself ({def}) and what names it
          ['/Encounter/e1/*', ['Encounter/e1', 'Observation/o-subject']],
          ['/Patient/p1/*', ['Condition/c-asserter', 'Encounter/e1', 'Observation/o-performer', 'Observation/o-subject', 'Patient/p3']],
          ['/Patient/p1/*?_type=Condition,Encounter', ['Condition/c-asserter', 'Encounter/e1']],
          ['/Patient/p1/*?_type=Practitioner', []],
          // criteria as in any search
          ['/Patient/p2/Observation?performer=Practitioner/dr', ['Observation/o-dr']],
          ['/Patient/p1/Observation?_id=o-subject,o-dr', ['Observation/o-subject']],
        ];
        for (const [url, want] of cases) {
          const res = await http('GET', url);
          expect([url, res.status, ids(res)]).toEqual([url, 200, want]);
          expect(decodeURIComponent(res.json?.link[0].url)).toBe(`${BASE}${url}`);
        }
        // POST [compartment]/[id]/[type]/_search
        const form = await engine.handle({
          method: 'POST',
          url: '/Patient/p1/Observation/_search',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: '_id=o-performer',
        });
        expect(ids({ json: JSON.parse(form.body!) })).toEqual(['Observation/o-performer']);
        // and through the typed API
        const typed = await engine.compartment('Patient', 'p1', 'Observation');
        expect(typed.entry?.map((e) => e.resource?.id).sort()).toEqual(['o-performer', 'o-subject']);
      });

      it('follows writes: a reference removed leaves the compartment, a deleted member is gone', async () => {
        await setup();
        await engine.update(obs('o-subject', { subject: ref('Patient/p2') }) as Resource & { id: string });
        await engine.delete('Observation', 'o-performer');
        await engine.update(obs('o-new', { performer: [ref('Patient/p1')] }) as Resource & { id: string });
        expect(ids(await http('GET', '/Patient/p1/Observation'))).toEqual(['Observation/o-new']);
        expect(ids(await http('GET', '/Patient/p2/Observation?_id=o-subject'))).toEqual(['Observation/o-subject']);
      });

      it('needs the compartment resource: 404 when it never existed, 410 when deleted; 400 for a type it never holds', async () => {
        await setup();
        const missing = await http('GET', '/Patient/nobody/Observation');
        expect([missing.status, missing.json?.issue[0].code]).toEqual([404, 'not-found']);
        await engine.delete('Patient', 'p2');
        expect((await http('GET', '/Patient/p2/Observation')).status).toBe(410);
        expect((await http('GET', '/Patient/p2/*')).status).toBe(410);
        const outside = await http('GET', '/Patient/p1/Practitioner');
        expect([outside.status, outside.json?.issue[0].code]).toEqual([400, 'invalid']);
        expect((await http('GET', '/Patient/p1/NoSuchType')).status).toBe(404);
        expect((await http('GET', '/Observation/o-dr/Patient')).status).toBe(404); // no Observation compartment
        // the synthetic membership parameter is no search parameter
        const synthetic = await http('GET', '/Observation?_compartment=Patient/p1', { prefer: 'handling=strict' });
        expect(synthetic.status).toBe(400);
        await expect(engine.compartment('Patient', 'p2', 'Observation')).rejects.toMatchObject({ status: 410 });
      });

      it('pages, sorts, includes and counts like any search', async () => {
        await setup();
        const sorted = await http('GET', '/Patient/p2/Observation?_sort=-date&_total=accurate&_count=2&_include=Observation:performer');
        expect(sorted.json?.total).toBe(3);
        const entries = (sorted.json?.entry as { resource: Resource; search: { mode: string } }[]).map((e) => `${e.search.mode}:${e.resource.id}`);
        expect(entries).toEqual(['match:o-dr', 'match:o-performer', 'include:dr', 'include:p1']);
        const rest = await http('GET', next(sorted)!);
        expect(ids(rest)).toEqual(['Observation/o-rp']);
        expect(next(rest)).toBeUndefined();
        const { pages } = await walk('/Patient/p1/*?_count=2');
        expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
        expect(pages.flat().sort()).toEqual(['Condition/c-asserter', 'Encounter/e1', 'Observation/o-performer', 'Observation/o-subject', 'Patient/p3']);
        expect((await http('GET', '/Patient/p1/*?_summary=count')).json?.total).toBe(5);
      });
    });

    describe('Patient/$everything', () => {
      it('the patient, its compartment and the resources those reference, each match once over the pages', async () => {
        await setup();
        const all = ['Condition/c-asserter', 'Encounter/e1', 'Observation/o-performer', 'Observation/o-subject', 'Patient/p1', 'Patient/p3'];
        const one = await http('GET', '/Patient/p1/$everything');
        expect(one.json).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
        expect(ids(one)).toEqual(all);
        // Referenced, outside the compartment: the practitioner of e1, p2 (subject of o-performer and
        // c-asserter), p1's organization. e1 (referenced by o-subject) is a match already.
        expect(ids(one, 'include')).toEqual(['Organization/org', 'Patient/p2', 'Practitioner/dr']);
        for (const count of [1, 2, 4]) {
          const { pages, includes } = await walk(`/Patient/p1/$everything?_count=${count}`);
          expect(pages.flat().sort()).toEqual(all);
          expect(pages.every((p) => p.length <= count)).toBe(true);
          expect(new Set(includes.flat())).toEqual(new Set(['Organization/org', 'Patient/p2', 'Practitioner/dr']));
        }
      });

      it('pages stay complete when resources are written between pages', async () => {
        await setup();
        const first = await http('GET', '/Patient/p1/$everything?_count=2');
        const seen = [...ids(first)];
        await engine.update(obs('o-later', { subject: ref('Patient/p1') }) as Resource & { id: string });
        await engine.update(obs('o-subject', { subject: ref('Patient/p1'), status: 'amended' }) as Resource & { id: string });
        for (let u = next(first); u !== undefined; ) {
          const res = await http('GET', u);
          seen.push(...ids(res));
          u = next(res);
        }
        const original = ['Condition/c-asserter', 'Encounter/e1', 'Observation/o-performer', 'Observation/o-subject', 'Patient/p1', 'Patient/p3'];
        expect(seen.filter((id) => original.includes(id)).sort()).toEqual(original);
        expect(new Set(seen).size).toBe(seen.length);
      });

      it('_type and _since filter; an unknown patient is a 404, a deleted one a 410', async () => {
        await setup();
        const typed = await http('GET', '/Patient/p1/$everything?_type=Observation,Patient');
        expect(ids(typed)).toEqual(['Observation/o-performer', 'Observation/o-subject', 'Patient/p1', 'Patient/p3']);
        expect(ids(typed, 'include')).toEqual(['Patient/p2']); // not Encounter/e1 nor Organization/org
        // The fixture is written one second apart from 00:00:00 on: c-asserter at 00:00:14, o-device at 00:00:13.
        const since = await http('GET', '/Patient/p1/$everything?_since=2026-01-01T00:00:13Z');
        expect(ids(since)).toEqual(['Condition/c-asserter']);
        expect(ids(since, 'include')).toEqual([]); // p2 was written before
        expect((await http('GET', '/Patient/p1/$everything?_since=yesterday')).status).toBe(400);
        expect((await http('GET', '/Patient/nobody/$everything')).status).toBe(404);
        await engine.delete('Patient', 'p1');
        expect((await http('GET', '/Patient/p1/$everything')).status).toBe(410);
      });

      it('type level: every patient and every patient compartment', async () => {
        await setup();
        const { pages } = await walk('/Patient/$everything?_count=3');
        expect(pages.flat().sort()).toEqual([
          'Condition/c-asserter',
          'Condition/c-p2',
          'Encounter/e1',
          'Encounter/e2',
          'Observation/o-dr',
          'Observation/o-performer',
          'Observation/o-rp',
          'Observation/o-subject',
          'Patient/p1',
          'Patient/p2',
          'Patient/p3',
          'RelatedPerson/rp',
        ]);
        const typed = await engine.everything(undefined, '_type=Patient');
        expect(typed.entry?.map((e) => e.resource?.id)).toEqual(['p1', 'p2', 'p3']);
      });
    });

    describe('bulk $export', () => {
      /** Kicks off, waits, and returns the manifest and every file's lines. */
      const runExport = async (url: string) => {
        const kickOff = await http('GET', url, { prefer: 'respond-async', accept: 'application/fhir+json' });
        expect([url, kickOff.status]).toEqual([url, 202]);
        const status = kickOff.headers['content-location']!;
        expect(status).toMatch(new RegExp(`^${BASE}/_operations/export/`));
        const id = status.split('/').pop()!;
        await engine.jobs.settled(id);
        const done = await http('GET', status.slice(BASE.length));
        expect(done.status).toBe(200);
        expect(done.headers['content-type']).toMatch(/^application\/json/);
        const manifest = done.json as { output: { type: string; url: string; count: number }[]; [k: string]: unknown };
        const files: Record<string, string[]> = {};
        for (const o of manifest.output) {
          const file = await engine.handle({ method: 'GET', url: o.url.slice(BASE.length) });
          expect(file.status).toBe(200);
          expect(file.headers['content-type']).toBe('application/fhir+ndjson');
          const lines = (await text(file.stream)).split('\n');
          expect(lines.pop()).toBe('');
          expect(lines).toHaveLength(o.count);
          files[o.type] = lines;
        }
        return { id, status: status.slice(BASE.length), manifest, files };
      };
      const idsIn = (lines: string[] | undefined): string[] => (lines ?? []).map((l) => (JSON.parse(l) as Resource).id!).sort();

      it('system level: one file per type, each line the resource exactly as a read returns it', async () => {
        await setup({ exportChunkSize: 3 });
        await engine.delete('Condition', 'c-p2');
        const { manifest, files } = await runExport('/$export');
        expect(manifest).toMatchObject({ request: `${BASE}/$export`, requiresAccessToken: false, error: [] });
        expect(manifest.transactionTime).toMatch(/^2026-01-01T00:00:\d\d\.000Z$/);
        expect(manifest.output.map((o) => [o.type, o.count])).toEqual([
          ['Condition', 1],
          ['Device', 1],
          ['Encounter', 2],
          ['Observation', 5],
          ['Organization', 1],
          ['Patient', 3],
          ['Practitioner', 1],
          ['RelatedPerson', 1],
        ]);
        for (const [type, lines] of Object.entries(files)) {
          const search = await engine.search(type, '_count=100');
          expect(idsIn(lines)).toEqual(search.entry!.map((e) => e.resource!.id!).sort());
          for (const line of lines) {
            const id = (JSON.parse(line) as Resource).id!;
            const read = await engine.handle({ method: 'GET', url: `/${type}/${id}` });
            expect(line).toBe(read.body);
          }
        }
      });

      it('Patient level: every Patient and what is in some patient compartment; _type and _since filter', async () => {
        await setup();
        const { files } = await runExport('/Patient/$export');
        expect(Object.keys(files).sort()).toEqual(['Condition', 'Encounter', 'Observation', 'Patient', 'RelatedPerson']);
        expect(idsIn(files.Observation)).toEqual(['o-dr', 'o-performer', 'o-rp', 'o-subject']); // not o-device
        expect(idsIn(files.Patient)).toEqual(['p1', 'p2', 'p3']);
        const typed = await runExport('/Patient/$export?_type=Observation,Practitioner');
        expect(Object.keys(typed.files)).toEqual(['Observation']);
        // The fixture is written one second apart from 00:00:00 on: o-rp at 00:00:12 and what follows.
        const since = await runExport(`/Patient/$export?_since=${encodeURIComponent('2026-01-01T00:00:12Z')}`);
        expect(Object.fromEntries(Object.entries(since.files).map(([t, l]) => [t, idsIn(l)]))).toEqual({
          Observation: ['o-rp'],
          Condition: ['c-asserter', 'c-p2'],
        });
        expect(since.manifest.request).toBe(`${BASE}/Patient/$export?_since=2026-01-01T00%3A00%3A12Z`);
      });

      it('Group level: the members and their compartments only', async () => {
        await setup();
        await engine.update({ resourceType: 'Group', id: 'g', type: 'person', actual: true, member: [{ entity: ref('Patient/p1') }, { entity: ref('Patient/gone') }] } as Resource & { id: string });
        const { files } = await runExport('/Group/g/$export');
        expect(Object.fromEntries(Object.entries(files).map(([t, l]) => [t, idsIn(l)]))).toEqual({
          Patient: ['p1'],
          Condition: ['c-asserter'],
          Encounter: ['e1'],
          Group: ['g'],
          Observation: ['o-performer', 'o-subject'],
        });
        expect((await http('GET', '/Group/nope/$export', { prefer: 'respond-async' })).status).toBe(404);
      });

      it('a write after the kick-off is not in the files', async () => {
        await setup({ exportChunkSize: 1 });
        const kickOff = await http('GET', '/$export?_type=Observation', { prefer: 'respond-async' });
        const id = kickOff.headers['content-location']!.split('/').pop()!;
        await engine.update(obs('o-after', { subject: ref('Patient/p1') }) as Resource & { id: string });
        await engine.update(obs('o-dr', { subject: ref('Patient/p2'), status: 'amended' }) as Resource & { id: string });
        await engine.jobs.settled(id);
        const lines = (await text(await engine.exportFile(id, 'Observation.ndjson'))).trim().split('\n');
        const exported = lines.map((l) => JSON.parse(l) as Resource);
        // Created after transactionTime: never. Updated after it: as it was, when its chunk ran before
        // the update, or not at all (IG: resources modified after transactionTime SHOULD NOT be in it).
        for (const id of ['o-device', 'o-performer', 'o-rp', 'o-subject']) expect(exported.map((r) => r.id)).toContain(id);
        expect(exported.find((r) => r.id === 'o-after')).toBeUndefined();
        expect(exported.filter((r) => r.id === 'o-dr').map((r) => r.meta?.versionId)).toEqual(exported.length === 5 ? ['1'] : []);
        const output = (await engine.exportManifest(id))!.output;
        expect(output).toHaveLength(1);
        expect(output[0]).toMatchObject({ type: 'Observation', count: exported.length });
      });

      it('polling says how far it is; a delete cancels it and removes its files; errors are OperationOutcomes', async () => {
        await setup({ exportChunkSize: 1 });
        const kickOff = await http('GET', '/$export', { prefer: 'respond-async' });
        const status = kickOff.headers['content-location']!.slice(BASE.length);
        const id = status.split('/').pop()!;
        const progress: string[] = [];
        engine.jobs.on('progress', (job) => progress.push(job.status));
        const polled = await http('GET', status);
        if (polled.status === 202) {
          expect(polled.headers['x-progress']).toMatch(/resources? exported/);
          expect(polled.headers['retry-after']).toBe('2');
        } else expect(polled.status).toBe(200);
        const removed = await http('DELETE', status);
        expect(removed.status).toBe(202);
        expect((await http('GET', status)).status).toBe(404);
        expect((await http('GET', `${status}/Patient.ndjson`)).status).toBe(404);
        expect((await http('DELETE', status)).status).toBe(404);
        await expect(engine.exportFile(id, 'Patient.ndjson')).rejects.toMatchObject({ status: 404 });

        // A completed export's files are removed by a delete too.
        const done = await runExport('/$export?_type=Patient');
        expect((await http('DELETE', done.status)).status).toBe(202);
        expect((await http('GET', done.manifest.output[0]!.url.slice(BASE.length))).status).toBe(404);

        const noAsync = await http('GET', '/$export');
        expect([noAsync.status, noAsync.json?.resourceType]).toEqual([400, 'OperationOutcome']);
        for (const bad of ['/$export?_outputFormat=text/csv', '/$export?_type=Nope', '/$export?_since=soon', '/$export?_typeFilter=Patient%3Factive%3Dtrue']) {
          const res = await http('GET', bad, { prefer: 'respond-async' });
          expect([bad, res.status, res.json?.resourceType]).toEqual([bad, 400, 'OperationOutcome']);
        }
        const lenient = await http('GET', '/$export?_typeFilter=x&_outputFormat=ndjson', { prefer: 'respond-async, handling=lenient' });
        expect(lenient.status).toBe(202);
        expect((await http('GET', '/Observation/$export', { prefer: 'respond-async' })).status).toBe(404);
        expect((await http('GET', '/_operations/export/nope')).status).toBe(404);
      });
    });
  });
}
