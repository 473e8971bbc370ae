/**
 * The test runner the conformance kit registers its cases with: vitest, jest, or anything with
 * their `describe`/`it`/`expect` shape. The case modules import these functions; they delegate to
 * the runner {@link useTestApi} installed, so the kit depends on no runner.
 * @packageDocumentation
 */

/** An `expect` with vitest's or jest's matchers (`toBe`, `toEqual`, `rejects`, `toSatisfy`, …). */
export interface ExpectLike {
  // The matchers are the runner's: typed loosely, so that any vitest- or jest-compatible one fits.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  (actual: unknown, message?: string): any;
}

/** What the kit needs from a test runner: pass vitest's (or jest's) functions. */
export interface TestApi {
  readonly describe: (name: string, body: () => void) => unknown;
  readonly it: (name: string, body: () => unknown, timeout?: number) => unknown;
  readonly expect: ExpectLike;
  readonly beforeAll: (body: () => unknown, timeout?: number) => unknown;
  readonly afterAll: (body: () => unknown, timeout?: number) => unknown;
  readonly afterEach: (body: () => unknown, timeout?: number) => unknown;
}

let installed: TestApi | undefined;

/** Installs the runner the kit's cases register with and assert through. */
export function useTestApi(api: TestApi): void {
  for (const name of ['describe', 'it', 'expect', 'beforeAll', 'afterAll', 'afterEach'] as const) {
    if (typeof api?.[name] !== 'function') {
      throw new TypeError(`runAdapterConformance needs the test runner's ${name}(): pass { describe, it, expect, beforeAll, afterAll, afterEach } from vitest or jest.`);
    }
  }
  installed = api;
}

const runner = (): TestApi => {
  if (!installed) throw new Error('No test runner installed: call runAdapterConformance(name, makeAdapter, { describe, it, expect, … }).');
  return installed;
};

export const describe = (name: string, body: () => void): unknown => runner().describe(name, body);
export const it = (name: string, body: () => unknown, timeout?: number): unknown => runner().it(name, body, timeout);
export const beforeAll = (body: () => unknown, timeout?: number): unknown => runner().beforeAll(body, timeout);
export const afterAll = (body: () => unknown, timeout?: number): unknown => runner().afterAll(body, timeout);
export const afterEach = (body: () => unknown, timeout?: number): unknown => runner().afterEach(body, timeout);
export const expect: ExpectLike = (actual, message) => runner().expect(actual, message);
