import { registerSearchConformance } from '../conformance/search-cases.js';
import { FakeAdapter } from './fake-adapter.js';

registerSearchConformance('MemoryIndex (test adapter)', async () => new FakeAdapter());
