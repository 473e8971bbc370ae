/**
 * Crash safety of the SQLite adapter: a child process (`write-child.ts`) writes through `handle()` on a
 * file database and is killed with SIGKILL at a random point, `CRASH_KILLS` (default 30) times in a
 * row on the same file. After each kill: the database reopens, `PRAGMA integrity_check` is `ok`, every
 * write the child acknowledged is stored with its versionId, no transaction is partly visible,
 * version numbers have no gaps and continue, and the current state agrees with the history.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { FhirEngine } from '../../src/engine.js';
import type { Resource } from '../../src/resource/resource.js';
import { bundleForNode } from '../support/bundle.js';
import { runUntilKilled } from '../support/child.js';

const KILLS = Number(process.env.CRASH_KILLS ?? 30);
const TX_SIZE = 20;

type Ack =
  | { op: 'create' | 'update'; write: string; id: string; versionId: string }
  | { op: 'transaction'; write: string; ids: string[] };

/** The write (`urn:write` identifier) a stored version comes from. */
const writeOf = (json: string): string => (JSON.parse(json) as Resource & { identifier: { system: string; value: string }[] }).identifier.find((i) => i.system === 'urn:write')!.value;

/** Checks the file after a kill against every acknowledgement so far; returns figures. */
async function check(filename: string, acks: readonly Ack[]): Promise<{ versions: number; resources: number }> {
  const raw = new Database(filename);
  try {
    expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
  } finally {
    raw.close();
  }
  const engine = new FhirEngine({ storage: new SqliteAdapter({ filename }) });
  try {
    const { items } = await engine.storage.readHistory({ level: 'type', type: 'Patient' }, { count: 1_000_000 });
    /** `id/versionId` → write. */
    const stored = new Map<string, string>();
    const byId = new Map<string, number[]>();
    /** Transaction write → how many of its Patients are stored. */
    const txCount = new Map<string, number>();
    for (const v of items) {
      const write = writeOf(v.json!);
      stored.set(`${v.id}/${v.versionId}`, write);
      byId.set(v.id, [...(byId.get(v.id) ?? []), Number(v.versionId)]);
      if (v.versionId === '1' && write.includes('.')) {
        const tx = write.slice(0, write.indexOf('.'));
        txCount.set(tx, (txCount.get(tx) ?? 0) + 1);
      }
    }
    for (const ack of acks) {
      if (ack.op === 'transaction') {
        expect(txCount.get(ack.write), `transaction ${ack.write}`).toBe(TX_SIZE);
        ack.ids.forEach((id, i) => expect(stored.get(`${id}/1`), `transaction ${ack.write} entry ${i}`).toBe(`${ack.write}.${i}`));
      } else {
        expect(stored.get(`${ack.id}/${ack.versionId}`), `${ack.op} ${ack.write}`).toBe(ack.write);
      }
    }
    // All or nothing, acknowledged or not (the write in flight at the kill may have committed).
    for (const [tx, n] of txCount) expect(n, `transaction ${tx}`).toBe(TX_SIZE);
    // Version numbers 1..n without gaps, and the current version (as search sees it) is the last one.
    const current = new Map<string, string>();
    for (let url: string | undefined = 'Patient?_count=1000&_elements=id'; url; ) {
      const res = await engine.handle({ method: 'GET', url });
      expect(res.status).toBe(200);
      const bundle = JSON.parse(res.body!) as { entry?: { resource: Resource }[]; link: { relation: string; url: string }[] };
      for (const { resource } of bundle.entry ?? []) current.set(resource.id!, resource.meta!.versionId!);
      url = bundle.link.find((l) => l.relation === 'next')?.url;
    }
    expect(current.size).toBe(byId.size);
    for (const [id, numbers] of byId) {
      expect(numbers.sort((a, b) => a - b), id).toEqual(numbers.map((_, i) => i + 1));
      expect(current.get(id), id).toBe(String(numbers.length));
    }
    return { versions: items.length, resources: byId.size };
  } finally {
    await engine.close();
  }
}

describe('SQLite crash safety (kill -9 of a writing child process)', () => {
  let child: string;
  let dir: string;
  beforeAll(async () => {
    child = await bundleForNode('test/reliability/write-child.ts');
    dir = mkdtempSync(join(tmpdir(), 'fhir-crash-'));
  });
  afterAll(() => {
    rmSync(dirname(child), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it(`loses no acknowledged write over ${KILLS} kills in a row`, async () => {
    const filename = join(dir, 'fhir.db');
    const acks: Ack[] = [];
    const kinds = { create: 0, update: 0, transaction: 0 };
    let figures = { versions: 0, resources: 0 };
    for (let run = 0; run < KILLS; run++) {
      // Kill after a random number of acknowledgements: the child is then somewhere in its next write.
      const killAfter = 1 + Math.floor(Math.random() * 40);
      let seen = 0;
      const { lines, signal } = await runUntilKilled(child, [filename, String(run)], (line) => line.op !== undefined && ++seen >= killAfter);
      expect(signal).toBe('SIGKILL');
      expect(lines[0]).toMatchObject({ ready: true, patients: figures.resources });
      for (const line of lines.slice(1)) {
        const ack = line as unknown as Ack;
        acks.push(ack);
        kinds[ack.op]++;
      }
      figures = await check(filename, acks);
    }
    console.log(`crash: ${KILLS} kills, ${acks.length} acknowledged writes checked (${JSON.stringify(kinds)}), ${figures.versions} versions of ${figures.resources} Patients`);
    expect(kinds.update).toBeGreaterThan(0);
    expect(kinds.transaction).toBeGreaterThan(0);
  }, 120_000);
});
