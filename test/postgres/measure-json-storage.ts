/**
 * Measures `text` against `jsonb` for the resource JSON column (issue 14): write and read
 * throughput at a given concurrency, stored size, and whether a read returns the bytes written.
 * Not a test; run it against a server of your own:
 *
 *   FHIR_TEST_PG_URL=postgres://… npx tsx test/postgres/measure-json-storage.ts [rows] [clients]
 *
 * Both variants run in one process, interleaved round by round, on the HL7 R4 examples (re-keyed
 * to `rows` rows); reported as medians and the jsonb/text ratio.
 */
import { readdirSync, readFileSync } from 'node:fs';

import pg from 'pg';

const url = process.env.FHIR_TEST_PG_URL;
if (!url) throw new Error('Set FHIR_TEST_PG_URL.');
const rows = Number(process.argv[2] ?? 5000);
const clients = Number(process.argv[3] ?? 8);
const rounds = 3;

const dir = new URL('../../../shared/testdata/r4-examples/resources/', import.meta.url);
const corpus = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.stringify(JSON.parse(readFileSync(new URL(f, dir), 'utf8'))));
const docs = Array.from({ length: rows }, (_, n) => corpus[n % corpus.length] as string);

const pool = new pg.Pool({ connectionString: url, max: clients });
const s = 'measure_json';
await pool.query(`DROP SCHEMA IF EXISTS ${s} CASCADE; CREATE SCHEMA ${s}`);

/** Runs `task(n)` for n in [0, count) on `clients` workers; returns operations per second. */
async function throughput(count: number, task: (n: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < count) await task(next++);
  }));
  return count / ((performance.now() - start) / 1000);
}

const variants = ['text', 'jsonb'] as const;
const results: Record<(typeof variants)[number], { write: number[]; read: number[] }> = { text: { write: [], read: [] }, jsonb: { write: [], read: [] } };
for (let round = 0; round < rounds; round++) {
  for (const type of round % 2 === 0 ? variants : [...variants].reverse()) {
    const table = `${s}.doc_${type}`;
    await pool.query(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (seq bigint PRIMARY KEY, json ${type} NOT NULL)`);
    results[type].write.push(await throughput(rows, (n) => pool.query(`INSERT INTO ${table} (seq, json) VALUES ($1, $2)`, [n, docs[n]])));
    const select = type === 'text' ? 'json' : 'json::text';
    results[type].read.push(await throughput(rows, (n) => pool.query(`SELECT ${select} AS json FROM ${table} WHERE seq = $1`, [(n * 7919) % rows])));
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const report: Record<string, unknown> = { rows, clients, rounds };
for (const type of variants) {
  const table = `${s}.doc_${type}`;
  const { rows: back } = await pool.query<{ seq: string; json: string }>(`SELECT seq, ${type === 'text' ? 'json' : 'json::text'} AS json FROM ${table} WHERE seq < $1 ORDER BY seq`, [corpus.length]);
  const size = (await pool.query<{ b: string }>(`SELECT pg_total_relation_size('${table}') AS b`)).rows[0]!.b;
  report[type] = {
    writesPerSecond: Math.round(median(results[type].write)),
    readsPerSecond: Math.round(median(results[type].read)),
    megabytes: Math.round(Number(size) / 1e5) / 10,
    identicalBytes: `${back.filter((r) => r.json === docs[Number(r.seq)]).length}/${back.length}`,
  };
}
report.ratio = {
  write: Math.round((median(results.jsonb.write) / median(results.text.write)) * 100) / 100,
  read: Math.round((median(results.jsonb.read) / median(results.text.read)) * 100) / 100,
};
console.log(JSON.stringify(report, null, 2));
await pool.query(`DROP SCHEMA ${s} CASCADE`);
await pool.end();
