/**
 * Child process of the crash test (bundled by the test, run with plain node): serves an endless
 * stream of writes through `handle()` on the SQLite file argv[2] and prints one JSON line per write
 * acknowledged with a 2xx, until the parent kills it with SIGKILL.
 *
 * Writes: creates of a Patient, updates of a known Patient with `If-Match` (its current version, as
 * read back at start or from the last acknowledgement), and 20-entry transactions whose Patients share
 * an identifier `urn:tx|<name>`. Every resource carries `urn:write|<run>-<n>` naming the write that
 * made its current version, so that the parent can tell which write each stored version comes from.
 */
import { SqliteAdapter } from '../../adapters/sqlite/index.js';
import { sequentialIds } from '../../src/clock.js';
import { FhirEngine } from '../../src/engine.js';

const [filename, run, synchronous] = process.argv.slice(2);
if (!filename || !run) throw new Error('usage: write-child.js <db file> <run> [synchronous]');

const engine = new FhirEngine({
  storage: new SqliteAdapter({ filename, ...(synchronous && { synchronous: synchronous as 'FULL' }) }),
  ids: sequentialIds(`r${run}-`),
});
const print = (line: object): void => void process.stdout.write(`${JSON.stringify(line)}\n`);
const json = { 'content-type': 'application/fhir+json' };

/** Current version of every Patient, from the database as the last run left it. */
const versions = new Map<string, number>();
for (let url: string | undefined = 'Patient?_count=1000&_elements=id'; url; ) {
  const res = await engine.handle({ method: 'GET', url });
  if (res.status !== 200) throw new Error(`search ${res.status} ${res.body}`);
  const bundle = JSON.parse(res.body!) as { entry?: { resource: { id: string; meta: { versionId: string } } }[]; link: { relation: string; url: string }[] };
  for (const { resource } of bundle.entry ?? []) versions.set(resource.id, Number(resource.meta.versionId));
  url = bundle.link.find((l) => l.relation === 'next')?.url;
}
print({ ready: true, patients: versions.size });

const patient = (write: string, extra: object[] = []): object => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:write', value: write }, ...extra],
  name: [{ family: `F${write}` }],
});

let random = Number(run) * 7919 + 1;
/** A small deterministic generator: the kill is what is random here. */
const next = (n: number): number => {
  random = (random * 48271) % 2147483647;
  return random % n;
};

for (let n = 0; ; n++) {
  const write = `${run}-${n}`;
  const ids = [...versions.keys()];
  const choice = next(10);
  if (choice < 4 || ids.length === 0) {
    const res = await engine.handle({ method: 'POST', url: 'Patient', headers: json, body: JSON.stringify(patient(write)) });
    if (res.status !== 201) throw new Error(`create ${res.status} ${res.body}`);
    const [, id, version] = /^\/?Patient\/([^/]+)\/_history\/(\d+)$/.exec(res.headers.location!)!;
    versions.set(id!, Number(version));
    print({ op: 'create', write, id, versionId: version });
  } else if (choice < 8) {
    const id = ids[next(ids.length)]!;
    const ifMatch = `W/"${versions.get(id)}"`;
    const res = await engine.handle({ method: 'PUT', url: `Patient/${id}`, headers: { ...json, 'if-match': ifMatch }, body: JSON.stringify({ ...patient(write), id }) });
    if (res.status !== 200) throw new Error(`update ${res.status} ${res.body}`);
    const version = /^W\/"(\d+)"$/.exec(res.headers.etag!)![1]!;
    versions.set(id, Number(version));
    print({ op: 'update', write, id, versionId: version, ifMatch });
  } else {
    const tx = { system: 'urn:tx', value: write };
    const entry = Array.from({ length: 20 }, (_, i) => ({ resource: patient(`${write}.${i}`, [tx]), request: { method: 'POST', url: 'Patient' } }));
    const res = await engine.handle({ method: 'POST', url: '/', headers: json, body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry }) });
    if (res.status !== 200) throw new Error(`transaction ${res.status} ${res.body}`);
    const created = (JSON.parse(res.body!) as { entry: { response: { location: string } }[] }).entry.map((e) => /Patient\/([^/]+)\/_history\/(\d+)/.exec(e.response.location)!);
    for (const [, id, version] of created) versions.set(id!, Number(version));
    print({ op: 'transaction', write, ids: created.map((m) => m[1]) });
  }
}
