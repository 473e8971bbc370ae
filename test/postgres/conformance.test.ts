import { runAdapterConformance } from '../conformance/adapter-conformance.js';
import { freshAdapter, schemaNames } from './support.js';

// Every case gets an empty schema of its own; `runAdapterConformance` also registers the engine
// and search conformance cases.
const nextSchema = schemaNames('conf');
runAdapterConformance('postgres', () => freshAdapter(nextSchema));
