/**
 * Batch bundles from Microsoft's FHIR server samples (`../shared` only), on every adapter. The batch
 * rules themselves are in the adapter conformance suite (`src/testing/bundle-cases.ts`).
 */
import { describe, expect, it } from 'vitest';
import { ADAPTERS } from '../support/adapters.js';
import { msSamples } from '../support/corpora.js';
import { newEngine, post, statuses } from './helpers.js';

for (const [name, make] of ADAPTERS) {
  describe.skipIf(!msSamples.available)(`Microsoft batch samples on ${name}`, () => {
    it('refuses Bundle-TypeMissing and Bundle-InvalidBundleType with 400', async () => {
      const engine = newEngine(make());
      const missing = await post(engine, msSamples.json('Bundle-TypeMissing.json'));
      expect(missing.status).toBe(400);
      expect(missing.body.issue[0].diagnostics).toMatch(/Bundle type is not present/);
      const invalid = await post(engine, msSamples.json('Bundle-InvalidBundleType.json'));
      expect(invalid.status).toBe(400);
      expect(invalid.body.issue[0].diagnostics).toMatch(/not supported/);
    });

    it('applies JSON Patch in a Binary and FHIRPath Patch in Parameters', async () => {
      const engine = newEngine(make());
      const binary = await post(engine, msSamples.json('Bundle-BinaryPatch.json'));
      expect(statuses(binary.body)).toEqual(['201 Created', '200 OK']);
      expect(binary.body.entry[1].resource.gender).toBe('female');
      const fhirPatch = await post(engine, msSamples.json('Bundle-FhirPatch.json'));
      expect(statuses(fhirPatch.body)).toEqual(fhirPatch.body.entry.map(() => '200 OK'));
    });

    it('gives the status, location, etag and outcome of each entry of Bundle-Batch.json', async () => {
      const engine = newEngine(make());
      const bundle = msSamples.json('Bundle-Batch.json');
      const first = await post(engine, bundle);
      const codes = (b: any) => statuses(b).map((s) => s.split(' ')[0]);
      // Entry 7 is `POST ValueSet/$lookup`, an operation the engine does not have: 404 as Microsoft answers.
      expect(codes(first.body)).toEqual(['201', '201', '201', '201', '412', '204', '204', '404', '200', '404']);
      expect(first.body.entry[7].response.outcome.issue[0].code).toBe('not-found');
      const second = await post(engine, bundle);
      expect(codes(second.body)).toEqual(['201', '200', '200', '200', '412', '204', '204', '404', '200', '404']);
    });

    it('refuses Bundle-BatchWithDuplicatedItems in parallel with 400 naming the entries; serially both patches apply', async () => {
      const engine = newEngine(make());
      const bundle = msSamples.json('Bundle-BatchWithDuplicatedItems.json');
      const parallel = await post(engine, bundle, { 'x-bundle-processing-logic': 'parallel' });
      expect(parallel.status).toBe(400);
      const text = parallel.body.issue[0].diagnostics as string;
      expect(text).toContain('entry[2] PATCH');
      expect(text).toContain('entry[3] PATCH');
      expect(text).toContain("'Patient/123'");
      const serial = await post(engine, bundle);
      expect(serial.status).toBe(200);
      expect(statuses(serial.body).slice(1, 4)).toEqual(['201 Created', '200 OK', '200 OK']);
    });
  });
}
