/** The custom adapter passes the conformance kit, imported from the package entry as in any project. */
import * as vitest from 'vitest';
import { runAdapterConformance } from 'fhir-engine/testing';
import { MapAdapter } from './map-adapter.js';

runAdapterConformance('map (examples/custom-adapter)', async () => new MapAdapter(), vitest);
