/**
 * WAL checkpoints on a background thread.
 *
 * With WAL and `synchronous = NORMAL` a commit only appends frames to the WAL; durability is paid
 * for when a checkpoint copies the WAL back into the database: it fsyncs the WAL, copies the pages,
 * then fsyncs the database. SQLite runs that checkpoint inside whichever commit crosses
 * `wal_autocheckpoint`, on the writer's thread, where the two fsyncs took about a fifth of the time
 * of a stream of single-write units of work. As the SQLite documentation suggests, a separate
 * connection on a worker thread runs PASSIVE checkpoints (which never wait for the writer) every
 * few milliseconds instead, so that the fsyncs overlap the writer's work. The writer keeps its
 * auto-checkpoint as the backstop: it then finds (almost) everything copied and synced already,
 * and lets the WAL restart from its beginning.
 *
 * Best effort: when the worker cannot start (better-sqlite3 not resolvable from the application,
 * workers unavailable), or fails, the writer's auto-checkpoints simply do all the work, as before.
 *
 * @packageDocumentation
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

/** The worker: its own connection, a PASSIVE checkpoint per tick, closed on any message. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.filename, { fileMustExist: true, timeout: 0 });
db.pragma('synchronous = ' + workerData.synchronous);
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const timer = setInterval(() => {
  try {
    checkpoint.get();
  } catch {
    // busy or locked: the next tick (or the writer's auto-checkpoint) does it
  }
}, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/**
 * The better-sqlite3 entry file for the worker. It is a peer dependency, installed by the
 * application: resolved from the working directory, then from the main script.
 */
function driverPath(): string | undefined {
  for (const dir of [process.cwd(), process.argv[1]]) {
    if (dir === undefined) continue;
    try {
      return createRequire(join(dir, 'noop.js')).resolve('better-sqlite3');
    } catch {
      // try the next place
    }
  }
  return undefined;
}

/** Runs PASSIVE checkpoints of one database file on a worker thread (see the module comment). */
export class BackgroundCheckpointer {
  private worker: Worker | undefined;
  private exited: Promise<void> = Promise.resolve();

  /** Starts the worker; returns undefined when that is not possible. */
  static start(filename: string, synchronous: string, intervalMs: number): BackgroundCheckpointer | undefined {
    const driver = driverPath();
    if (driver === undefined) return undefined;
    try {
      const workerData = { driver, filename, synchronous, intervalMs };
      return new BackgroundCheckpointer(new Worker(WORKER_SOURCE, { eval: true, workerData }));
    } catch {
      return undefined;
    }
  }

  private constructor(worker: Worker) {
    this.worker = worker;
    // Never keeps the process alive, and a failure only ends the background checkpoints.
    worker.unref();
    this.exited = new Promise((resolve) => {
      worker.once('exit', () => {
        this.worker = undefined;
        resolve();
      });
    });
    worker.on('error', () => undefined);
  }

  /** Stops the worker and waits until its connection is closed. */
  async stop(): Promise<void> {
    // Referenced again, or the process could end while this waits for the worker.
    this.worker?.ref();
    this.worker?.postMessage('stop');
    await this.exited;
  }
}
