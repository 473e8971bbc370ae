/**
 * A child process for the kill -9 tests: run with plain node, read its stdout as JSON lines, and
 * killed with SIGKILL at the first line the test picks.
 */
import { spawn } from 'node:child_process';

/** What the child printed, and how it ended. */
export interface ChildRun {
  readonly lines: Record<string, unknown>[];
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * Runs `script` with `args`; kills it (SIGKILL) at the first stdout line `killAt` returns true for.
 * Rejects with its stderr when it fails on its own.
 */
export function runUntilKilled(script: string, args: readonly string[], killAt: (line: Record<string, unknown>) => boolean): Promise<ChildRun> {
  const lines: Record<string, unknown>[] = [];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let killed = false;
    let buffer = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>;
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        if (!killed && killAt(line)) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => (signal === null && code !== 0 ? reject(new Error(stderr)) : resolve({ lines, code, signal })));
  });
}
