/**
 * The example server as `npm start` runs it (`serve()`), for tests that start it in a child process:
 * argv[2] is FHIR_DB. Bundled by the tests and run with plain node.
 */
import { serve } from '../../examples/node-http.js';

const [db, exportDir] = process.argv.slice(2);
if (!db) throw new Error('usage: serve-child.js <FHIR_DB> [export dir]');
await serve({ db, port: 0, host: '127.0.0.1', log: false, ...(exportDir && { exportDir }) });
