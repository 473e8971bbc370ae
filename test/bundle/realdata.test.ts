import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import type { FhirEngine } from '../../src/engine.js';
import type { Resource } from '../../src/resource/resource.js';
import type { StorageAdapter } from '../../src/storage/storage-adapter.js';
import { newEngine, post, readJson, statuses, testdata, unresolvedReferences } from './helpers.js';

/** SQLite, when its adapter loads and works in this checkout; otherwise undefined (tests skipped). */
async function sqliteFactory(): Promise<(() => StorageAdapter) | undefined> {
  try {
    const { SqliteAdapter } = await import('../../adapters/sqlite/index.js');
    const probe = new SqliteAdapter({ filename: ':memory:' });
    const engine = newEngine(probe);
    await engine.create({ resourceType: 'Patient' });
    await engine.close();
    return () => new SqliteAdapter({ filename: ':memory:' });
  } catch {
    return undefined;
  }
}
const sqlite = await sqliteFactory();

const adapters: [string, (() => StorageAdapter) | undefined][] = [
  ['memory', () => new MemoryAdapter()],
  ['sqlite', sqlite],
];

const files = (dir: string): string[] =>
  readdirSync(testdata(dir))
    .filter((f) => f.endsWith('.json'))
    .sort();

const resourcesOf = (response: any): Resource[] =>
  response.entry.map((e: any) => e.resource).filter((r: Resource | undefined): r is Resource => r !== undefined);

async function load(engine: FhirEngine, path: string): Promise<{ status: number; body: any; ms: number }> {
  const started = performance.now();
  const res = await post(engine, readJson(testdata(path)));
  return { ...res, ms: performance.now() - started };
}

