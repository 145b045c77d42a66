/** Parent side of the fuzz driver: runs it in a child process and reports a crash with its mutation. */
import { forkTs } from './fork.js';
import type { FuzzSummary } from './fuzz-driver.js';

export interface FuzzRun { summary: FuzzSummary | null; crash: string | null }

export function runFuzz(target: 'onnx' | 'plan', model: string, count: number, seed: number): Promise<FuzzRun> {
  return new Promise((resolve) => {
    const child = forkTs('./fuzz-driver.ts', [target, model, String(count), String(seed)]);
    let current = 'before the first mutation (set-up)';
    let summary: FuzzSummary | null = null;
    let fatal: string | null = null;
    child.on('message', (m: { start?: number; kind?: string; detail?: string; done?: FuzzSummary; fatal?: string }) => {
      if (m.start !== undefined) current = `mutation #${m.start} (${m.kind}: ${m.detail})`;
      if (m.done) summary = m.done;
      if (m.fatal) fatal = m.fatal;
    });
    child.on('exit', (code, signal) => {
      if (summary && code === 0) resolve({ summary, crash: null });
      else resolve({ summary, crash: fatal ? `driver failed during ${current}: ${fatal}` : `process died (exit code ${code}, signal ${signal}) during ${current}` });
    });
  });
}
