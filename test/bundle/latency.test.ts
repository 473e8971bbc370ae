import { describe, expect, it } from 'vitest';
import { MemoryAdapter } from '../../adapters/memory/index.js';
import { LatencyAdapter } from '../support/latency-adapter.js';
import { newEngine, post, statuses } from './helpers.js';

describe('parallel batch on a slow storage', () => {
  it('overlaps its storage waits where serial processing never does, with the same results', async () => {
    const storage = new LatencyAdapter(new MemoryAdapter(), 5);
    const engine = newEngine(storage);
    const seed = await engine.batch({
      resourceType: 'Bundle',
      type: 'batch',
      entry: Array.from({ length: 16 }, (_, i) => ({
        resource: { resourceType: 'Patient', id: `p${i}` },
        request: { method: 'PUT', url: `Patient/p${i}` },
      })),
    });
    expect(seed.entry.every((e) => e.response.status === '201 Created')).toBe(true);
    const bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        ...Array.from({ length: 16 }, (_, i) => ({ request: { method: 'GET', url: `Patient/p${i}` } })),
        ...Array.from({ length: 16 }, (_, i) => ({ resource: { resourceType: 'Observation', status: 'final', code: { text: `${i}` } }, request: { method: 'POST', url: 'Observation' } })),
      ],
    };
    const time = async (headers: Record<string, string>) => {
      storage.overlap.reset();
      const started = performance.now();
      const res = await post(engine, bundle, headers);
      return { ms: performance.now() - started, res, overlap: storage.overlap.max };
    };
    const serial = await time({});
    const parallel = await time({ 'x-bundle-processing-logic': 'parallel' });
    expect(statuses(parallel.res.body)).toEqual(statuses(serial.res.body));
    // Speed itself is the benchmark's business (bench/bundle.bench.ts); here, only how many waits overlap.
    console.log(`[bundle] latency 5 ms, 32 entries: serial ${serial.ms.toFixed(0)} ms, parallel ${parallel.ms.toFixed(0)} ms; at most ${serial.overlap} / ${parallel.overlap} storage waits at once`);
    expect(serial.overlap).toBe(1);
    expect(parallel.overlap).toBeGreaterThan(1);
  });
});
