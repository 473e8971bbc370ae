/**
 * Hostile input (issue 16): depth, size and count limits answer 4xx with an OperationOutcome, the
 * engine keeps serving, and no user key reaches an object prototype.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fixedClock, sequentialIds } from '../../src/clock.js';
import { FhirEngine, type FhirEngineOptions } from '../../src/engine.js';
import { DEFAULT_LIMITS } from '../../src/interactions/context.js';
import { isFhirError } from '../../src/errors.js';
import { ADAPTERS } from '../support/adapters.js';

const FHIR_JSON = { 'content-type': 'application/fhir+json' };
const DEEP = 20_000;

/** `{"a":{"a":…1…}}`, `levels` objects deep, as text. */
const deepObjectText = (levels: number): string => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
/** The same as a value, built without recursion. */
function deepObject(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { a: 1 };
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}
/** Extensions nested `levels` deep: the shape is valid FHIR, only the depth is not. */
function deepExtensionText(levels: number): string {
  return `${'{"url":"http://x","extension":['.repeat(levels)}{"url":"http://x","valueString":"v"}${']}'.repeat(levels)}`;
}

const json = (body: string | undefined): any => (body === undefined ? undefined : JSON.parse(body));

describe.each(ADAPTERS)('hostile input on %s', (_name, makeAdapter) => {
  let engine: FhirEngine;
  const make = (options: Partial<FhirEngineOptions> = {}): FhirEngine =>
    (engine = new FhirEngine({ storage: makeAdapter(), clock: fixedClock('2026-01-01T00:00:00Z', 1000), ids: sequentialIds(), ...options }));
  afterEach(() => engine?.close());

  /** The request answers `status` with an OperationOutcome, and the engine still serves a create afterwards. */
  async function expectRefused(request: Parameters<FhirEngine['handle']>[0], status: number, code: string): Promise<any> {
    const res = await engine.handle(request);
    expect(res.status).toBe(status);
    const outcome = json(res.body);
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0].code).toBe(code);
    const next = await engine.handle({ method: 'POST', url: '/Basic', headers: FHIR_JSON, body: '{"resourceType":"Basic","code":{"text":"ok"}}' });
    expect(next.status).toBe(201);
    return outcome;
  }

  describe('JSON depth', () => {
    for (const validation of ['strict', 'off'] as const) {
      it(`a body nested ${DEEP} levels deep is a 400 too-costly, validation ${validation}`, async () => {
        make({ validation });
        const body = `{"resourceType":"Basic","code":{"text":"x"},"extension":[${deepExtensionText(DEEP)}]}`;
        const outcome = await expectRefused({ method: 'POST', url: '/Basic', headers: FHIR_JSON, body }, 400, 'too-costly');
        expect(outcome.issue[0].diagnostics).toContain(`limit of ${DEFAULT_LIMITS.maxJsonDepth} levels`);
        await expectRefused({ method: 'POST', url: '/Basic', headers: FHIR_JSON, body: `{"resourceType":"Basic","x":${deepObjectText(DEEP)}}` }, 400, 'too-costly');
        await expectRefused({ method: 'POST', url: '/Basic', headers: FHIR_JSON, body: `${'['.repeat(DEEP)}${']'.repeat(DEEP)}` }, 400, 'too-costly');
      });
    }

    it('brackets inside strings do not count, escaped quotes do not end a string', async () => {
      make({ limits: { maxJsonDepth: 4 } });
      const res = await engine.handle({
        method: 'POST',
        url: '/Basic',
        headers: FHIR_JSON,
        body: JSON.stringify({ resourceType: 'Basic', code: { text: `\\"${'[{'.repeat(50)}` } }),
      });
      expect(res.status).toBe(201);
    });

    it('the limit is configurable and exact: depth == maxJsonDepth passes, one more is refused', async () => {
      make({ limits: { maxJsonDepth: 5 }, validation: 'off' });
      // Basic(1) > extension[](2) > Extension(3) > extension[](4) > Extension(5)
      const ok = { resourceType: 'Basic', extension: [{ url: 'http://x', extension: [{ url: 'http://y', valueString: 'v' }] }] };
      const tooDeep = { resourceType: 'Basic', extension: [{ url: 'http://x', extension: [{ url: 'http://y', valueCoding: { code: 'c' } }] }] };
      expect((await engine.handle({ method: 'POST', url: '/Basic', headers: FHIR_JSON, body: JSON.stringify(ok) })).status).toBe(201);
      expect((await engine.handle({ method: 'POST', url: '/Basic', body: ok })).status).toBe(201);
      expect((await engine.handle({ method: 'POST', url: '/Basic', headers: FHIR_JSON, body: JSON.stringify(tooDeep) })).status).toBe(400);
      expect((await engine.handle({ method: 'POST', url: '/Basic', body: tooDeep })).status).toBe(400);
    });

    it('an already-parsed body (Express) nested deep is a 400', async () => {
      make({ validation: 'off' });
      await expectRefused({ method: 'POST', url: '/Basic', body: { resourceType: 'Basic', x: deepObject(DEEP) } }, 400, 'too-costly');
    });

    it('the typed API refuses a deep resource with FhirError 400', async () => {
      make({ validation: 'off' });
      const error = await engine.create({ resourceType: 'Basic', x: deepObject(DEEP) } as never).catch((e: unknown) => e);
      expect(isFhirError(error) && error.status).toBe(400);
    });

    it('a Bundle entry, a FHIRPath Patch value and a JSON Patch value nested deep are 400s', async () => {
      make({ validation: 'off' });
      const created = await engine.create<any>({ resourceType: 'Basic', code: { text: 'x' } } as never);
      const entry = `{"resource":{"resourceType":"Basic","x":${deepObjectText(DEEP)}},"request":{"method":"POST","url":"Basic"}}`;
      await expectRefused({ method: 'POST', url: '/', headers: FHIR_JSON, body: `{"resourceType":"Bundle","type":"transaction","entry":[${entry}]}` }, 400, 'too-costly');
      const fhirPatch = `{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"add"},{"name":"path","valueString":"Basic"},{"name":"name","valueString":"x"},{"name":"value","valueString":"v","extension":[${deepExtensionText(DEEP)}]}]}]}`;
      await expectRefused({ method: 'PATCH', url: `/Basic/${created.resource.id}`, headers: FHIR_JSON, body: fhirPatch }, 400, 'too-costly');
      const jsonPatch = `[{"op":"add","path":"/x","value":${deepObjectText(DEEP)}}]`;
      await expectRefused({ method: 'PATCH', url: `/Basic/${created.resource.id}`, headers: { 'content-type': 'application/json-patch+json' }, body: jsonPatch }, 400, 'too-costly');
      expect((await engine.read('Basic', created.resource.id)).meta?.versionId).toBe('1');
    });

    it('JSON Patch copies that double the resource stop at maxBodyBytes copied (was: out of memory)', async () => {
      make({ validation: 'off', limits: { maxBodyBytes: 100_000 } });
      await engine.update({ resourceType: 'Basic', id: 'b', code: { text: 'x' }, a: [1] } as never);
      const ops = Array.from({ length: 40 }, () => ({ op: 'copy', from: '/a', path: '/a/0' }));
      const outcome = await expectRefused({ method: 'PATCH', url: '/Basic/b', headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify(ops) }, 400, 'too-costly');
      expect(outcome.issue[0].diagnostics).toMatch(/^The JSON Patch copies more than 100000 characters of JSON \(operation \d+\)\.$/);
      expect((await engine.read('Basic', 'b')).meta?.versionId).toBe('1');
    });

    it('a patch whose operations together nest deeper than maxJsonDepth is a 400', async () => {
      make({ validation: 'off', limits: { maxJsonDepth: 10 } });
      await engine.update({ resourceType: 'Basic', id: 'b', code: { text: 'x' } } as never);
      // Each operation adds three levels below the last: no single value is deep, the result is (13 levels).
      const ops = ['/x', '/x/a/0/b', '/x/a/0/b/a/0/b', '/x/a/0/b/a/0/b/a/0/b'].map((path) => ({ op: 'add', path, value: { a: [{}] } }));
      const res = await engine.handle({ method: 'PATCH', url: '/Basic/b', headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify(ops) });
      expect(res.status).toBe(400);
      expect(json(res.body).issue[0]).toMatchObject({ code: 'too-costly', diagnostics: 'The patched resource nests arrays and objects deeper than the limit of 10 levels.' });
      expect((await engine.read('Basic', 'b')).meta?.versionId).toBe('1');
    });

    it('a JSON Patch in a Binary of a Bundle entry (base64, unseen by the Bundle scan) nested deep is a 400', async () => {
      make({ validation: 'off' });
      const created = await engine.create<any>({ resourceType: 'Basic', code: { text: 'x' } } as never);
      const data = Buffer.from(`[{"op":"add","path":"/x","value":${deepObjectText(DEEP)}}]`).toString('base64');
      const bundle = {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [{ resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data }, request: { method: 'PATCH', url: `Basic/${created.resource.id}` } }],
      };
      const res = await engine.handle({ method: 'POST', url: '/', headers: FHIR_JSON, body: JSON.stringify(bundle) });
      expect(res.status).toBe(200);
      const outcome = json(res.body).entry[0].response;
      expect(outcome.status).toMatch(/^400\b/);
      expect(outcome.outcome.issue[0].code).toBe('too-costly');
    });
  });

  describe('regular expressions', () => {
    it('FHIRPath Patch paths calling matches(), matchesFull() or replaceMatches() are refused (was: a ReDoS holding the event loop)', async () => {
      make({ validation: 'off' });
      await engine.update({ resourceType: 'Basic', id: 'b', code: { text: `${'a'.repeat(40)}!` } } as never);
      const op = (path: string): string =>
        JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'operation', part: [{ name: 'type', valueCode: 'replace' }, { name: 'path', valueString: path }, { name: 'value', valueString: 'x' }] }] });
      for (const path of [
        "Basic.code.text.where($this.matches('^(a+)+$'))",
        "Basic.code.text.where($this.matchesFull('(a|aa)+'))",
        "Basic.code.where(text.`replaceMatches` ('(a+)+$', 'x') = 'y').text",
      ]) {
        const outcome = await expectRefused({ method: 'PATCH', url: '/Basic/b', headers: FHIR_JSON, body: op(path) }, 400, 'not-supported');
        expect(outcome.issue[0].diagnostics).toMatch(/^The FHIRPath function '(matches|matchesFull|replaceMatches)' is not allowed/);
      }
      // The names inside a string are data, not calls.
      const literal = await engine.handle({ method: 'PATCH', url: '/Basic/b', headers: FHIR_JSON, body: op("Basic.code.where(text != 'matches(x)').text") });
      expect(literal.status).toBe(200);
      await expectRefused({ method: 'PATCH', url: '/Basic/b', headers: FHIR_JSON, body: op(`Basic${'.code'.repeat(1000)}`) }, 400, 'too-costly');
    });
  });

  describe('URLs', () => {
    it('a path beginning with // is routed as a path, never parsed as a host (was a 500)', async () => {
      make();
      await expectRefused({ method: 'GET', url: '//x' }, 404, 'not-found');
      await expectRefused({ method: 'GET', url: '//%/Patient' }, 400, 'invalid');
      await expectRefused({ method: 'GET', url: '//[/Patient' }, 404, 'not-found');
      expect((await engine.handle({ method: 'GET', url: '//Patient' })).status).toBe(200);
    });

    it('a request without a string method or URL (from JavaScript) is a 400, never a rejection', async () => {
      make();
      for (const request of [{ method: 'GET' }, { url: '/Patient' }, { method: 1, url: '/Patient' }, { method: 'GET', url: ['/Patient'] }, null]) {
        const res = await engine.handle(request as never);
        expect(res.status).toBe(400);
        expect(json(res.body).resourceType).toBe('OperationOutcome');
      }
    });

    it('a malformed absolute URL is a 400 (was a 500)', async () => {
      make();
      await expectRefused({ method: 'GET', url: 'http://[::1/Patient' }, 400, 'invalid');
      await expectRefused({ method: 'GET', url: 'http://%zz/Patient' }, 400, 'invalid');
    });

    it(`a URL over maxUrlLength (default ${DEFAULT_LIMITS.maxUrlLength}) is a 414; the limit is configurable`, async () => {
      make();
      const long = `/Patient?name=${'a'.repeat(DEFAULT_LIMITS.maxUrlLength)}`;
      const outcome = await expectRefused({ method: 'GET', url: long }, 414, 'too-long');
      expect(outcome.issue[0].diagnostics).toContain(`limit of ${DEFAULT_LIMITS.maxUrlLength} characters`);
      make({ limits: { maxUrlLength: 20 } });
      expect((await engine.handle({ method: 'GET', url: '/Patient?name=abcdef' })).status).toBe(200);
      await expectRefused({ method: 'GET', url: '/Patient?name=abcdefg' }, 414, 'too-long');
    });

    it('more query parameters than maxQueryParameters is a 400 too-costly: in the URL, a form, a bundle entry', async () => {
      make({ limits: { maxQueryParameters: 3 } });
      expect((await engine.handle({ method: 'GET', url: '/Patient?a=1&b=2&c=3' })).status).toBe(200);
      const outcome = await expectRefused({ method: 'GET', url: '/Patient?a=1&b=2&c=3&d=4' }, 400, 'too-costly');
      expect(outcome.issue[0].diagnostics).toBe('The request has 4 query parameters; the limit is 3.');
      await expectRefused(
        { method: 'POST', url: '/Patient/_search?a=1&b=2', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'c=3&d=4' },
        400,
        'too-costly',
      );
      const bundle = { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Patient?a=1&b=2&c=3&d=4' } }] };
      const res = await engine.handle({ method: 'POST', url: '/', headers: FHIR_JSON, body: JSON.stringify(bundle) });
      expect(json(res.body).entry[0].response.status).toMatch(/^400\b/);
      await expect(engine.search('Patient', 'a=1&b=2&c=3&d=4')).rejects.toMatchObject({ status: 400 });
    });
  });

  describe('search limits', () => {
    it('_count over maxCount is capped, and the Bundle says so (Azure: information, informational)', async () => {
      make({ limits: { maxCount: 2 } });
      for (let i = 0; i < 3; i++) await engine.create({ resourceType: 'Basic', code: { text: `b${i}` } } as never);
      const bundle = json((await engine.handle({ method: 'GET', url: '/Basic?_count=50' })).body);
      expect(bundle.entry.filter((e: any) => e.search.mode === 'match')).toHaveLength(2);
      const outcome = bundle.entry.find((e: any) => e.search.mode === 'outcome').resource;
      expect(outcome.issue).toEqual([
        { severity: 'information', code: 'informational', diagnostics: '_count=50 exceeds the maximum page size of 2; pages hold at most 2 resources.', expression: ['_count'] },
      ]);
      expect(bundle.link[0].url).toBe('/Basic?_count=2');
    });

    it('_include fan-out stops at maxIncludes, stated in the Bundle', async () => {
      make({ limits: { maxIncludes: 2 } });
      await engine.update({ resourceType: 'Patient', id: 'p' } as never);
      for (let i = 0; i < 3; i++) await engine.create({ resourceType: 'Observation', status: 'final', code: { text: 'c' }, subject: { reference: 'Patient/p' } } as never);
      const bundle = json((await engine.handle({ method: 'GET', url: '/Patient?_revinclude=Observation:subject' })).body);
      expect(bundle.entry.filter((e: any) => e.search.mode === 'include')).toHaveLength(2);
      const outcome = bundle.entry.find((e: any) => e.search.mode === 'outcome').resource;
      expect(outcome.issue[0].diagnostics).toBe('More resources are included than the limit of 2; the Bundle holds the first 2.');
    });

    it('a chain deeper than maxChainDepth is a 400 too-costly', async () => {
      make({ limits: { maxChainDepth: 1 } });
      expect((await engine.handle({ method: 'GET', url: '/Observation?subject:Patient.name=x' })).status).toBe(200);
      await expectRefused({ method: 'GET', url: '/Observation?subject:Patient.organization.name=x' }, 400, 'too-costly');
      await expectRefused({ method: 'GET', url: `/Patient?${'_has:Observation:subject:'.repeat(300)}code=1` }, 400, 'too-costly');
    });
  });

  describe('prototype pollution', () => {
    const polluted = (): unknown => (({}) as Record<string, unknown>)['polluted'];
    afterEach(() => {
      expect(polluted()).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
    });
    const proto = '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}';

    for (const validation of ['strict', 'off'] as const) {
      it(`bodies with __proto__/constructor/prototype keys, validation ${validation}: create, update, bundle, search form`, async () => {
        make({ validation });
        const basic = `{"resourceType":"Basic","code":{"text":"x"},"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"extension":[{"url":"http://x","valueString":"v","__proto__":{"polluted":"yes"}}]}`;
        const statuses = [
          (await engine.handle({ method: 'POST', url: '/Basic', headers: FHIR_JSON, body: basic })).status,
          (await engine.handle({ method: 'PUT', url: '/Basic/b1', headers: FHIR_JSON, body: basic.replace('"Basic",', '"Basic","id":"b1",') })).status,
          (await engine.handle({ method: 'POST', url: '/Basic', body: JSON.parse(basic) })).status,
        ];
        // strict: unknown elements; off: stored as data, never as a prototype.
        expect(statuses).toEqual(validation === 'strict' ? [400, 400, 400] : [201, 201, 201]);
        const bundle = `{"resourceType":"Bundle","type":"transaction","__proto__":{"polluted":"yes"},"entry":[{"fullUrl":"__proto__","resource":${basic},"request":{"method":"POST","url":"Basic","__proto__":{"polluted":"yes"}}},{"fullUrl":"constructor","resource":${basic},"request":{"method":"POST","url":"Basic"}}]}`;
        const res = await engine.handle({ method: 'POST', url: '/', headers: FHIR_JSON, body: bundle });
        expect(res.status).toBeLessThan(500);
        await engine.handle({ method: 'POST', url: '/Basic/_search', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '__proto__=x&constructor=y&__proto__.polluted=yes' });
        if (validation === 'off') {
          const search = json((await engine.handle({ method: 'GET', url: '/Basic' })).body);
          for (const e of search.entry.filter((x: any) => x.search.mode === 'match')) expect(Object.getPrototypeOf(e.resource)).toBe(Object.prototype);
        }
      });
    }

    it('_elements=__proto__ on a stored __proto__ element (validation off) never makes it the prototype of the subset', async () => {
      make({ validation: 'off' });
      const body = '{"resourceType":"Basic","id":"b","code":{"text":"x"},"__proto__":{"meta":{"tag":[{"code":"inherited"}]},"polluted":"yes"}}';
      expect((await engine.handle({ method: 'PUT', url: '/Basic/b', headers: FHIR_JSON, body })).status).toBe(201);
      const bundle = json((await engine.handle({ method: 'GET', url: '/Basic?_elements=__proto__' })).body);
      const resource = bundle.entry[0].resource;
      expect(resource.polluted).toBeUndefined();
      expect(resource.meta.tag.map((t: { code: string }) => t.code)).toEqual(['SUBSETTED']);
    });

    it('JSON Patch: paths and values through __proto__, constructor, prototype are refused', async () => {
      make({ validation: 'off' });
      await engine.update({ resourceType: 'Basic', id: 'b', code: { text: 'x' } } as never);
      const headers = { 'content-type': 'application/json-patch+json' };
      for (const ops of [
        [{ op: 'add', path: '/__proto__/polluted', value: 'yes' }],
        [{ op: 'add', path: '/constructor/prototype/polluted', value: 'yes' }],
        [{ op: 'replace', path: '/code/__proto__', value: { polluted: 'yes' } }],
        [{ op: 'copy', from: '/code', path: '/__proto__' }],
        [{ op: 'move', from: '/__proto__', path: '/x' }],
      ]) {
        const res = await engine.handle({ method: 'PATCH', url: '/Basic/b', headers, body: JSON.stringify(ops) });
        expect(res.status).toBe(400);
      }
      const value = await engine.handle({ method: 'PATCH', url: '/Basic/b', headers, body: `[{"op":"add","path":"/x","value":${proto}}]` });
      expect(value.status).toBeLessThan(500);
      expect((await engine.read('Basic', 'b')).meta?.versionId).toBe(value.status === 200 ? '2' : '1');
    });

    it('FHIRPath Patch: names, paths and values through __proto__, constructor, prototype are refused', async () => {
      make({ validation: 'off' });
      await engine.update({ resourceType: 'Basic', id: 'b', code: { text: 'x' } } as never);
      const op = (parts: object[]): string => JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'operation', part: parts }] });
      for (const body of [
        op([{ name: 'type', valueCode: 'add' }, { name: 'path', valueString: 'Basic' }, { name: 'name', valueString: '__proto__' }, { name: 'value', valueString: 'yes' }]),
        op([{ name: 'type', valueCode: 'add' }, { name: 'path', valueString: 'Basic.code' }, { name: 'name', valueString: 'constructor' }, { name: 'value', valueString: 'yes' }]),
        op([{ name: 'type', valueCode: 'add' }, { name: 'path', valueString: 'Basic.constructor' }, { name: 'name', valueString: 'prototype' }, { name: 'value', valueString: 'yes' }]),
        op([{ name: 'type', valueCode: 'replace' }, { name: 'path', valueString: 'Basic.__proto__' }, { name: 'value', valueString: 'yes' }]),
      ]) {
        const res = await engine.handle({ method: 'PATCH', url: '/Basic/b', headers: FHIR_JSON, body });
        expect([400, 422]).toContain(res.status);
      }
      expect((await engine.read('Basic', 'b')).meta?.versionId).toBe('1');
    });

    it('search parameters, _elements, _sort, headers and Prefer named __proto__ or constructor', async () => {
      make();
      await engine.create({ resourceType: 'Basic', code: { text: 'x' } } as never);
      for (const url of [
        '/Basic?__proto__=x',
        '/Basic?__proto__.polluted=yes',
        '/Basic?constructor.prototype.polluted=yes',
        '/Basic?_elements=__proto__,constructor,prototype',
        '/Basic?_sort=__proto__',
        '/Basic?_include=Basic:__proto__',
        '/Basic?code:__proto__=x',
        '/Basic?subject:__proto__.name=x',
        '/Basic?_has:__proto__:subject:code=x',
        '/__proto__',
        '/Basic/__proto__',
        '/constructor/prototype',
      ]) {
        const res = await engine.handle({ method: 'GET', url, headers: { __proto__: 'x', constructor: 'y', prefer: '__proto__=x; handling=lenient' } as never });
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400) expect(json(res.body).resourceType).toBe('OperationOutcome');
      }
      const res = await engine.handle({ method: 'GET', url: '/Basic', headers: JSON.parse('{"__proto__":{"polluted":"yes"},"if-match":"W/\\"1\\""}') });
      expect(res.status).toBe(200);
    });
  });
});
