/**
 * A group export over more members than one compartment query carries (GROUP_BATCH): every member and
 * every resource of their compartments comes once, even one in the compartments of members of two
 * batches.
 */
import { describe, expect, it } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { sequentialIds } from '../../src/clock.js';
import { FhirEngine } from '../../src/engine.js';
import { GROUP_BATCH } from '../../src/export/export-job.js';
import type { Resource } from '../../src/resource/resource.js';

describe('Group/[id]/$export over several batches of members', () => {
  it('writes each member and each resource of their compartments once', async () => {
    const engine = new FhirEngine({ storage: new MemoryAdapter(), ids: sequentialIds('r'), limits: { exportChunkSize: 97 } });
    const n = GROUP_BATCH + 20;
    const ids = Array.from({ length: n }, (_, i) => `p${String(i).padStart(4, '0')}`);
    await engine.batch({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        ...ids.map((id) => ({ resource: { resourceType: 'Patient', id }, request: { method: 'PUT', url: `Patient/${id}` } })),
        { resource: { resourceType: 'Patient', id: 'outsider' }, request: { method: 'PUT', url: 'Patient/outsider' } },
      ],
    });
    const first = ids[0]!;
    const last = ids[n - 1]!; // in the second batch
    const observations: Resource[] = [
      { resourceType: 'Observation', status: 'final', code: { text: 'both' }, subject: { reference: `Patient/${first}` }, performer: [{ reference: `Patient/${last}` }] },
      { resourceType: 'Observation', status: 'final', code: { text: 'second' }, subject: { reference: `Patient/${last}` } },
      { resourceType: 'Observation', status: 'final', code: { text: 'outside' }, subject: { reference: 'Patient/outsider' } },
    ];
    for (const o of observations) await engine.create(o);
    await engine.update({ resourceType: 'Group', id: 'g', type: 'person', actual: true, member: ids.map((id) => ({ entity: { reference: `Patient/${id}` } })) } as Resource & { id: string });

    const job = await engine.bulkExport({ level: 'group', groupId: 'g', types: ['Patient', 'Observation'] });
    await engine.jobs.settled(job.id);
    const manifest = (await engine.exportManifest(job.id))!;
    expect(manifest.output.map((o) => [o.type, o.count])).toEqual([
      ['Patient', n],
      ['Observation', 2],
    ]);
    let text = '';
    for await (const chunk of await engine.exportFile(job.id, 'Observation.ndjson')) text += Buffer.from(chunk).toString();
    expect(text.trim().split('\n').map((l) => (JSON.parse(l) as { code: { text: string } }).code.text).sort()).toEqual(['both', 'second']);
  });
});
