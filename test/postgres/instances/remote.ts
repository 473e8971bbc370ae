/** Drives an engine instance running in a child process (`child.ts`). */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import type { Instance, Op, OpArgs, OpResult } from './ops.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

export class RemoteInstance implements Instance {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 0;
  #output = '';
  readonly ready: Promise<void>;

  constructor(url: string, schema: string) {
    this.#child = spawn(process.execPath, ['--import', 'tsx', 'test/postgres/instances/child.ts'], {
      cwd: root,
      env: { ...process.env, FHIR_TEST_PG_URL: url, FHIR_TEST_PG_SCHEMA: schema },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#child.stderr!.on('data', (chunk: Buffer) => (this.#output += chunk.toString()));
    let ready!: () => void;
    let failed!: (e: Error) => void;
    this.ready = new Promise((resolve, reject) => ((ready = resolve), (failed = reject)));
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as { ready?: true; id?: number; result?: unknown; error?: string };
      if (message.ready) return ready();
      const waiter = this.#waiting.get(message.id!);
      this.#waiting.delete(message.id!);
      if (message.error !== undefined) waiter?.reject(new Error(`child: ${message.error}`));
      else waiter?.resolve(message.result);
    });
    this.#child.on('exit', (code) => {
      const error = new Error(`child exited with ${code}: ${this.#output}`);
      failed(error);
      for (const w of this.#waiting.values()) w.reject(error);
      this.#waiting.clear();
    });
  }

  call<O extends Op>(op: O, ...args: OpArgs<O>): Promise<OpResult<O>> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#child.stdin!.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  /** Ends stdin and waits for the child to close its engine and exit. */
  close(): Promise<void> {
    if (this.#child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.#child.once('exit', () => resolve());
      this.#child.stdin!.end();
    });
  }
}
