import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll } from 'vitest';

import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { runAdapterConformance } from '../conformance/adapter-conformance.js';

// `runAdapterConformance` also registers the engine and search conformance cases.
runAdapterConformance('sqlite :memory:', async () => new SqliteAdapter({ filename: ':memory:' }));

const dir = mkdtempSync(join(tmpdir(), 'sqlite-conformance-'));
let n = 0;
runAdapterConformance('sqlite file', async () => new SqliteAdapter({ filename: join(dir, `db-${n++}.sqlite`) }));

afterAll(() => rmSync(dir, { recursive: true, force: true }));
