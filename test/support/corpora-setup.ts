/**
 * vitest global setup: says in one line which `../shared`-only corpora are missing (their tests are
 * skipped), or fails the run when `FHIR_ENGINE_REQUIRE_CORPORA=1` (`.ci/run` sets it: CI has them all).
 */
import { sharedCorpora, sharedDir } from './corpora.js';

export default function setup(): void {
  const missing = sharedCorpora.filter((c) => !c.available).map((c) => c.name);
  if (missing.length === 0) return;
  const line = `${missing.length} corpora not found under ${sharedDir}: ${missing.join(', ')}`;
  if (process.env.FHIR_ENGINE_REQUIRE_CORPORA === '1') {
    throw new Error(`[corpora] ${line}. FHIR_ENGINE_REQUIRE_CORPORA=1: every corpus must be there, none of their tests skipped.`);
  }
  console.warn(`[corpora] ${line}; their tests are skipped.`);
}
