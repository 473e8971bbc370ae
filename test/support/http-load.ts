/**
 * A mixed HTTP workload for the load test and `npm run bench -- load`: `connections` clients, each
 * one request at a time over a shared keep-alive pool of as many sockets, for `seconds`. Each request
 * is a create, a read, a search, or an increment of a counter extension on one of a few `Basic`
 * resources by read-modify-write with `If-Match` (retried on 412). The result carries what the
 * checks need: 5xx count, acknowledged increments per counter, latencies.
 */
import { Agent, request as httpRequest } from 'node:http';

/** A response as the workload sees it. */
interface Reply {
  readonly status: number;
  readonly etag: string | undefined;
  readonly body: string;
}

/** What a run did. */
export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly byStatus: Readonly<Record<number, number>>;
  readonly serverErrors: readonly string[];
  readonly byKind: Readonly<Record<Kind, number>>;
  /** Acknowledged (2xx) increments per counter id. */
  readonly increments: ReadonlyMap<string, number>;
  /** 412 answers to an increment, each followed by a retry. */
  readonly retries: number;
  /** Request latencies in ms, sorted. */
  readonly latencies: Float64Array;
}

type Kind = 'create' | 'read' | 'search' | 'increment';

const COUNTER_URL = 'urn:fhir-engine:load:counter';
const FAMILIES = ['Smith', 'Jones', 'Brown', 'Taylor', 'Wilson', 'Evans', 'Thomas', 'Roberts'];

const counter = (id: string, value: number): object => ({
  resourceType: 'Basic',
  id,
  code: { text: 'counter' },
  extension: [{ url: COUNTER_URL, valueInteger: value }],
});

/** The counter's value in a Basic resource's JSON. */
export const counterValue = (json: string): number =>
  (JSON.parse(json) as { extension: { url: string; valueInteger: number }[] }).extension.find((e) => e.url === COUNTER_URL)!.valueInteger;

/** An HTTP client of `base` over a keep-alive pool of `sockets`. */
export function client(base: string, sockets: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const send = (method: string, path: string, body?: object, headers: Record<string, string> = {}): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = httpRequest(
        `${base}${path}`,
        { method, agent, headers: { ...headers, ...(data !== undefined && { 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(data) }) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, etag: res.headers.etag, body: text }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  return { send, close: () => agent.destroy() };
}

/** Creates the counters `c0`…`c<n-1>` at 0 and returns their ids. */
export async function createCounters(send: ReturnType<typeof client>['send'], n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `c${i}`);
  for (const id of ids) {
    const res = await send('PUT', `/Basic/${id}`, counter(id, 0));
    if (res.status !== 201) throw new Error(`counter ${id}: ${res.status} ${res.body}`);
  }
  return ids;
}

/** Runs the mixed workload against `base`. */
export async function runLoad(base: string, options: { connections: number; seconds: number; counters?: number }): Promise<LoadResult> {
  const { send, close } = client(base, options.connections);
  const counters = await createCounters(send, options.counters ?? 16);
  const created: string[] = [];
  const increments = new Map(counters.map((id) => [id, 0]));
  const byStatus: Record<number, number> = {};
  const byKind: Record<Kind, number> = { create: 0, read: 0, search: 0, increment: 0 };
  const serverErrors: string[] = [];
  let latencies = new Float64Array(1 << 16);
  let requests = 0;
  let retries = 0;

  const timed = async (method: string, path: string, body?: object, headers?: Record<string, string>): Promise<Reply> => {
    const started = performance.now();
    const res = await send(method, path, body, headers);
    if (requests === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[requests++] = performance.now() - started;
    byStatus[res.status] = (byStatus[res.status] ?? 0) + 1;
    if (res.status >= 500) serverErrors.push(`${method} ${path}: ${res.status} ${res.body.slice(0, 300)}`);
    return res;
  };
  const expectStatus = (res: Reply, ...ok: number[]): Reply => {
    if (!ok.includes(res.status) && res.status < 500) throw new Error(`unexpected ${res.status}: ${res.body.slice(0, 300)}`);
    return res;
  };

  const increment = async (id: string): Promise<void> => {
    for (;;) {
      const read = expectStatus(await timed('GET', `/Basic/${id}`), 200);
      if (read.status !== 200) return;
      const put = await timed('PUT', `/Basic/${id}`, counter(id, counterValue(read.body) + 1), { 'if-match': read.etag! });
      if (put.status === 412) {
        retries++;
        continue;
      }
      if (expectStatus(put, 200).status === 200) increments.set(id, increments.get(id)! + 1);
      return;
    }
  };

  let seed = 1;
  const random = (n: number): number => {
    seed = (seed * 48271) % 2147483647;
    return seed % n;
  };
  const deadline = performance.now() + options.seconds * 1000;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const roll = random(100);
      if (roll < 25 || created.length === 0) {
        byKind.create++;
        const res = expectStatus(await timed('POST', '/Patient', { resourceType: 'Patient', name: [{ family: FAMILIES[random(FAMILIES.length)], given: ['Load'] }], birthDate: '1980-01-01' }), 201);
        if (res.status === 201) created.push((JSON.parse(res.body) as { id: string }).id);
      } else if (roll < 50) {
        byKind.read++;
        expectStatus(await timed('GET', `/Patient/${created[random(created.length)]}`), 200);
      } else if (roll < 65) {
        byKind.search++;
        expectStatus(await timed('GET', `/Patient?family=${FAMILIES[random(FAMILIES.length)]}&_count=10&_sort=-_lastUpdated`), 200);
      } else {
        byKind.increment++;
        await increment(counters[random(counters.length)]!);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.connections }, worker));
  } finally {
    close();
  }
  const seconds = (performance.now() - started) / 1000;
  return { requests, seconds, byStatus, serverErrors, byKind, increments, retries, latencies: latencies.slice(0, requests).sort() };
}

/** Each counter's final value and number of versions, read back from the server. */
export async function readCounters(base: string, ids: Iterable<string>): Promise<Map<string, { value: number; versions: number }>> {
  const { send, close } = client(base, 4);
  const out = new Map<string, { value: number; versions: number }>();
  try {
    for (const id of ids) {
      const current = await send('GET', `/Basic/${id}`);
      let versions = 0;
      for (let url: string | undefined = `/Basic/${id}/_history?_count=1000`; url; ) {
        const res = await send('GET', url);
        if (res.status !== 200) throw new Error(`history ${res.status} ${res.body}`);
        const bundle = JSON.parse(res.body) as { entry?: unknown[]; link?: { relation: string; url: string }[] };
        versions += bundle.entry?.length ?? 0;
        const next = bundle.link?.find((l) => l.relation === 'next')?.url;
        url = next === undefined ? undefined : next.replace(/^https?:\/\/[^/]+/, '');
      }
      out.set(id, { value: counterValue(current.body), versions });
    }
  } finally {
    close();
  }
  return out;
}

/** The q-quantile of sorted values. */
export const quantile = (sorted: Float64Array, q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
