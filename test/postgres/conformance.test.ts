import * as vitest from 'vitest';
import { runAdapterConformance } from 'fhir-engine/testing';
import { r4Examples } from '../support/corpora.js';
import { freshAdapter, schemaNames } from './support.js';

// Every case gets an empty schema of its own; `runAdapterConformance` also registers the engine,
// bundle, job and search conformance cases. The differential search test runs over the R4 examples,
// as on the SQLite file database.
const nextSchema = schemaNames('conf');
runAdapterConformance('postgres', () => freshAdapter(nextSchema), {
  ...vitest,
  differentialCorpus: { name: 'the 641 R4 examples', load: r4Examples },
});
