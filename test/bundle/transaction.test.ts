import { describe, expect, it, vi } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { FhirError } from '../../src/errors.js';
import { FaultAdapter } from '../support/fault-adapter.js';
import { msTestdata, newEngine, post, readJson, statuses } from './helpers.js';

const tx = (entry: object[]) => ({ resourceType: 'Bundle', type: 'transaction', entry });
const patient = (family: string, extra: object = {}) => ({ resourceType: 'Patient', name: [{ family }], ...extra });

describe('transaction', () => {
  it('assigns ids to urn:uuid / urn:oid fullUrls and rewrites references anywhere', async () => {
    const engine = newEngine();
    const res = await post(
      engine,
      tx([
        {
          fullUrl: 'urn:uuid:obs',
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'x' },
            subject: { reference: 'urn:uuid:pat' },
            performer: [{ reference: 'urn:oid:1.2.3' }],
            contained: [{ resourceType: 'Provenance', target: [{ reference: 'urn:uuid:pat' }] }],
            hasMember: [{ reference: 'urn:uuid:not-in-bundle' }],
          },
          request: { method: 'POST', url: 'Observation' },
        },
        { fullUrl: 'urn:uuid:pat', resource: patient('P', { id: 'client-id' }), request: { method: 'POST', url: 'Patient' } },
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
    expect(obs.resource.hasMember[0].reference).toBe('urn:uuid:not-in-bundle');
    const stored = await engine.read<any>('Observation', obs.resource.id);
    expect(stored.subject.reference).toBe(`Patient/${pat.resource.id}`);
    // The search index has the rewritten reference.
    const found = await engine.search('Observation', `subject=Patient/${pat.resource.id}`);
    expect(found.entry).toHaveLength(1);
  });

  it('runs DELETE before POST before PUT/PATCH before GET', async () => {
    const engine = newEngine();
    await engine.update({ resourceType: 'Patient', id: 'old', name: [{ family: 'New' }] });
    const res = await post(
      engine,
      tx([
        { request: { method: 'GET', url: 'Patient?family=New' } },
        {
          resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify([{ op: 'add', path: '/gender', value: 'male' }])).toString('base64') },
          request: { method: 'PATCH', url: 'Patient/put1' },
        },
        { resource: { resourceType: 'Patient', id: 'put1', name: [{ family: 'New' }] }, request: { method: 'PUT', url: 'Patient/put1' } },
        { resource: patient('New'), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'DELETE', url: 'Patient/old' } },
      ]),
    );
    // Overlap: PUT and PATCH of Patient/put1.
    expect(res.status).toBe(400);
    const res2 = await post(
      engine,
      tx([
        { request: { method: 'GET', url: 'Patient?family=New' } },
        { resource: { resourceType: 'Patient', id: 'put1', name: [{ family: 'New' }] }, request: { method: 'PUT', url: 'Patient/put1' } },
        { resource: patient('New'), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'DELETE', url: 'Patient/old' } },
      ]),
    );
    expect(res2.status).toBe(200);
    expect(statuses(res2.body)).toEqual(['200 OK', '201 Created', '201 Created', '204 No Content']);
    // The GET ran last: it sees the POST and the PUT, not the deleted one.
    const ids = res2.body.entry[0].resource.entry.map((e: any) => e.resource.id).sort();
    expect(ids).toEqual([res2.body.entry[2].resource.id, 'put1'].sort());
  });

  it('rolls back everything when an entry fails (Microsoft Bundle-TransactionForRollBack.json)', async () => {
    const engine = newEngine();
    const res = await post(engine, readJson(msTestdata('Bundle-TransactionForRollBack.json')));
    expect(res.status).toBe(404);
    expect(res.body.issue.map((i: any) => i.code)).toEqual(['processing', 'not-found']);
    expect(res.body.issue[0].diagnostics).toMatch(/^Transaction failed on 'GET' for the requested url '\/?Patient\/12345/);
    expect((await engine.search('Patient')).entry ?? []).toHaveLength(0);
  });

  it('rolls back a DELETE too (Microsoft Bundle-TransactionForRollBackWithDelete.json)', async () => {
    const engine = newEngine();
    const before = await engine.update({ resourceType: 'Patient', id: 'patient-rollback-0' });
    const res = await post(engine, readJson(msTestdata('Bundle-TransactionForRollBackWithDelete.json')));
    expect(res.status).toBeGreaterThanOrEqual(400);
    const after = await engine.read('Patient', 'patient-rollback-0');
    expect(after.meta?.lastUpdated).toBe(before.lastUpdated);
  });

  it('is atomic when storage fails mid-way (fault adapter)', async () => {
    const storage = new FaultAdapter(new MemoryAdapter());
    const engine = newEngine(storage);
    await engine.update({ resourceType: 'Patient', id: 'keep', name: [{ family: 'Keep' }] });
    const bundle = tx([
      { request: { method: 'DELETE', url: 'Patient/keep' } },
      ...Array.from({ length: 5 }, (_, i) => ({ fullUrl: `urn:uuid:${i}`, resource: patient(`N${i}`), request: { method: 'POST', url: 'Patient' } })),
    ]);
    for (const n of [1, 2, 4, 6]) {
      storage.arm(n);
      const res = await post(engine, bundle);
      expect(res.status).toBe(500);
      expect(res.body.issue[0].diagnostics).toMatch(/^Transaction failed on '(DELETE|POST)'/);
      expect((await engine.read('Patient', 'keep')).id).toBe('keep');
      expect((await engine.search('Patient', '_summary=count')).total).toBe(1);
      expect((await engine.history({ level: 'system' })).entry).toHaveLength(1);
    }
    expect(storage.faults).toBe(4);
    storage.disarm();
    const ok = await post(engine, bundle);
    expect(ok.status).toBe(200);
    expect((await engine.search('Patient', '_summary=count')).total).toBe(5);
  });

  it('refuses two entries touching the same resource with 400', async () => {
    const engine = newEngine();
    const ms = await post(engine, readJson(msTestdata('Bundle-TransactionWithMultipleEntriesModifyingSameResource.json')));
    expect(ms.status).toBe(400);
    expect(ms.body.issue[0].diagnostics).toContain("'Patient/123'");
    const cond = await post(engine, readJson(msTestdata('Bundle-TransactionWithConditionalReferenceReferringToSameResource.json')));
    expect(cond.status).toBe(400);
    // A conditional create matching a resource another entry updates by id.
    await engine.update({ resourceType: 'Patient', id: 'x', identifier: [{ system: 's', value: '1' }] });
    const resolved = await post(
      engine,
      tx([
        { resource: patient('a'), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=s|1' } },
        { resource: { resourceType: 'Patient', id: 'x' }, request: { method: 'PUT', url: 'Patient/x' } },
      ]),
    );
    expect(resolved.status).toBe(400);
    expect(resolved.body.issue[0].diagnostics).toContain("'Patient/x'");
  });

  it('maps the fullUrl of a conditional create that matches to the existing resource', async () => {
    const engine = newEngine();
    await engine.update({ resourceType: 'Patient', id: 'existing', identifier: [{ system: 's', value: '1' }] });
    const res = await post(
      engine,
      tx([
        { fullUrl: 'urn:uuid:p', resource: patient('a', { identifier: [{ system: 's', value: '1' }] }), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=s|1' } },
        { fullUrl: 'urn:uuid:q', resource: patient('q'), request: { method: 'PUT', url: 'Patient?identifier=s|2' } },
        { resource: { resourceType: 'Observation', status: 'final', code: { text: 'c' }, subject: { reference: 'urn:uuid:p' }, focus: [{ reference: 'urn:uuid:q' }] }, request: { method: 'POST', url: 'Observation' } },
      ]),
    );
    expect(res.status).toBe(200);
    expect(statuses(res.body)).toEqual(['200 OK', '201 Created', '201 Created']);
    expect(res.body.entry[0].resource.id).toBe('existing');
    const obs = res.body.entry[2].resource;
    expect(obs.subject.reference).toBe('Patient/existing');
    expect(obs.focus[0].reference).toBe(`Patient/${res.body.entry[1].resource.id}`);
    await engine.read('Patient', res.body.entry[1].resource.id);
  });

  it('fails with 412 when a conditional entry matches several resources', async () => {
    const engine = newEngine();
    await engine.create(patient('dup', { identifier: [{ system: 's', value: 'd' }] }));
    await engine.create(patient('dup', { identifier: [{ system: 's', value: 'd' }] }));
    const res = await post(
      engine,
      tx([
        { resource: patient('new'), request: { method: 'POST', url: 'Patient' } },
        { fullUrl: 'urn:uuid:c', resource: patient('c'), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=s|d' } },
      ]),
    );
    expect(res.status).toBe(412);
    expect(res.body.issue[0].diagnostics).toContain("Transaction failed on 'POST'");
    expect((await engine.search('Patient', '_summary=count')).total).toBe(2);
  });

  it('allows a conditional DELETE (the spec does; Microsoft refuses it)', async () => {
    const engine = newEngine();
    await engine.create(patient('del', { identifier: [{ system: 's', value: 'del' }] }));
    const res = await post(engine, tx([{ request: { method: 'DELETE', url: 'Patient?identifier=s|del' } }]));
    expect(res.status).toBe(200);
    expect(statuses(res.body)).toEqual(['204 No Content']);
    expect((await engine.search('Patient', '_summary=count')).total).toBe(0);
  });

  it('resolves conditional references inside the transaction, including to resources it creates', async () => {
    const engine = newEngine();
    const res = await post(
      engine,
      tx([
        { resource: patient('ref', { identifier: [{ system: 's', value: 'r' }] }), request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'c' }, subject: { reference: 'Patient?identifier=s|r' } }, request: { method: 'PUT', url: 'Observation/o1' } },
      ]),
    );
    expect(res.body).toMatchObject({ type: 'transaction-response' });
    expect(res.body.entry[1].resource.subject.reference).toBe(`Patient/${res.body.entry[0].resource.id}`);
    const bad = await post(engine, tx([
      { resource: { resourceType: 'Observation', status: 'final', code: { text: 'c' }, subject: { reference: 'Patient?identifier=s|none' } }, request: { method: 'POST', url: 'Observation' } },
    ]));
    expect(bad.status).toBe(400);
  });

  it('reports a malformed entry as a failed transaction', async () => {
    const res = await post(newEngine(), tx([{ request: { method: 'GET', url: 'Patient' } }, { request: { url: 'Patient' } }]));
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toMatch(/^Transaction failed on/);
  });

  it('FhirEngine.transaction returns the response bundle or throws the failure', async () => {
    const engine = newEngine();
    const ok = await engine.transaction(tx([{ fullUrl: 'urn:uuid:a', resource: patient('a'), request: { method: 'POST', url: 'Patient' } }]));
    expect(ok.type).toBe('transaction-response');
    expect(ok.entry[0]!.response.status).toBe('201 Created');
    const failed = engine.transaction(tx([{ request: { method: 'GET', url: 'Patient/none' } }]));
    await expect(failed).rejects.toBeInstanceOf(FhirError);
    await expect(failed).rejects.toMatchObject({
      status: 404,
      issues: [{ diagnostics: "Transaction failed on 'GET' for the requested url 'Patient/none'." }, { code: 'not-found' }],
    });
  });

  it('reads history through its own unit of work, and refuses asynchronous operations', async () => {
    const engine = newEngine();
    await engine.update({ resourceType: 'Patient', id: 'old' });
    const res = await post(
      engine,
      tx([
        { request: { method: 'GET', url: 'Patient/_history' } },
        { fullUrl: 'urn:uuid:n', resource: patient('New'), request: { method: 'POST', url: 'Patient' } },
      ]),
    );
    expect(res.status).toBe(200);
    expect(statuses(res.body)).toEqual(['200 OK', '201 Created']);
    // The GET ran last, inside the unit: it sees the POST of this very transaction.
    expect(res.body.entry[0].resource.entry.map((e: any) => e.resource.id).sort()).toEqual([res.body.entry[1].resource.id, 'old'].sort());
    const bulk = await post(engine, tx([{ request: { method: 'DELETE', url: 'Patient/$bulk-delete' } }]), { prefer: 'respond-async' });
    expect(bulk.status).toBe(400);
    expect(bulk.body.issue[1].diagnostics).toMatch(/cannot be part of a transaction/);
    expect(await engine.jobs.get('1')).toBeUndefined();
  });

  it('refuses a bundle nested in an entry', async () => {
    const engine = newEngine();
    const inner = { resourceType: 'Bundle', type: 'batch', entry: [] };
    const res = await post(engine, tx([{ resource: inner, request: { method: 'POST', url: '/' } }]));
    expect(res.status).toBe(405);
    expect(res.body.issue[1].diagnostics).toMatch(/bundles do not nest/);
    const batch = await engine.batch({ resourceType: 'Bundle', type: 'batch', entry: [{ resource: inner, request: { method: 'POST', url: '/' } }] });
    expect(batch.entry[0]!.response.status).toBe('405 Method Not Allowed');
  });

  it('FhirEngine.transaction builds its response from the objects it wrote: no JSON.parse of its own output', async () => {
    const engine = newEngine();
    const bundle = tx([
      { fullUrl: 'urn:uuid:p', resource: patient('P'), request: { method: 'POST', url: 'Patient' } },
      {
        fullUrl: 'urn:uuid:o',
        resource: { resourceType: 'Observation', status: 'final', code: { text: 'c' }, subject: { reference: 'urn:uuid:p' } },
        request: { method: 'POST', url: 'Observation' },
      },
      { resource: { resourceType: 'Patient', id: 'put1', name: [{ family: 'Q' }] }, request: { method: 'PUT', url: 'Patient/put1' } },
    ]);
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const res = await engine.transaction(bundle);
      expect(res.entry.map((e) => e.response.status)).toEqual(['201 Created', '201 Created', '201 Created']);
      expect(parse).not.toHaveBeenCalled();
      const [pat, obs] = res.entry as any[];
      expect(obs.resource.subject.reference).toBe(`Patient/${pat.resource.id}`);
      expect(pat.resource.meta.versionId).toBe('1');
    } finally {
      parse.mockRestore();
    }
  });
});
