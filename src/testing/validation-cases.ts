/**
 * Only valid FHIR gets in, on one adapter (issue 12; issue 13 items 3, 4, 7, 8): every write is
 * validated against the R4 definitions (400, one OperationOutcome listing every issue, nothing
 * stored), in single requests, patch results, transaction entries (the whole bundle refused) and batch
 * entries (only that entry refused); `$validate`; bytes that are not UTF-8; the rewriting of links to
 * transaction fullUrls in uri-typed elements; `_elements` with the mandatory elements. Part of the
 * adapter conformance suite: statuses and the stored state afterwards, through handle().
 */
import { afterEach, describe, expect, it } from './api.js';
import { fixedClock, sequentialIds } from '../clock.js';
import { FhirEngine } from '../engine.js';
import type { Resource } from '../resource/resource.js';
import type { StorageAdapter } from '../storage/storage-adapter.js';
import { client } from './engine-cases.js';

const JSON_PATCH = { 'content-type': 'application/json-patch+json' };
const SUBSETTED = 'SUBSETTED';

/** `[code, expression]` of each issue: what a test pins down exactly. */
const issuesOf = (outcome: any): [string, string | undefined][] =>
  outcome.issue.map((i: any) => [i.code, i.expression?.[0]]);

const patient = (extra: Record<string, unknown> = {}): Resource => ({ resourceType: 'Patient', name: [{ family: 'Doe' }], ...extra });
const observation = (extra: Record<string, unknown> = {}): Resource => ({
  resourceType: 'Observation',
  status: 'final',
  code: { text: 'weight' },
  ...extra,
});
const fhirPathReplace = (path: string, value: Record<string, unknown>) => ({
  resourceType: 'Parameters',
  parameter: [{ name: 'operation', part: [{ name: 'type', valueCode: 'replace' }, { name: 'path', valueString: path }, { name: 'value', ...value }] }],
});
const UUID_A = 'urn:uuid:6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b';

