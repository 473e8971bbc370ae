import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAdapter } from 'fhir-engine/adapters/memory';
import { runAdapterConformance } from 'fhir-engine/testing';
import { r4Examples } from '../support/corpora.js';

runAdapterConformance('memory', async () => new MemoryAdapter(), {
  describe, it, expect, beforeAll, afterAll, afterEach,
  differentialCorpus: { name: 'the 641 R4 examples', load: r4Examples },
});
