/**
 * Compartments, `$everything` and `$export` on real data: the Synthea bundles of `../shared` (v3 with
 * its provider batches, then v2), loaded through transactions on each corpus adapter. A patient's
 * bundle is its record: `$everything` gives all of it and nothing of another patient's, and exports
 * hold exactly what searches find.
 */
import { describe, expect, it } from 'vitest';
import { FhirEngine } from '../../src/engine.js';
import type { Resource } from '../../src/resource/resource.js';
import { ADAPTERS } from '../support/adapters.js';
import { synthea } from '../support/corpora.js';
import { post } from '../bundle/helpers.js';

const BASE = 'http://synthea.test';

/** Loads every Synthea bundle; returns each patient bundle's resources as `Type/id`, by patient id. */
async function load(engine: FhirEngine): Promise<Map<string, Set<string>>> {
  const records = new Map<string, Set<string>>();
  for (const dir of ['synthea-v3-conditional', 'synthea-v2-simple']) {
    const files = synthea.files(dir).sort((a, b) => Number(!a.includes('Information')) - Number(!b.includes('Information')));
    for (const file of files) {
      const res = await post(engine, synthea.json(`${dir}/${file}`));
      expect([file, res.status]).toEqual([file, 200]);
      if (file.includes('Information')) continue;
      const loaded = (res.body.entry as { resource: Resource }[]).map((e) => e.resource);
      const patient = loaded.find((r) => r.resourceType === 'Patient')!;
      records.set(patient.id!, new Set(loaded.map((r) => `${r.resourceType}/${r.id}`)));
    }
  }
  return records;
}

/** Every resource of a paged search or `$everything`, matches and includes, following next links. */
async function walk(engine: FhirEngine, url: string): Promise<{ matches: string[]; includes: Set<string>; pages: number }> {
  const matches: string[] = [];
  const includes = new Set<string>();
  let pages = 0;
  for (let u: string | undefined = url; u !== undefined; pages++) {
    const res = await engine.handle({ method: 'GET', url: u });
    expect([u, res.status]).toEqual([u, 200]);
    const bundle = JSON.parse(res.body!) as { entry?: { resource: Resource; search: { mode: string } }[]; link: { relation: string; url: string }[] };
    for (const e of bundle.entry ?? []) {
      const key = `${e.resource.resourceType}/${e.resource.id}`;
      if (e.search.mode === 'match') matches.push(key);
      else includes.add(key);
    }
    u = bundle.link.find((l) => l.relation === 'next')?.url.slice(BASE.length);
  }
  return { matches, includes, pages };
}

async function exportFiles(engine: FhirEngine, url: string): Promise<Map<string, string[]>> {
  const kickOff = await engine.handle({ method: 'GET', url, headers: { prefer: 'respond-async' } });
  expect(kickOff.status).toBe(202);
  const id = kickOff.headers['content-location']!.split('/').pop()!;
  await engine.jobs.settled(id);
  const manifest = (await engine.exportManifest(id))!;
  const files = new Map<string, string[]>();
  for (const o of manifest.output) {
    let text = '';
    for await (const chunk of await engine.exportFile(id, `${o.type}.ndjson`)) text += Buffer.from(chunk).toString('utf8');
    const ids = text.trim().split('\n').map((line) => `${o.type}/${(JSON.parse(line) as Resource).id}`);
    expect(ids).toHaveLength(o.count);
    files.set(o.type, ids.sort());
  }
  return files;
}

for (const [name, make] of ADAPTERS) {
  describe.skipIf(!synthea.available)(`Synthea on ${name}: $everything and $export`, () => {
    it('$everything of each patient is its whole record and nothing of another patient', async () => {
      const engine = new FhirEngine({ storage: make(), baseUrl: BASE });
      try {
        const records = await load(engine);
        expect(records.size).toBe(7);
        for (const [patient, record] of records) {
          const { matches, includes, pages } = await walk(engine, `/Patient/${patient}/$everything?_count=100`);
          expect(new Set(matches).size).toBe(matches.length); // each match once
          const got = new Set([...matches, ...includes]);
          expect([...record].filter((r) => !got.has(r))).toEqual([]);
          const others = [...records].filter(([p]) => p !== patient).flatMap(([, r]) => [...r]);
          expect(others.filter((r) => got.has(r))).toEqual([]);
          expect(pages).toBe(Math.ceil(matches.length / 100));
          // The compartment search agrees with the matches (the patient aside).
          const compartment = await walk(engine, `/Patient/${patient}/*?_count=1000`);
          expect(compartment.matches.sort()).toEqual(matches.filter((m) => m !== `Patient/${patient}`).sort());
        }
      } finally {
        await engine.close();
      }
    });

    it('exports system-wide, per Patient and per Group hold exactly what searches find', async () => {
      const engine = new FhirEngine({ storage: make(), baseUrl: BASE, limits: { exportChunkSize: 700 } });
      try {
        const records = await load(engine);
        const system = await exportFiles(engine, '/$export');
        let total = 0;
        for (const [type, ids] of system) {
          const found = await walk(engine, `/${type}?_count=1000&_elements=id`);
          expect([type, ids]).toEqual([type, found.matches.sort()]);
          total += ids.length;
        }
        expect((await engine.search(undefined, '_summary=count')).total).toBe(total);

        const [first, second] = [...records.keys()];
        const inCompartments = async (patients: string[]): Promise<Map<string, string[]>> => {
          const byType = new Map<string, Set<string>>();
          const add = (key: string) => {
            const type = key.split('/')[0]!;
            (byType.get(type) ?? byType.set(type, new Set()).get(type)!).add(key);
          };
          for (const p of patients) {
            add(`Patient/${p}`);
            for (const m of (await walk(engine, `/Patient/${p}/*?_count=1000`)).matches) add(m);
          }
          return new Map([...byType].map(([t, s]) => [t, [...s].sort()]));
        };
        const sorted = (m: Map<string, string[]>) => [...m].sort(([a], [b]) => a.localeCompare(b));
        expect(sorted(await exportFiles(engine, '/Patient/$export'))).toEqual(sorted(await inCompartments([...records.keys()])));
        await engine.update({ resourceType: 'Group', id: 'two', type: 'person', actual: true, member: [{ entity: { reference: `Patient/${first}` } }, { entity: { reference: `Patient/${second}` } }] } as Resource & { id: string });
        const group = await exportFiles(engine, '/Group/two/$export?_type=Patient,Observation,Encounter,Condition');
        const want = await inCompartments([first!, second!]);
        expect(sorted(group)).toEqual(sorted(new Map([...want].filter(([t]) => ['Patient', 'Observation', 'Encounter', 'Condition'].includes(t)))));
      } finally {
        await engine.close();
      }
    });
  });
}
