/**
 * Differential, model-based test: random sequences of requests (see `commands.ts`) run step by step
 * through `handle()` on engines over memory, SQLite and PostgreSQL, all with the same `fixedClock` and
 * `sequentialIds`. Every response (status, every header, body) must be identical across adapters: the
 * memory adapter is the reference, and a difference fails with the shrunk sequence and both responses.
 *
 * `DIFF_RUNS` (default 300) sequences run on memory and SQLite; `DIFF_PG_RUNS` (default 40) on all
 * three: with PostgreSQL a sequence takes about five times as long (a round trip per statement), and
 * `npm test` must stay bounded. `DIFF_STEPS` (default 60) bounds the length of a sequence;
 * `DIFF_SEED` replays a failing seed.
 *
 * Found when it was written: the memory adapter sorted strings by UTF-16 code units, the SQL adapters
 * by UTF-8 bytes (an emoji and a fullwidth letter came out in opposite orders; fixed in
 * `compareCodePoints`), and the paging cursors differ in form (normalised below).
 */
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, describe, it } from 'vitest';

import { MemoryAdapter } from '../../adapters/memory/index.js';
import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { fixedClock, sequentialIds } from '../../src/clock.js';
import { FhirEngine } from '../../src/engine.js';
import type { FhirHttpResponse } from '../../src/http/respond.js';
import type { StorageAdapter } from '../../src/storage/storage-adapter.js';
import { PostgresAdapter } from '../../adapters/postgres/index.js';
import { pgUrl, schemaNames } from '../postgres/support.js';
import { sequence, type Step } from './commands.js';

const RUNS = Number(process.env.DIFF_RUNS ?? 300);
const PG_RUNS = Number(process.env.DIFF_PG_RUNS ?? 40);
const STEPS = Number(process.env.DIFF_STEPS ?? 60);
const SEED = process.env.DIFF_SEED === undefined ? undefined : Number(process.env.DIFF_SEED);

const nextSchema = schemaNames('diff');

/**
 * One PostgreSQL schema for every sequence, emptied in between (tables truncated, identities and the
 * sequence restarted): a schema of its own per sequence, shrinking included, would cost a migration each.
 */
