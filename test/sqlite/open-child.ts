/**
 * Child process of the read-only test (bundled by the test, run with plain node, as an unprivileged user
 * when the test runs as root): opens the SQLite file argv[2] and prints what happened as one JSON line.
 */
import { SqliteAdapter } from '../../adapters/sqlite/index.js';

const filename = process.argv[2];
if (!filename) throw new Error('usage: open-child.js <db file>');
try {
  await new SqliteAdapter({ filename }).close();
  process.stdout.write(`${JSON.stringify({ opened: true })}\n`);
} catch (error) {
  process.stdout.write(`${JSON.stringify({ opened: false, message: (error as Error).message })}\n`);
}
