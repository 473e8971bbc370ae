/**
 * Each server example, started here and driven by two published FHIR clients, `fhir-kit-client`
 * and `@medplum/core`'s MedplumClient: create, read, vread, search with paging, update with
 * If-Match, patch, history, batch, transaction with `urn:uuid` references, conditional create,
 * delete, and a `$bulk-delete` polled to the end.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import { MedplumClient } from '@medplum/core';
import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { createApp as createExpressApp } from '../../examples/express.js';
import { createApp as createFastifyApp } from '../../examples/fastify.js';
import { createFhirServer } from '../../examples/node-http.js';
import { FhirEngine } from '../../src/index.js';

interface Running {
  /** The FHIR base URL. */
  readonly base: string;
  close(): Promise<void>;
}

const listening = async (server: Server, path: string): Promise<Running> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

const EXAMPLES: Record<string, (engine: FhirEngine) => Promise<Running>> = {
  'examples/node-http.ts': (engine) => listening(createFhirServer(engine), ''),
  'examples/express.ts': (engine) => listening(createServer(createExpressApp(engine)), '/fhir'),
  'examples/fastify.ts': async (engine) => {
    const app = await createFastifyApp(engine);
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/fhir`, close: () => app.close() };
  },
};

/** The id in a `Location`: `[base/]Type/id/_history/n`. */
const idOf = (location: string): string => /([^/]+)\/_history\/[^/]+$/.exec(location)![1]!;
const statusOf = (resource: object): number => (resource as { __response: Response }).__response.status;
const headerOf = (resource: object, name: string): string | null => (resource as { __response: Response }).__response.headers.get(name);
type AnyBundle = { resourceType: 'Bundle'; type: string; total?: number; link?: { relation: string; url: string }[]; entry?: { resource?: any; response?: { status: string; location?: string } }[] };

for (const [example, start] of Object.entries(EXAMPLES)) {
  describe(example, () => {
    let engine: FhirEngine;
    let server: Running;
    beforeAll(async () => {
      engine = new FhirEngine({ storage: new MemoryAdapter() });
      server = await start(engine);
    });
    afterAll(async () => {
      await server.close();
      await engine.close();
    });

    it('works with fhir-kit-client', async () => {
      const client = new Client({ baseUrl: server.base });
      const created = (await client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: 'Kit' }] } })) as Patient;
      expect(created.meta?.versionId).toBe('1');
      const id = created.id!;
      expect(((await client.read({ resourceType: 'Patient', id })) as Patient).name?.[0]?.family).toBe('Kit');

      const updated = (await client.update({
        resourceType: 'Patient',
        id,
        body: { ...created, active: true },
        options: { headers: { 'If-Match': 'W/"1"' } },
      })) as Patient;
      expect(updated.meta?.versionId).toBe('2');
      await expect(client.update({ resourceType: 'Patient', id, body: { ...created, active: false }, options: { headers: { 'If-Match': 'W/"1"' } } })).rejects.toMatchObject({ response: { status: 412 } });
      expect(((await client.vread({ resourceType: 'Patient', id, version: '1' })) as Patient).active).toBeUndefined();

      const patched = (await client.patch({ resourceType: 'Patient', id, jsonPatch: [{ op: 'add', path: '/gender', value: 'female' }] })) as Patient;
      expect(patched.gender).toBe('female');
      const history = (await client.history({ resourceType: 'Patient', id })) as AnyBundle;
      expect(history.type).toBe('history');
      expect(history.entry).toHaveLength(3);

      for (const n of [1, 2, 3]) await client.create({ resourceType: 'Patient', body: { resourceType: 'Patient', name: [{ family: `KitPage${n}` }] } });
      const page1 = (await client.search({ resourceType: 'Patient', searchParams: { family: 'KitPage', _count: 2 } })) as AnyBundle;
      expect(page1.entry).toHaveLength(2);
      const page2 = (await client.nextPage({ bundle: page1 as never })) as AnyBundle;
      expect(page2.entry).toHaveLength(1);

      const batch = (await client.batch({
        body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Patient/${id}` } }, { request: { method: 'GET', url: 'Patient/missing' } }] },
      })) as AnyBundle;
      expect(batch.entry?.map((e) => e.response?.status)).toEqual(['200 OK', '404 Not Found']);

      const transaction = (await client.transaction({
        body: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { fullUrl: 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a', resource: { resourceType: 'Patient', name: [{ family: 'KitTx' }] }, request: { method: 'POST', url: 'Patient' } },
            {
              resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a' } },
              request: { method: 'POST', url: 'Observation' },
            },
          ],
        },
      })) as AnyBundle;
      expect(transaction.type).toBe('transaction-response');
      const patientId = idOf(transaction.entry![0]!.response!.location!);
      const observationId = idOf(transaction.entry![1]!.response!.location!);
      expect(((await client.read({ resourceType: 'Observation', id: observationId })) as unknown as Observation).subject?.reference).toBe(`Patient/${patientId}`);

      const conditional = { resourceType: 'Patient', identifier: [{ system: 'urn:kit', value: '1' }] };
      const first = (await client.create({ resourceType: 'Patient', body: conditional, options: { headers: { 'If-None-Exist': 'identifier=urn:kit|1' } } })) as Patient;
      const second = (await client.create({ resourceType: 'Patient', body: conditional, options: { headers: { 'If-None-Exist': 'identifier=urn:kit|1' } } })) as Patient;
      expect(second.id).toBe(first.id);

      await client.delete({ resourceType: 'Patient', id });
      await expect(client.read({ resourceType: 'Patient', id })).rejects.toMatchObject({ response: { status: 410 } });

      const kickoff = await client.request('Patient/$bulk-delete?family=KitPage', { method: 'DELETE', options: { headers: { Prefer: 'respond-async' } } });
      expect(statusOf(kickoff)).toBe(202);
      const statusUrl = headerOf(kickoff, 'content-location')!;
      expect(statusUrl.startsWith(`${server.base}/`)).toBe(true);
      let poll = await client.request(statusUrl);
      for (let i = 0; statusOf(poll) === 202 && i < 200; i++) {
        await engine.jobs.settled(statusUrl.split('/').pop()!);
        poll = await client.request(statusUrl);
      }
      expect(statusOf(poll)).toBe(200);
      const left = (await client.search({ resourceType: 'Patient', searchParams: { family: 'KitPage' } })) as AnyBundle;
      expect(left.entry ?? []).toHaveLength(0);
    });

    it('works with MedplumClient', async () => {
      const url = new URL(server.base);
      const medplum = new MedplumClient({
        baseUrl: `${url.origin}/`,
        fhirUrlPath: url.pathname.replace(/^\//, ''),
        fetch: (input: string | URL | Request, init?: RequestInit) => fetch(input, init),
        cacheTime: 0,
      });
      const created = await medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Medplum' }] });
      expect(created.meta?.versionId).toBe('1');
      const read = await medplum.readResource('Patient', created.id);
      expect(read.name?.[0]?.family).toBe('Medplum');
      const updated = await medplum.updateResource({ ...read, active: true }, { headers: { 'If-Match': `W/"${read.meta?.versionId}"` } });
      expect(updated.meta?.versionId).toBe('2');
      await expect(medplum.updateResource({ ...read, active: false }, { headers: { 'If-Match': 'W/"1"' } })).rejects.toThrow();
      expect((await medplum.readVersion('Patient', created.id, '1')).active).toBeUndefined();
      const patched = await medplum.patchResource('Patient', created.id, [{ op: 'add', path: '/gender', value: 'male' }]);
      expect(patched.gender).toBe('male');
      const history = await medplum.readHistory('Patient', created.id);
      expect(history.entry).toHaveLength(3);

      for (const n of [1, 2, 3]) await medplum.createResource<Patient>({ resourceType: 'Patient', name: [{ family: `MedPage${n}` }] });
      const page1 = await medplum.search('Patient', 'family=MedPage&_count=2');
      expect(page1.entry).toHaveLength(2);
      const next = page1.link?.find((l) => l.relation === 'next')?.url;
      expect(next).toBeDefined();
      const page2 = await medplum.get<Bundle<Patient>>(next!);
      expect(page2.entry).toHaveLength(1);

      const batch = await medplum.executeBatch({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Patient/${created.id}` } }] });
      expect(batch.entry?.[0]?.response?.status).toBe('200 OK');
      const transaction = await medplum.executeBatch({
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { fullUrl: 'urn:uuid:3f2a7b3c-8f1e-4a3c-9a55-2b0c1d9e7f10', resource: { resourceType: 'Patient', name: [{ family: 'MedTx' }] }, request: { method: 'POST', url: 'Patient' } },
          {
            resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:3f2a7b3c-8f1e-4a3c-9a55-2b0c1d9e7f10' } },
            request: { method: 'POST', url: 'Observation' },
          },
        ],
      });
      const patientId = idOf(transaction.entry![0]!.response!.location!);
      const observation = transaction.entry![1]!.resource as Observation;
      expect(observation.subject?.reference).toBe(`Patient/${patientId}`);

      const conditional: Patient = { resourceType: 'Patient', identifier: [{ system: 'urn:medplum', value: '1' }] };
      const first = await medplum.createResourceIfNoneExist(conditional, 'identifier=urn:medplum|1');
      const second = await medplum.createResourceIfNoneExist(conditional, 'identifier=urn:medplum|1');
      expect(second.id).toBe(first.id);

      await medplum.deleteResource('Patient', created.id);
      await expect(medplum.readResource('Patient', created.id)).rejects.toThrow();

      // The asynchronous request pattern: 202 + Content-Location, then the status URL polled to the end.
      const outcome = await medplum.delete(medplum.fhirUrl('Patient', '$bulk-delete').toString() + '?family=MedPage', {
        headers: { Prefer: 'respond-async' },
        pollStatusOnAccepted: true,
        pollStatusPeriod: 20,
      });
      expect(outcome).toBeDefined();
      expect((await medplum.search('Patient', 'family=MedPage')).entry ?? []).toHaveLength(0);
    });
  });
}