const postgres = {
  schema: '',
  client: undefined as pg.Client | undefined,
  async open(): Promise<PostgresAdapter> {
    if (!this.client) {
      this.schema = nextSchema();
      await (await PostgresAdapter.open({ connectionString: pgUrl(), max: 1, schema: this.schema })).close();
      this.client = new pg.Client({ connectionString: pgUrl() });
      await this.client.connect();
    }
    const { rows } = await this.client.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = $1 AND tablename <> 'schema_migrations'`, [this.schema]);
    await this.client.query(`TRUNCATE ${rows.map((r) => `"${this.schema}"."${r.t}"`).join(', ')} RESTART IDENTITY; ALTER SEQUENCE "${this.schema}".seq RESTART`);
    return PostgresAdapter.open({ connectionString: pgUrl(), max: 2, schema: this.schema });
  },
};
afterAll(() => postgres.client?.end());

/** An engine and the `next` link of its last bundle. */
interface Subject {
  readonly name: string;
  readonly engine: FhirEngine;
  next: string | undefined;
}

/** `frozen`: every write at the same instant, so that `_lastUpdated` and history orders are all ties. */
function subject(name: string, storage: StorageAdapter, frozen: boolean): Subject {
  return { name, engine: new FhirEngine({ storage, clock: fixedClock('2026-01-01T00:00:00Z', frozen ? 0 : 1000), ids: sequentialIds() }), next: undefined };
}

/** What is compared: the response as a client sees it. */
type Seen = Pick<FhirHttpResponse, 'status' | 'headers' | 'body'>;

/**
 * Normalised: the paging cursor in `next` links. It is the adapter's own opaque token (the spec leaves
 * the form of paging links to the server: search.html#paging), e.g. JSON on memory and SQLite, base64
 * with sort keys on PostgreSQL. Each engine follows its own link, so the pages themselves are compared.
 */
const CURSOR = /_cursor=[^&"]*/g;

async function run(s: Subject, step: Step): Promise<Seen | undefined> {
  let response: FhirHttpResponse;
  if (step.kind === 'next') {
    if (s.next === undefined) return undefined;
    response = await s.engine.handle({ method: 'GET', url: s.next });
  } else {
    response = await s.engine.handle(step.request);
  }
  const body = response.body;
  if (body !== undefined && response.status === 200 && body.includes('"resourceType":"Bundle"')) {
    const parsed = JSON.parse(body) as { link?: { relation: string; url: string }[] };
    const next = parsed.link?.find((l) => l.relation === 'next')?.url;
    if (next !== undefined || parsed.link !== undefined) s.next = next;
  }
  return { status: response.status, headers: response.headers, body: body?.replace(CURSOR, '_cursor=<opaque>') };
}

const describeStep = (step: Step): string =>
  step.kind === 'next' ? 'GET <next link>' : `${step.request.method} ${step.request.url} ${JSON.stringify(step.request.headers ?? {})} ${String(step.request.body ?? '').slice(0, 400)}`;

/** Where two responses differ, said briefly (undefined when they are the same). */
function differenceOf(a: Seen | undefined, b: Seen | undefined): string | undefined {
  if (a === undefined || b === undefined) return a === b ? undefined : `one response is missing: ${JSON.stringify(a ?? b)}`;
  const parts: string[] = [];
  if (a.status !== b.status) parts.push(`status ${a.status} vs ${b.status}`);
  for (const name of new Set([...Object.keys(a.headers), ...Object.keys(b.headers)])) {
    if (a.headers[name] !== b.headers[name]) parts.push(`header ${name}: ${a.headers[name]} vs ${b.headers[name]}`);
  }
  if (a.body !== b.body) {
    const x = a.body ?? '';
    const y = b.body ?? '';
    let at = 0;
    while (at < x.length && x[at] === y[at]) at++;
    const from = Math.max(0, at - 300);
    parts.push(`body from char ${at}:\n  ${x.slice(from, at + 300)}\nvs\n  ${y.slice(from, at + 300)}`);
  }
  return parts.length ? parts.join('\n') : undefined;
}

/** Figures for the summary line. */
const tally = { sequences: 0, steps: 0, status: new Map<number, number>() };

/** Runs `steps` on every subject, comparing each response with the first subject's. */
async function differential(subjects: readonly Subject[], steps: readonly Step[]): Promise<void> {
  tally.sequences++;
  try {
    for (const [i, step] of steps.entries()) {
      const [reference, ...others] = await Promise.all(subjects.map((s) => run(s, step)));
      tally.steps++;
      if (reference) tally.status.set(reference.status, (tally.status.get(reference.status) ?? 0) + 1);
      for (const [k, seen] of others.entries()) {
        const difference = differenceOf(reference, seen);
        if (difference) throw new Error(`Step ${i} (${describeStep(step)}): ${subjects[k + 1]!.name} differs from ${subjects[0]!.name}: ${difference}`);
      }
      if (reference && reference.status >= 500) throw new Error(`Step ${i} (${describeStep(step)}): ${reference.status} ${reference.body}`);
    }
  } finally {
    await Promise.all(subjects.map((s) => s.engine.close()));
  }
}

const options = (numRuns: number): fc.Parameters<[boolean, Step[]]> => ({ numRuns, ...(SEED !== undefined && { seed: SEED }), endOnFailure: false });

afterAll(() => {
  const statuses = [...tally.status].sort(([a], [b]) => a - b).map(([s, n]) => `${s}:${n}`).join(' ');
  console.log(`differential: ${tally.sequences} sequences, ${tally.steps} steps compared (statuses ${statuses})`);
});

describe('differential: every response identical across adapters', () => {
  it(`memory and SQLite agree on ${RUNS} random sequences of up to ${STEPS} steps`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), sequence(STEPS), (frozen, steps) =>
        differential([subject('memory', new MemoryAdapter(), frozen), subject('sqlite', new SqliteAdapter({ filename: ':memory:' }), frozen)], steps),
      ),
      options(RUNS),
    );
  }, 600_000);

  it(`memory, SQLite and PostgreSQL agree on ${PG_RUNS} random sequences of up to ${STEPS} steps`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), sequence(STEPS), async (frozen, steps) =>
        differential(
          [
            subject('memory', new MemoryAdapter(), frozen),
            subject('sqlite', new SqliteAdapter({ filename: ':memory:' }), frozen),
            subject('postgres', await postgres.open(), frozen),
          ],
          steps,
        ),
      ),
      options(PG_RUNS),
    );
  }, 600_000);
});
