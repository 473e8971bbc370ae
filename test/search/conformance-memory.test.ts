import { MemoryAdapter } from '../../adapters/memory/index.js';
import { registerSearchConformance } from '../conformance/search-cases.js';

registerSearchConformance('MemoryAdapter', async () => new MemoryAdapter());
