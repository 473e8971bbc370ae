/**
 * fhir-engine in a Fastify 5 app, under `/fhir`. Run: `npx tsx examples/fastify.ts`.
 * In your project, import from `fhir-engine`, `fhir-engine/node` and `fhir-engine/adapters/…`.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { pathToFileURL } from 'node:url';
import { MemoryAdapter } from '../adapters/memory/index.js';
import { FhirEngine } from '../src/index.js';
import { fhirFastify } from '../src/node/index.js';

export async function createApp(engine: FhirEngine): Promise<FastifyInstance> {
  const app = Fastify();
  // The plugin reads bodies itself (any media type, the engine's size limit) in a scope of its own.
  await app.register(fhirFastify, { engine, prefix: '/fhir' });
  app.get('/health', async () => 'ok');
  return app;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const engine = new FhirEngine({ storage: new MemoryAdapter() });
  const app = await createApp(engine);
  await app.listen({ port: 3000 });
  console.log('FHIR at http://localhost:3000/fhir');
}
