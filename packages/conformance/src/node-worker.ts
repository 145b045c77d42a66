/**
 * Child process of the node-test pool: receives test folders over IPC, answers one result each.
 * Running tests out of process means a native crash or a hang in Kiln costs one test, not the run.
 */
import { serveNodeTests } from './node-worker-serve.js';

serveNodeTests();
