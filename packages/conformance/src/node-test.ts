/**
 * One ONNX node test: parse model.onnx, feed test_data_set_0/input_*.pb, build (CPU unless told) with the feed
 * shapes fixed, run, and compare every output_*.pb (shape, dtype, values; rtol 1e-3, atol 1e-4).
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { compareTensors } from './compare.js';
import { readBytes } from './corpus.js';
import { errorLine, kilnCode, parseBuildRun, readPbSeries } from './kiln.js';
import type { BackendName, ExtraBuilderConfig, Feeds } from './kiln.js';
import { summarizeModel } from './onnx-model.js';
import type { ModelSummary } from './onnx-model.js';

export type NodeTestStatus = 'pass' | 'fail' | 'unsupported';

export interface NodeTestResult {
  name: string;
  status: NodeTestStatus;
  /** Every op the model uses (`domain:op` outside the default domain), subgraphs included. */
  ops: string[];
  /** Op of the single node, or all top-level ops for multi-node (e.g. `_expanded`) tests. */
  topLevelOps: string[];
  /** Every graph input/output is a tensor of a dtype Kiln has (false: unsupported whatever the ops). */
  representable: boolean;
  /** Why it failed or is unsupported (first line). */
  message?: string;
  ms: number;
}

export const NODE_TOLERANCE = { rtol: 1e-3, atol: 1e-4 };

/** Returns why the test cannot be expressed in Kiln at all (not a Kiln failure), or null. */
export function unrepresentable(summary: ModelSummary): string | null {
  for (const [what, list] of [['input', summary.inputs], ['output', summary.outputs]] as const) {
    for (const v of list) {
      if (v.kind !== 'tensor') return `${what} '${v.name}' is a ${v.kind} value; Kiln tensors only`;
      if (v.dtype === null) return `${what} '${v.name}' has dtype ${v.elemType}, which Kiln lacks`;
    }
  }
  return null;
}

/** Where a node test runs: backend (default 'cpu') and extra builder fields (e.g. `tf32: false` on CUDA). */
export interface NodeTestTarget { backend?: BackendName; builder?: ExtraBuilderConfig }

export function runNodeTest(dir: string, target: NodeTestTarget = {}): NodeTestResult {
  const started = Date.now();
  const name = basename(dir);
  let summary: ModelSummary = { ops: [], topLevelOps: [], inputs: [], outputs: [] };
  let representable = true;
  const result = (status: NodeTestStatus, message?: string): NodeTestResult => ({
    name, status, ops: summary.ops, topLevelOps: summary.topLevelOps, representable,
    // Machine-independent report: the corpus location is replaced by the test's name.
    ...(message ? { message: message.split(dir).join(name) } : {}), ms: Date.now() - started,
  });
  try {
    const modelPath = join(dir, 'model.onnx');
    summary = summarizeModel(readBytes(modelPath));
    const why = unrepresentable(summary);
    if (why) {
      representable = false;
      return result('unsupported', why);
    }
    const dataDir = join(dir, 'test_data_set_0');
    if (!existsSync(dataDir)) return result('fail', 'test_data_set_0 missing from the corpus');

    const inputs = readPbSeries(dataDir, 'input');
    if (inputs.length !== summary.inputs.length) {
      return result('fail', `corpus has ${inputs.length} input_*.pb for ${summary.inputs.length} graph inputs`);
    }
    const feeds: Feeds = {};
    summary.inputs.forEach((v, k) => { feeds[v.name] = inputs[k].tensor; });
    const expected = readPbSeries(dataDir, 'output');

    let outputs;
    try {
      // One thread per test: the suite runs tests in parallel worker processes instead.
      outputs = parseBuildRun(modelPath, feeds, { numThreads: 1, backend: target.backend, builder: target.builder }).outputs;
    } catch (e) {
      if (kilnCode(e) === 'KILN_E_ONNX_UNSUPPORTED') return result('unsupported', errorLine(e));
      return result('fail', errorLine(e));
    }
    if (expected.length !== summary.outputs.length) {
      return result('fail', `corpus has ${expected.length} output_*.pb for ${summary.outputs.length} graph outputs`);
    }
    for (let k = 0; k < expected.length; k++) {
      const outName = summary.outputs[k].name;
      const actual = outputs[outName];
      if (!actual) return result('fail', `output '${outName}' missing from Kiln's results (got: ${Object.keys(outputs).join(', ') || 'none'})`);
      const diff = compareTensors(outName, actual, expected[k].tensor, NODE_TOLERANCE);
      if (diff) return result('fail', diff);
    }
    return result('pass');
  } catch (e) {
    return result('fail', errorLine(e));
  }
}
