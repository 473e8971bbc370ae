/**
 * Starts the example server in a child process (`serve()` of `examples/node-http.ts`, as `npm start`
 * runs it) and resolves with its base URL once it listens. The child's stdout is collected.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** A running example server. */
export interface ServerChild {
  readonly base: string;
  readonly process: ChildProcess;
  /** Resolves with the exit code and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the child wrote so far. */
  output(): string;
}

/** Runs `script` (a bundle whose entry calls `serve()`) with `args`; `env` is added to the environment. */
export function startServer(script: string, args: readonly string[], env: Record<string, string> = {}): Promise<ServerChild> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer): void => {
      output += d.toString();
      const port = /listening on http:\/\/localhost:(\d+)\//.exec(output)?.[1];
      if (port) {
        child.stdout.off('data', onData);
        child.stdout.on('data', (more: Buffer) => (output += more.toString()));
        resolve({ base: `http://127.0.0.1:${port}`, process: child, exited, output: () => output });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    void exited.then(({ code, signal }) => reject(new Error(`server exited (${code ?? signal}) before listening:\n${output}`)));
  });
}
