import { MemoryAdapter } from '../../adapters/memory/index.js';
import { runAdapterConformance } from './adapter-conformance.js';

runAdapterConformance('memory', async () => new MemoryAdapter());