export function registerValidationConformance(name: string, makeAdapter: () => Promise<StorageAdapter>): void {
  describe(`validation conformance: ${name}`, () => {
    let engines: FhirEngine[] = [];
    const setup = async (validation?: 'strict' | 'off') => {
      const engine = new FhirEngine({
        storage: await makeAdapter(),
        clock: fixedClock('2026-01-01T00:00:00Z', 1000),
        ids: sequentialIds(),
        ...(validation && { validation }),
      });
      engines.push(engine);
      const http = client(engine);
      /** Versions stored, of every resource: nothing a refused request did may show here. */
      const versions = async () => (await http('GET', '/_history')).json?.entry?.length ?? 0;
      return { engine, http, versions };
    };
    afterEach(async () => {
      for (const engine of engines) await engine.close();
      engines = [];
    });

    describe('writes', () => {
      it("issue 12's first request → 400 with every problem at its path; nothing stored", async () => {
        const { http, versions } = await setup();
        const body = { resourceType: 'Patient', birthDate: 'garbage', gender: 42, name: 'notalist', foo: 'bar', active: 'yes' };
        const res = await http('POST', '/Patient', body);
        expect(res.status).toBe(400);
        expect(res.json?.resourceType).toBe('OperationOutcome');
        expect(issuesOf(res.json)).toEqual([
          ['value', 'Patient.birthDate'],
          ['structure', 'Patient.gender'],
          ['structure', 'Patient.name'],
          ['structure', 'Patient.foo'],
          ['structure', 'Patient.active'],
        ]);
        expect(res.json?.issue.every((i: any) => i.severity === 'error')).toBe(true);
        // The same body by every other write: update (as create), conditional create and update.
        expect((await http('PUT', '/Patient/p1', { ...body, id: 'p1' })).status).toBe(400);
        expect((await http('POST', '/Patient', body, { 'if-none-exist': 'identifier=s|1' })).status).toBe(400);
        expect((await http('PUT', '/Patient?identifier=s|1', body)).status).toBe(400);
        expect(await versions()).toBe(0);
      });

      it("issue 12's second request (__proto__, constructor) → 400 naming both; no prototype polluted; nothing stored", async () => {
        const { http, versions } = await setup();
        const res = await http('POST', '/Patient', '{"resourceType":"Patient","__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}');
        expect(res.status).toBe(400);
        expect(issuesOf(res.json)).toEqual([
          ['structure', 'Patient.__proto__'],
          ['structure', 'Patient.constructor'],
        ]);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(await versions()).toBe(0);
      });

      it('an invalid contained resource, a control character, a lone surrogate → 400; a valid update changes nothing else', async () => {
        const { http, versions } = await setup();
        expect((await http('PUT', '/Patient/p1', patient({ id: 'p1' }))).status).toBe(201);
        const contained = await http('PUT', '/Patient/p1', patient({ id: 'p1', contained: [{ resourceType: 'Observation', id: 'o' }] }));
        expect(contained.status).toBe(400);
        expect(issuesOf(contained.json)).toEqual([
          ['required', 'Patient.contained[0].status'],
          ['required', 'Patient.contained[0].code'],
        ]);
        // JSON escapes of U+0000 and of a lone surrogate: valid JSON, no FHIR string.
        const nul = await http('PUT', '/Patient/p1', '{"resourceType":"Patient","id":"p1","name":[{"family":"Do\\u0000e"}]}');
        expect(nul.status).toBe(400);
        expect(issuesOf(nul.json)).toEqual([['value', 'Patient.name[0].family']]);
        expect(nul.json?.issue[0].diagnostics).toContain('U+0000');
        const surrogate = await http('PUT', '/Patient/p1', '{"resourceType":"Patient","id":"p1","name":[{"family":"\\ud800"}]}');
        expect(surrogate.status).toBe(400);
        expect(issuesOf(surrogate.json)).toEqual([['value', 'Patient.name[0].family']]);
        // Tab, CR and LF are text.
        expect((await http('PUT', '/Patient/p1', patient({ id: 'p1', name: [{ text: 'Jane\tDoe\r\n' }] }))).status).toBe(200);
        expect(await versions()).toBe(2);
        expect((await http('GET', '/Patient/p1')).json?.name).toEqual([{ text: 'Jane\tDoe\r\n' }]);
      });

      it("validation: 'off' stores what strict refuses; the envelope is still checked", async () => {
        const { http, engine } = await setup('off');
        const res = await http('POST', '/Patient', { resourceType: 'Patient', birthDate: 'garbage', foo: 'bar' });
        expect(res.status).toBe(201);
        expect(res.json).toMatchObject({ birthDate: 'garbage', foo: 'bar' });
        expect((await engine.create({ resourceType: 'Patient', gender: 42 } as Resource)).outcome).toBe('created');
        expect((await http('PUT', '/Patient/a', { resourceType: 'Patient', id: 'a', meta: 'not an object' })).status).toBe(400);
        expect(() => new FhirEngine({ storage: {} as StorageAdapter, validation: 'lenient' as 'off' })).toThrow(TypeError);
      });

      it('the typed API is validated the same way: FhirError 400, nothing stored', async () => {
        const { engine, versions } = await setup();
        await expect(engine.create({ resourceType: 'Observation', status: 'final' })).rejects.toMatchObject({
          status: 400,
          issues: [{ severity: 'error', code: 'required', expression: ['Observation.code'] }],
        });
        await expect(engine.update(patient({ id: 'x', birthDate: '2023-02-30' }))).rejects.toMatchObject({ status: 400 });
        expect(await versions()).toBe(0);
      });
    });

    describe('patch results (issue 13 item 8): 400, as an update of an invalid resource', () => {
      it('FHIRPath Patch replacing birthDate with "not-a-date", JSON Patch adding an unknown element or a wrong type → 400; version unchanged', async () => {
        const { http } = await setup();
        await http('PUT', '/Patient/p1', patient({ id: 'p1', birthDate: '1980-05-01', identifier: [{ system: 'urn:sys', value: '1' }] }));
        const fhirPath = await http('PATCH', '/Patient/p1', fhirPathReplace('Patient.birthDate', { valueString: 'not-a-date' }));
        expect(fhirPath.status).toBe(400);
        expect(issuesOf(fhirPath.json)).toEqual([['value', 'Patient.birthDate']]);
        const unknown = await http('PATCH', '/Patient/p1', [{ op: 'add', path: '/favouriteColour', value: 'blue' }], JSON_PATCH);
        expect(unknown.status).toBe(400);
        expect(issuesOf(unknown.json)).toEqual([['structure', 'Patient.favouriteColour']]);
        const wrongType = await http('PATCH', '/Patient/p1', [{ op: 'replace', path: '/name/0/family', value: 42 }], JSON_PATCH);
        expect(wrongType.status).toBe(400);
        expect(issuesOf(wrongType.json)).toEqual([['structure', 'Patient.name[0].family']]);
        const conditional = await http('PATCH', '/Patient?identifier=urn:sys|1', [{ op: 'add', path: '/gender', value: 'robot' }], JSON_PATCH);
        expect(conditional.status).toBe(400);
        expect(issuesOf(conditional.json)).toEqual([['value', 'Patient.gender']]);
        const read = await http('GET', '/Patient/p1');
        expect(read.json).toMatchObject({ meta: { versionId: '1' }, birthDate: '1980-05-01' });
        expect(read.json?.gender).toBeUndefined();
        // A valid patch still applies.
        expect((await http('PATCH', '/Patient/p1', fhirPathReplace('Patient.birthDate', { valueDate: '1981-06-02' }))).status).toBe(200);
      });
    });

    describe('bundles', () => {
      it('a bad element inside a transaction entry refuses the whole bundle, names the entry; nothing written', async () => {
        const { http, versions } = await setup();
        await http('PUT', '/Patient/keep', patient({ id: 'keep' }));
        const res = await http('POST', '/', {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { fullUrl: UUID_A, resource: patient(), request: { method: 'POST', url: 'Patient' } },
            { request: { method: 'DELETE', url: 'Patient/keep' } },
            { resource: observation({ subject: { reference: UUID_A }, valueQuantity: { value: '72', unit: 'kg' } }), request: { method: 'POST', url: 'Observation' } },
          ],
        });
        expect(res.status).toBe(400);
        expect(issuesOf(res.json)).toEqual([
          ['processing', 'Bundle.entry[2]'],
          ['structure', 'Observation.valueQuantity.value'],
        ]);
        expect(await versions()).toBe(1);
        expect((await http('GET', '/Patient/keep')).status).toBe(200);
      });

      it('an invalid patch result in a transaction refuses the bundle too', async () => {
        const { http, versions } = await setup();
        await http('PUT', '/Patient/p1', patient({ id: 'p1' }));
        const res = await http('POST', '/', {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { resource: patient(), request: { method: 'POST', url: 'Patient' } },
            { resource: fhirPathReplace('Patient.name[0].family', { valueInteger: 7 }), request: { method: 'PATCH', url: 'Patient/p1' } },
          ],
        });
        expect(res.status).toBe(400);
        expect(issuesOf(res.json)).toEqual([
          ['processing', 'Bundle.entry[1]'],
          ['structure', 'Patient.name[0].family'],
        ]);
        expect(await versions()).toBe(1);
      });

      it('a bad batch entry fails alone with its OperationOutcome; the others are written', async () => {
        const { http, versions } = await setup();
        const res = await http('POST', '/', {
          resourceType: 'Bundle',
          type: 'batch',
          entry: [
            { resource: patient(), request: { method: 'POST', url: 'Patient' } },
            { resource: patient({ birthDate: 'garbage' }), request: { method: 'POST', url: 'Patient' } },
            { resource: observation(), request: { method: 'POST', url: 'Observation' } },
          ],
        });
        expect(res.status).toBe(200);
        expect(res.json?.entry.map((e: any) => e.response.status)).toEqual(['201 Created', '400 Bad Request', '201 Created']);
        expect(issuesOf(res.json?.entry[1].response.outcome)).toEqual([['value', 'Patient.birthDate']]);
        expect(await versions()).toBe(2);
        expect((await http('GET', '/Patient?_summary=count')).json?.total).toBe(1);
      });
    });

    describe('transaction fullUrl links in uri-typed elements (issue 13 item 3)', () => {
      it('rewrites valueUri, valueUrl, uri elements, References and narrative links; leaves canonical and strings', async () => {
        const { http, engine } = await setup();
        const ext = (kind: string, value: Record<string, string>) => ({ url: `http://example.org/fhir/StructureDefinition/${kind}`, ...value });
        const res = await http('POST', '/', {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            {
              resource: observation({
                text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml"><a href="${UUID_A}">the patient</a></div>` },
                extension: [
                  ext('uri', { valueUri: UUID_A }),
                  ext('url', { valueUrl: UUID_A }),
                  ext('canonical', { valueCanonical: UUID_A }),
                  ext('string', { valueString: UUID_A }),
                ],
                subject: { reference: UUID_A },
              }),
              request: { method: 'POST', url: 'Observation' },
            },
            {
              resource: {
                resourceType: 'Provenance',
                target: [{ reference: UUID_A }],
                policy: [UUID_A],
                recorded: '2026-01-01T00:00:00Z',
                agent: [{ who: { display: 'a clerk' } }],
              },
              request: { method: 'POST', url: 'Provenance' },
            },
            { fullUrl: UUID_A, resource: patient(), request: { method: 'POST', url: 'Patient' } },
          ],
        });
        expect(res.status).toBe(200);
        const [obs, prov, pat] = res.json?.entry.map((e: any) => e.resource);
        const target = `Patient/${pat.id}`;
        const stored = await engine.read<any>('Observation', obs.id);
        expect(stored).toEqual(obs);
        expect(stored.subject.reference).toBe(target);
        expect(stored.extension.map((e: any) => e.valueUri ?? e.valueUrl ?? e.valueCanonical ?? e.valueString)).toEqual([
          target,
          target,
          UUID_A, // R4 http.html: "Elements of type canonical are not replaced."
          UUID_A, // a string is no link
        ]);
        expect(stored.text.div).toBe(`<div xmlns="http://www.w3.org/1999/xhtml"><a href="${target}">the patient</a></div>`);
        const provenance = await engine.read<any>('Provenance', prov.id);
        expect(provenance.target).toEqual([{ reference: target }]);
        expect(provenance.policy).toEqual([target]);
        expect((await engine.search('Provenance', `target=${target}`)).entry?.map((e) => e.resource?.id)).toEqual([prov.id]);
      });

      it('rewrites links a patch entry puts in, and in a PUT entry', async () => {
        const { http, engine } = await setup();
        await http('PUT', '/Observation/o1', observation({ id: 'o1' }));
        const patch = [{ op: 'add', path: '/subject', value: { reference: UUID_A } }];
        const res = await http('POST', '/', {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { fullUrl: UUID_A, resource: patient(), request: { method: 'POST', url: 'Patient' } },
            {
              resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify(patch)).toString('base64') },
              request: { method: 'PATCH', url: 'Observation/o1' },
            },
            { resource: observation({ id: 'o2', focus: [{ reference: UUID_A }], derivedFrom: [{ reference: 'Observation/o1' }] }), request: { method: 'PUT', url: 'Observation/o2' } },
          ],
        });
        expect(res.status).toBe(200);
        const target = `Patient/${res.json?.entry[0].resource.id}`;
        expect((await engine.read<any>('Observation', 'o1')).subject).toEqual({ reference: target });
        expect((await engine.read<any>('Observation', 'o2')).focus).toEqual([{ reference: target }]);
      });
    });

    describe('$validate', () => {
      it('type level, the resource as the body or in a Parameters: 200 with "All OK" or every issue; nothing stored', async () => {
        const { http, versions } = await setup();
        const ok = await http('POST', '/Patient/$validate', patient());
        expect(ok.status).toBe(200);
        expect(ok.json).toEqual({ resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: 'All OK' }] });
        const bad = await http('POST', '/Patient/$validate', { resourceType: 'Patient', birthDate: 'garbage', foo: 1 });
        expect(bad.status).toBe(200);
        expect(issuesOf(bad.json)).toEqual([
          ['value', 'Patient.birthDate'],
          ['structure', 'Patient.foo'],
        ]);
        const wrapped = await http('POST', '/Patient/$validate', { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: { resourceType: 'Patient', gender: 'robot' } }] });
        expect(wrapped.status).toBe(200);
        expect(issuesOf(wrapped.json)).toEqual([['value', 'Patient.gender']]);
        const otherType = await http('POST', '/Patient/$validate', observation());
        expect(otherType.status).toBe(200);
        expect(issuesOf(otherType.json)).toEqual([['invalid', 'resourceType']]);
        // A Parameters is validated itself at /Parameters/$validate.
        expect(issuesOf((await http('POST', '/Parameters/$validate', { resourceType: 'Parameters', parameter: [{ name: 'x', valueString: '' }] })).json)).toEqual([
          ['value', 'Parameters.parameter[0].valueString'],
        ]);
        expect(await versions()).toBe(0);
      });

      it('instance level, both body forms, and mode: update needs the matching id, delete needs the resource', async () => {
        const { http, versions } = await setup();
        await http('PUT', '/Patient/p1', patient({ id: 'p1' }));
        const ok = await http('POST', '/Patient/p1/$validate', patient({ id: 'p1', gender: 'female' }));
        expect(issuesOf(ok.json)).toEqual([['informational', undefined]]);
        const wrongId = await http('POST', '/Patient/p1/$validate', {
          resourceType: 'Parameters',
          parameter: [{ name: 'resource', resource: patient({ id: 'p2' }) }, { name: 'mode', valueCode: 'update' }],
        });
        expect(wrongId.status).toBe(200);
        expect(issuesOf(wrongId.json)).toEqual([['invalid', 'Patient.id']]);
        const noId = await http('POST', '/Patient/p1/$validate?mode=update', patient());
        expect(issuesOf(noId.json)).toEqual([['required', 'Patient.id']]);
        const remove = await http('POST', '/Patient/p1/$validate?mode=delete');
        expect(remove.status).toBe(200);
        expect(issuesOf(remove.json)).toEqual([['informational', undefined]]);
        expect((await http('POST', '/Patient/nope/$validate?mode=delete')).status).toBe(404);
        expect((await http('POST', '/Patient/$validate?mode=delete', patient())).status).toBe(400);
        expect((await http('POST', '/Patient/$validate?mode=sideways', patient())).status).toBe(400);
        expect((await http('POST', '/Patient/$validate', { resourceType: 'Parameters', parameter: [{ name: 'mode', valueCode: 'create' }] })).status).toBe(400);
        expect((await http('POST', '/Patient/$validate')).status).toBe(400);
        expect((await http('GET', '/Patient/$validate')).status).toBe(405);
        const profiled = await http('POST', '/Patient/$validate?profile=http://example.org/fhir/StructureDefinition/mine', patient());
        expect(issuesOf(profiled.json)).toEqual([['informational', undefined], ['not-supported', 'profile']]);
        expect(await versions()).toBe(1);
      });

      it("validates with validation: 'off' too; engine.validate; the CapabilityStatement lists it", async () => {
        const { http, engine } = await setup('off');
        expect(issuesOf((await http('POST', '/Patient/$validate', { resourceType: 'Patient', active: 'yes' })).json)).toEqual([['structure', 'Patient.active']]);
        expect(await engine.validate(patient())).toEqual({ resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: 'All OK' }] });
        expect(issuesOf(await engine.validate({ resourceType: 'Observation' }))).toEqual([
          ['required', 'Observation.status'],
          ['required', 'Observation.code'],
        ]);
        expect(issuesOf(await engine.validate({ resourceType: 'Unicorn' }))).toEqual([['invalid', undefined]]);
        const capabilities = (await http('GET', '/metadata')).json;
        const patientOps = capabilities?.rest[0].resource.find((r: any) => r.type === 'Patient').operation.map((o: any) => o.name);
        expect(patientOps).toContain('validate');
      });
    });

    describe('bytes that are not UTF-8 (issue 13 item 7)', () => {
      it('→ 400 OperationOutcome, nothing stored; valid UTF-8 bytes are stored exactly', async () => {
        const { http, engine, versions } = await setup();
        const text = (family: string) => `{"resourceType":"Patient","name":[{"family":"${family}"}]}`;
        const [before, after] = text('\u0000').split('\u0000') as [string, string];
        const bytes = new Uint8Array([...Buffer.from(before), 0xff, 0xfe, 0xc3, ...Buffer.from(after)]);
        const res = await engine.handle({ method: 'POST', url: '/Patient', headers: { 'content-type': 'application/fhir+json' }, body: bytes });
        expect(res.status).toBe(400);
        expect(JSON.parse(res.body!)).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid' }] });
        expect(await versions()).toBe(0);
        const good = await engine.handle({ method: 'POST', url: '/Patient', headers: { 'content-type': 'application/fhir+json' }, body: Buffer.from(text('Müller-名前 😀')) });
        expect(good.status).toBe(201);
        expect((await http('GET', `/Patient/${JSON.parse(good.body!).id}`)).json?.name).toEqual([{ family: 'Müller-名前 😀' }]);
      });
    });

    describe('_elements (issue 13 item 4)', () => {
      it('returns the listed elements and the mandatory ones, tagged SUBSETTED; value keeps value[x]; _summary=text too', async () => {
        const { http } = await setup();
        await http('PUT', '/Observation/o1', observation({
          id: 'o1',
          text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">72 kg</div>' },
          subject: { reference: 'Patient/p1' },
          valueQuantity: { value: 72, unit: 'kg' },
          note: [{ text: 'after lunch' }],
        }));
        const resourceOf = async (query: string) => (await http('GET', `/Observation?${query}`)).json?.entry[0].resource;
        const keysAndTags = (r: any) => [Object.keys(r).sort(), r.meta.tag.map((t: any) => t.code)];
        expect(keysAndTags(await resourceOf('_elements=subject'))).toEqual([['code', 'id', 'meta', 'resourceType', 'status', 'subject'], [SUBSETTED]]);
        expect(keysAndTags(await resourceOf('_elements=Observation.value,note'))).toEqual([['code', 'id', 'meta', 'note', 'resourceType', 'status', 'valueQuantity'], [SUBSETTED]]);
        expect(keysAndTags(await resourceOf('_summary=text'))).toEqual([['code', 'id', 'meta', 'resourceType', 'status', 'text'], [SUBSETTED]]);
        // The stored resource is whole.
        expect((await http('GET', '/Observation/o1')).json?.note).toEqual([{ text: 'after lunch' }]);
      });
    });
  });
}
