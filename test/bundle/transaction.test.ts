/**
 * Transaction bundles from Microsoft's FHIR server samples (`../shared` only), on every adapter. The
 * transaction rules themselves are in the adapter conformance suite (`src/testing/bundle-cases.ts`).
 */
import { describe, expect, it } from 'vitest';
import { ADAPTERS } from '../support/adapters.js';
import { msSamples } from '../support/corpora.js';
import { newEngine, post, statuses } from './helpers.js';

for (const [name, make] of ADAPTERS) {
  describe.skipIf(!msSamples.available)(`Microsoft transaction samples on ${name}`, () => {
    it('Bundle-TransactionForRollBack: 404 on the failing GET, nothing written', async () => {
      const engine = newEngine(make());
      const res = await post(engine, msSamples.json('Bundle-TransactionForRollBack.json'));
      expect(res.status).toBe(404);
      expect(res.body.issue.map((i: any) => i.code)).toEqual(['processing', 'not-found']);
      expect(res.body.issue[0].diagnostics).toMatch(/^Transaction failed on 'GET' for the requested url '\/?Patient\/12345/);
      expect((await engine.history({ level: 'system' })).entry ?? []).toHaveLength(0);
    });

    it('Bundle-TransactionForRollBackWithDelete: 404 on the If-Match PUT of a missing resource, the DELETE rolled back', async () => {
      const engine = newEngine(make());
      const before = await engine.update({ resourceType: 'Patient', id: 'patient-rollback-0' });
      const res = await post(engine, msSamples.json('Bundle-TransactionForRollBackWithDelete.json'));
      // Its PUT carries If-Match W/"2112" for a resource that does not exist: 404.
      expect(res.status).toBe(404);
      expect(res.body.issue[0].diagnostics).toBe("Transaction failed on 'PUT' for the requested url 'Patient/patient-rollback-1'.");
      const after = await engine.read('Patient', 'patient-rollback-0');
      expect(after.meta?.lastUpdated).toBe(before.lastUpdated);
      expect((await engine.history({ level: 'system' })).entry).toHaveLength(1);
    });

    it('refuses two entries touching the same resource (by id, or through a conditional reference) with 400', async () => {
      const engine = newEngine(make());
      const ms = await post(engine, msSamples.json('Bundle-TransactionWithMultipleEntriesModifyingSameResource.json'));
      expect(ms.status).toBe(400);
      expect(ms.body.issue[0].diagnostics).toContain("'Patient/123'");
      const cond = await post(engine, msSamples.json('Bundle-TransactionWithConditionalReferenceReferringToSameResource.json'));
      expect(cond.status).toBe(400);
      expect((await engine.history({ level: 'system' })).entry ?? []).toHaveLength(0);
    });

    it('Bundle-TransactionWithAllValidRoutes commits every entry', async () => {
      const engine = newEngine(make());
      const res = await post(engine, msSamples.json('Bundle-TransactionWithAllValidRoutes.json'));
      expect(res.status).toBe(200);
      expect(statuses(res.body)).toEqual(['201 Created', '201 Created', '201 Created', '201 Created', '200 OK', '200 OK']);
    });
  });
}
