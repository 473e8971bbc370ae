import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import * as vitest from 'vitest';
import { afterAll } from 'vitest';

import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { runAdapterConformance } from 'fhir-engine/testing';
import { r4Examples } from '../support/corpora.js';

// The differential search test runs over the R4 examples on the file database (the production set-up);
// the in-memory modes run the same SQL, and take the small built-in corpus.
const differentialCorpus = { name: 'the 641 R4 examples', load: r4Examples };

// `runAdapterConformance` also registers the engine, bundle, job and search conformance cases.

// `filename: ':memory:'` is backed by a private temporary file, with a second connection for outside reads.
runAdapterConformance('sqlite :memory:', async () => new SqliteAdapter({ filename: ':memory:' }), vitest);

// A better-sqlite3 in-memory database: one connection, so outside reads wait for the unit in flight.
runAdapterConformance('sqlite single-connection :memory:', async () => new SqliteAdapter({ database: new Database(':memory:') }), vitest);

const dir = mkdtempSync(join(tmpdir(), 'sqlite-conformance-'));
let n = 0;
runAdapterConformance('sqlite file', async () => new SqliteAdapter({ filename: join(dir, `db-${n++}.sqlite`) }), {
  ...vitest,
  differentialCorpus,
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));
