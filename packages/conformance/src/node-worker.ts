/**
 * Child process of the node-test pool: receives test folders over IPC, answers one result each.
 * Running tests out of process means a native crash or a hang in Kiln costs one test, not the run.
 */
import { runNodeTest } from './node-test.js';

process.on('message', (msg: { dir: string }) => {
  const result = runNodeTest(msg.dir);
  process.send?.(result);
});
process.send?.({ ready: true });
