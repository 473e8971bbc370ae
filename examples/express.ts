/**
 * fhir-engine in an Express 5 app, under `/fhir`. Run: `npx tsx examples/express.ts`.
 * In your project, import from `fhir-engine`, `fhir-engine/node` and `fhir-engine/adapters/…`.
 */
import express from 'express';
import { pathToFileURL } from 'node:url';
import { MemoryAdapter } from '../adapters/memory/index.js';
import { FhirEngine } from '../src/index.js';
import { fhirListener } from '../src/node/index.js';

export function createApp(engine: FhirEngine): express.Express {
  const app = express();
  // Mounted with app.use: the bare base, any media type, HEAD and OPTIONS all reach the engine.
  app.use('/fhir', fhirListener(engine));
  app.get('/health', (_req, res) => void res.send('ok'));
  return app;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const engine = new FhirEngine({ storage: new MemoryAdapter() });
  createApp(engine).listen(3000, () => console.log('FHIR at http://localhost:3000/fhir'));
}
