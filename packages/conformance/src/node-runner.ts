/**
 * Runs the ONNX node tests of the corpus through a pool of worker processes, with a per-test timeout.
 * A test that crashes or hangs its worker is recorded as a failure and the worker is replaced.
 */
import { availableParallelism } from 'node:os';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { readBytes } from './corpus.js';
import { forkTs } from './fork.js';
import { summarizeModel } from './onnx-model.js';
import { unrepresentable } from './node-test.js';
import type { NodeTestResult, NodeTestTarget } from './node-test.js';

export interface NodeSuiteOptions {
  /** The corpus root (holding `node/`). */
  corpus: string;
  /** Worker processes; default min(2, cores). */
  jobs?: number;
  /** Per-test wall-clock limit; default 30 s. */
  timeoutMs?: number;
  /** Only tests whose name matches. */
  filter?: RegExp;
  onResult?: (r: NodeTestResult, done: number, total: number) => void;
  /** Backend and extra builder fields every test is built with (default: CPU, no extras). */
  target?: NodeTestTarget;
  /** Starts one worker process (default: `node-worker.ts` through tsx; the bundled GPU suite forks itself). */
  spawnWorker?: () => ChildProcess;
}

export function listNodeTests(corpus: string, filter?: RegExp): string[] {
  const nodeDir = join(corpus, 'node');
  return readdirSync(nodeDir)
    .filter((n) => (!filter || filter.test(n)) && statSync(join(nodeDir, n)).isDirectory())
    .sort()
    .map((n) => join(nodeDir, n));
}

function testName(dir: string): string {
  return dir.split(/[\\/]/).pop() ?? dir;
}

export async function runNodeSuite(opts: NodeSuiteOptions): Promise<NodeTestResult[]> {
  const dirs = listNodeTests(opts.corpus, opts.filter);
  const jobs = Math.max(1, Math.min(opts.jobs ?? Math.min(2, availableParallelism()), dirs.length || 1));
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const results: NodeTestResult[] = [];
  let next = 0;

  const runLane = async (): Promise<void> => {
    let worker: ChildProcess | null = null;
    let ready: Promise<void> | null = null;
    const spawn = (): void => {
      const w = opts.spawnWorker ? opts.spawnWorker() : forkTs('./node-worker.ts');
      worker = w;
      ready = new Promise<void>((resolve, reject) => {
        const onMsg = (m: unknown) => { if ((m as { ready?: boolean }).ready) { w.off('message', onMsg); resolve(); } };
        w.on('message', onMsg);
        w.once('exit', (code, signal) => reject(new Error(`worker exited during start-up (code ${code}, signal ${signal})`)));
      });
      ready.catch(() => undefined);
    };
    try {
      while (next < dirs.length) {
        const dir = dirs[next++];
        const started = Date.now();
        if (!worker) spawn();
        const w = worker as unknown as ChildProcess;
        const result = await new Promise<NodeTestResult>((resolve) => {
          let settled = false;
          const finish = (r: NodeTestResult, kill: boolean) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            w.off('message', onMsg);
            w.off('exit', onExit);
            if (kill) { w.kill('SIGKILL'); worker = null; }
            resolve(r);
          };
          const failed = (message: string): NodeTestResult => {
            // The worker is gone, so classify the model's ops here for the report.
            let summary = { ops: [] as string[], topLevelOps: [] as string[] };
            let representable = true;
            try {
              const full = summarizeModel(readBytes(join(dir, 'model.onnx')));
              summary = full;
              representable = unrepresentable(full) === null;
            } catch { /* unreadable: keep empty */ }
            return { name: testName(dir), status: 'fail', ops: summary.ops, topLevelOps: summary.topLevelOps, representable, message, ms: Date.now() - started };
          };
          const onMsg = (m: unknown) => { if ((m as NodeTestResult).status) finish(m as NodeTestResult, false); };
          const onExit = (code: number | null, signal: string | null) => {
            worker = null;
            finish(failed(`worker process died (exit code ${code}, signal ${signal}): native crash or abort in Kiln`), false);
          };
          const timer = setTimeout(() => finish(failed(`timed out after ${timeoutMs} ms`), true), timeoutMs);
          w.on('message', onMsg);
          w.on('exit', onExit);
          (ready as unknown as Promise<void>).then(
            () => { if (!settled) w.send({ dir, ...opts.target }); },
            (e: Error) => finish(failed(e.message), true),
          );
        });
        results.push(result);
        opts.onResult?.(result, results.length, dirs.length);
      }
    } finally {
      const w = worker as ChildProcess | null;
      if (w) { w.disconnect(); w.kill(); }
    }
  };

  await Promise.all(Array.from({ length: jobs }, runLane));
  return results.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
