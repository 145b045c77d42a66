/**
 * The node-test worker loop: receives test folders over IPC, answers one result each. Shared by
 * `node-worker.ts` (forked through tsx) and the bundled GPU suite (which forks itself with `--node-worker`).
 */
import { runNodeTest } from './node-test.js';
import type { NodeTestTarget } from './node-test.js';

export function serveNodeTests(): void {
  process.on('message', (msg: { dir: string } & NodeTestTarget) => {
    const result = runNodeTest(msg.dir, { backend: msg.backend, builder: msg.builder });
    process.send?.(result);
  });
  process.send?.({ ready: true });
}