for (const [name, factory] of adapters) {
  describe.skipIf(factory === undefined)(`real bundles on ${name}`, () => {
    const make = () => newEngine(factory!());

    it('loads the Synthea v3 batches then the conditional transactions; every reference resolves', async () => {
      const engine = make();
      const dir = 'synthea/synthea-v3-conditional';
      const all = files(dir);
      const info = all.filter((f) => f.includes('Information'));
      const patients = all.filter((f) => !f.includes('Information'));
      const started = performance.now();
      for (const file of info) {
        const res = await load(engine, `${dir}/${file}`);
        expect(res.status).toBe(200);
        expect(statuses(res.body).every((s) => s === '201 Created')).toBe(true);
      }
      const infoMs = performance.now() - started;
      // Loading them again is idempotent for the conditional creates.
      const again = await load(engine, `${dir}/${info[0]}`);
      expect(statuses(again.body).every((s) => s === '200 OK')).toBe(true);
      let entries = 0;
      const loaded: Resource[] = [];
      const txStarted = performance.now();
      for (const file of patients) {
        const res = await load(engine, `${dir}/${file}`);
        if (res.status !== 200) throw new Error(`${file}: ${JSON.stringify(res.body).slice(0, 500)}`);
        entries += res.body.entry.length;
        loaded.push(...resourcesOf(res.body));
      }
      const txMs = performance.now() - txStarted;
      console.log(
        `[bundle] synthea v3 on ${name}: info batches ${info.length} in ${infoMs.toFixed(0)} ms; ` +
          `${patients.length} patient transactions (${entries} entries) in ${txMs.toFixed(0)} ms`,
      );
      expect(JSON.stringify(loaded)).not.toMatch(/"reference":"(urn:uuid:|[A-Za-z]+\?)/);
      expect(await unresolvedReferences(engine, loaded)).toEqual([]);
      expect((await engine.search('Patient', '_summary=count')).total).toBe(patients.length);
    });

    it('loads the Synthea v2 transactions (urn:uuid only); every reference resolves', async () => {
      const engine = make();
      const dir = 'synthea/synthea-v2-simple';
      const started = performance.now();
      let entries = 0;
      for (const file of files(dir)) {
        const res = await load(engine, `${dir}/${file}`);
        expect(res.status).toBe(200);
        entries += res.body.entry.length;
        const loaded = resourcesOf(res.body);
        expect(loaded).toHaveLength(res.body.entry.length);
        expect(await unresolvedReferences(engine, loaded)).toEqual([]);
      }
      console.log(`[bundle] synthea v2 on ${name}: ${entries} entries in ${(performance.now() - started).toFixed(0)} ms`);
    });

    it('loads the spec transactions hla-1, xds and ussg-fht; references resolve', async () => {
      const engine = make();
      for (const file of ['Bundle-hla-1.json', 'Bundle-xds.json', 'Bundle-ussg-fht.json']) {
        const res = await load(engine, `r4-examples/bundles/${file}`);
        if (res.status !== 200) throw new Error(`${file}: ${JSON.stringify(res.body).slice(0, 500)}`);
        const loaded = resourcesOf(res.body);
        const bad = await unresolvedReferences(engine, loaded);
        // Only references that point outside the bundle may stay unresolved.
        for (const ref of bad) expect(ref).not.toMatch(/^!?urn:/);
        // hla-1 points at resources the example never includes.
        const external = file === 'Bundle-hla-1.json' ? ['ServiceRequest/123', 'Patient/119', 'Organization/68', 'Specimen/67', 'Specimen/120'] : [];
        expect(bad.sort()).toEqual(external.sort());
      }
      const xdsPatient = await engine.search('Patient', 'identifier=http://acme.org/xds/patients|89765a87b');
      expect(xdsPatient.entry ?? []).toHaveLength(0); // `!` in the example's ifNoneExist is not a `|`
    });

    it("the spec's transaction example fails atomically, and its valid part commits", async () => {
      const engine = make();
      const bundle = readJson<any>(testdata('r4-examples/bundles/Bundle-bundle-transaction.json'));
      const failed = await post(engine, bundle);
      expect(failed.status).toBeGreaterThanOrEqual(400);
      expect(failed.body.issue[0].diagnostics).toMatch(/^Transaction failed on '/);
      expect((await engine.history({ level: 'system' })).entry ?? []).toHaveLength(0);
      // Drop the entries that cannot succeed on an empty server: the ifMatch update of a missing
      // resource, `ValueSet/$lookup` and the read of a missing patient.
      const valid = {
        ...bundle,
        entry: bundle.entry.filter(
          (e: any) => !e.request.ifMatch && !e.request.url.includes('$lookup') && e.request.url !== 'Patient/12334',
        ),
      };
      const ok = await post(engine, valid);
      expect(ok.status).toBe(200);
      expect(statuses(ok.body)).toEqual(['201 Created', '201 Created', '201 Created', '201 Created', '204 No Content', '204 No Content', '200 OK']);
      expect(await unresolvedReferences(engine, resourcesOf(ok.body).filter((r) => r.resourceType !== 'Bundle'))).toEqual([]);
    });

    it('HAPI edge cases: duplicate conditional create, conditional updates, leading slash', async () => {
      const engine = make();
      const dir = 'transaction-edge-cases/hapi';
      const dup = await load(engine, `${dir}/duplicate-conditional-create.json`);
      // Two identical conditional creates in one transaction: refused as touching the same resource.
      expect(dup.status).toBe(400);
      expect(dup.body.issue[0].diagnostics).toContain('entry[0]');
      expect(dup.body.issue[0].diagnostics).toContain('entry[1]');
      const patient = await load(engine, `${dir}/patient-with-conditional-update.json`);
      expect(statuses(patient.body)).toEqual(['201 Created']);
      const obs = await load(engine, `${dir}/observation-with-conditional-update-and-inline-reference.json`);
      expect(statuses(obs.body)).toEqual(['201 Created']);
      expect(obs.body.entry[0].resource.subject.reference).toBe(`Patient/${patient.body.entry[0].resource.id}`);
      const slash = await load(engine, `${dir}/transaction-with-preceding-slash-request-url.json`);
      expect(slash.status).toBe(200);
      expect(slash.body.entry[0].resource.id).not.toBe('4bebccef-de86-4b49-9ca8-7567bffcc6f5');
    });

    it("Microsoft's transaction with all valid routes", async () => {
      const engine = make();
      const res = await post(engine, readJson(new URL('../../../shared/reference/ms-fhir-server-samples/testdata/Bundle-TransactionWithAllValidRoutes.json', import.meta.url)));
      expect(res.status).toBe(200);
      expect(statuses(res.body)).toEqual(['201 Created', '201 Created', '201 Created', '201 Created', '200 OK', '200 OK']);
    });
  });
}
