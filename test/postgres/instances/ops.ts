/**
 * What one engine instance does in the multi-instance tests, the same code in the test process and
 * in child processes (see `child.ts`): everything goes through `engine.handle()`.
 */
import type { FhirEngine } from '../../../src/engine.js';

export const COUNTER = 'http://example.org/fhir/StructureDefinition/counter';
const json = { 'content-type': 'application/fhir+json' };

interface CounterPatient {
  resourceType: 'Patient';
  id: string;
  extension: { url: string; valueInteger: number }[];
}

/** Read-modify-write increments of the counter through If-Match, re-reading after 412/409. */
export async function increment(engine: FhirEngine, id: string, times: number): Promise<{ retries: number }> {
  let retries = 0;
  for (let done = 0; done < times; ) {
    const read = await engine.handle({ method: 'GET', url: `/Patient/${id}` });
    if (read.status !== 200) throw new Error(`read ${read.status}: ${String(read.body)}`);
    const patient = JSON.parse(String(read.body)) as CounterPatient;
    const counter = patient.extension.find((e) => e.url === COUNTER)!;
    counter.valueInteger += 1;
    const put = await engine.handle({ method: 'PUT', url: `/Patient/${id}`, headers: { ...json, 'if-match': read.headers.etag! }, body: patient });
    if (put.status === 200) done++;
    else if (put.status === 412 || put.status === 409) retries++;
    else throw new Error(`update ${put.status}: ${String(put.body)}`);
  }
  return { retries };
}

/** `n` conditional creates at once with the same If-None-Exist; returns their statuses. */
export async function conditionalCreates(engine: FhirEngine, n: number, system: string, value: string): Promise<number[]> {
  const responses = await Promise.all(
    Array.from({ length: n }, () =>
      engine.handle({
        method: 'POST',
        url: '/Patient',
        headers: { ...json, 'if-none-exist': `identifier=${system}|${value}` },
        body: { resourceType: 'Patient', identifier: [{ system, value }] },
      }),
    ),
  );
  return responses.map((r) => r.status);
}

/** How many Patients have an identifier in `system` (as this instance sees them). */
export async function countBySystem(engine: FhirEngine, system: string): Promise<number> {
  const res = await engine.handle({ method: 'GET', url: `/Patient?identifier=${encodeURIComponent(`${system}|`)}&_total=accurate&_count=0` });
  if (res.status !== 200) throw new Error(`search ${res.status}: ${String(res.body)}`);
  return (JSON.parse(String(res.body)) as { total: number }).total;
}

export const ops = { increment, conditionalCreates, countBySystem };
export type Op = keyof typeof ops;
export type OpArgs<O extends Op> = (typeof ops)[O] extends (engine: FhirEngine, ...args: infer A) => unknown ? A : never;
export type OpResult<O extends Op> = Awaited<ReturnType<(typeof ops)[O]>>;

/** An engine instance the tests drive: in the test process, or in a child process. */
export interface Instance {
  call<O extends Op>(op: O, ...args: OpArgs<O>): Promise<OpResult<O>>;
}
