/**
 * Fuzz driver, run as a child process so that a native crash is observed by the parent (exit signal)
 * together with the mutation that caused it. Target `onnx`: mutated .onnx bytes go through parse →
 * build → run; `plan`: mutated plan bytes go through Engine.load → run. Every attempt must end in a
 * coded KilnError or a correct result:
 *   - plan: a plan that loads must reproduce the oracle's (onnxruntime's) expected output, since the
 *     plan format is checksummed and any accepted mutation must be harmless;
 *   - onnx: a mutated model that runs is compared with onnxruntime running the same bytes (when
 *     onnxruntime accepts them too; otherwise the outputs must at least match Kiln's declared outputs).
 * Uncoded exceptions and KILN_E_INTERNAL (a caught panic or an unmapped error) are failures.
 * Protocol: {start: i} before each attempt, {done: summary} at the end.
 */
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Builder, Engine, Tensor } from '@kiln/core';
import { parseOnnxSync } from '@kiln/onnx';
import { compareTensors } from './compare.js';
import { readBytes, repoRoot } from './corpus.js';
import { errorLine, kilnCode, profilesFor, readPbSeries } from './kiln.js';
import type { Feeds } from './kiln.js';
import { mutate } from './mutate.js';

export interface FuzzFailure { index: number; kind: string; detail: string; problem: string }
export interface FuzzSummary {
  attempts: number;
  /** Coded errors by code, plus `ok` (correct run) and `ok-unverified` (onnxruntime rejected the bytes Kiln ran). */
  outcomes: Record<string, number>;
  failures: FuzzFailure[];
}

const TOL = { rtol: 1e-4, atol: 1e-5 };

async function main(): Promise<void> {
  const [target, modelName, countArg, seedArg] = process.argv.slice(2);
  const count = Number(countArg);
  const seed = Number(seedArg);
  const dir = join(repoRoot(), 'test-models');
  const modelBytes = readBytes(join(dir, `${modelName}.onnx`));
  const feeds: Feeds = {};
  for (const { name, tensor } of readPbSeries(join(dir, modelName), 'input')) feeds[name] = tensor;
  const expected = readPbSeries(join(dir, modelName), 'output');

  const original = target === 'plan'
    ? Builder.buildSync(parseOnnxSync(modelBytes).network, { backend: 'cpu' })
    : modelBytes;

  const summary: FuzzSummary = { attempts: 0, outcomes: {}, failures: [] };
  const bump = (k: string) => { summary.outcomes[k] = (summary.outcomes[k] ?? 0) + 1; };

  for (let i = 0; i < count; i++) {
    const m = mutate(original, seed, i);
    process.send?.({ start: i, kind: m.kind, detail: m.detail });
    summary.attempts++;
    const fail = (problem: string) => summary.failures.push({ index: i, kind: m.kind, detail: m.detail, problem });
    let outputs: Record<string, Tensor>;
    try {
      if (target === 'plan') {
        outputs = Engine.loadSync(m.bytes).createContext({ numThreads: 1 }).runSync(feeds);
      } else {
        const model = parseOnnxSync(m.bytes);
        const plan = Builder.buildSync(model.network, { backend: 'cpu', profiles: profilesFor(model, feeds) });
        outputs = Engine.loadSync(plan).createContext({ numThreads: 1 }).runSync(feeds);
      }
    } catch (e) {
      const code = kilnCode(e);
      if (!code) fail(`uncoded exception: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      else if (code === 'KILN_E_INTERNAL') fail(`internal error (panic or unmapped error): ${errorLine(e)}`);
      else bump(code);
      continue;
    }

    if (target === 'plan') {
      const problems = expected.map(({ name, tensor }) => (outputs[name] ? compareTensors(name, outputs[name], tensor, TOL) : `output ${name} missing`)).filter(Boolean);
      if (problems.length) fail(`corrupt plan loaded and ran with wrong results: ${problems[0]}`);
      else bump('ok');
      continue;
    }

    // Mutated model that Kiln ran: onnxruntime on the same bytes is the oracle.
    let reference: Record<string, ort.Tensor> | null = null;
    try {
      const session = await ort.InferenceSession.create(m.bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, [...t.dims]);
      reference = await session.run(ortFeeds);
      await session.release();
    } catch {
      reference = null;
    }
    if (!reference) { bump('ok-unverified'); continue; }
    const problems = Object.entries(reference).map(([name, ref]) => (
      outputs[name] ? compareTensors(name, outputs[name], ref as unknown as Tensor, TOL) : `output ${name} missing (Kiln gave ${Object.keys(outputs).join(', ')})`
    )).filter(Boolean);
    if (problems.length) fail(`differs from onnxruntime on the mutated model: ${problems[0]}`);
    else bump('ok');
  }
  process.send?.({ done: summary });
}

main().then(() => process.disconnect?.(), (e) => {
  process.send?.({ fatal: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e) });
  process.exitCode = 1;
});
