import { MemoryAdapter } from '../../adapters/memory/index.js';
import { r4Examples } from '../support/corpora.js';
import { runAdapterConformance } from './adapter-conformance.js';

runAdapterConformance('memory', async () => new MemoryAdapter(), {
  differentialCorpus: { name: 'the 641 R4 examples', load: r4Examples },
});
