/**
 * The GPU test suite (issue 3, acceptance 1 and 5): one command on the GPU machine runs every part on the CUDA
 * backend and prints a summary table; `--out DIR` also writes `gpu-suite.json` and `conformance-cuda.{json,md}`.
 *
 *   node packages/conformance/dist/gpu-suite.mjs --corpus DIR [--out DIR] [--parts a,b] [--backend cuda|cpu]
 *        [--node-jobs N] [--node-timeout MS] [--node-filter REGEX] [--runs N] [--no-oom]
 *
 * Parts (each reports pass / fail / skip counts and its first failures):
 *   node              ONNX node tests through the worker pool, FP32 with TF32 off, rtol 1e-3 / atol 1e-4
 *   light-fp32        the 9 light/ CNNs, FP32 with TF32 off, rtol 1e-3 / atol 1e-4 (test/light.test.ts's rule)
 *   light-fp16        the same with `fp16: true`, FP16 rule of src/fp16-compare.ts
 *   test-models-fp32  test-models/* vs their onnxruntime outputs, TF32 off (rtol 1e-3 / atol 1e-4 on CUDA)
 *   test-models-fp16  the same with `fp16: true`, FP16 rule; also fails if fp16 changed no output at all
 *   errors            corrupt / foreign plans, wrong inputs, device out-of-memory, 1000 runs without a throw
 *   calibration       INT8 calibration statistics gathered on the GPU equal the CPU backend's (small_cnn,
 *                     residual_block, light squeezenet; 2 batches; FP32, TF32 off): same tensors in the same
 *                     order, amax and bin width within rtol 1e-3, equal non-finite counts, <= 1% histogram mass moved
 * Without a usable CUDA backend every part reports "skipped: <reason>" and the exit code is 0. `--backend cpu`
 * runs the same parts on the CPU backend (to check the suite itself on a machine without a GPU).
 *
 * The file is bundled into one ESM file (`scripts/gpu/bundle.mjs`): the native addon is the only thing it loads
 * from outside, from `$KILN_BINDING` or the repo's `packages/binding`. The bundle forks itself with
 * `--node-worker` for the node-test pool.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as core from '@kiln/core';
import { Builder, Engine, Network, Tensor, backends } from '@kiln/core';
import type { BuilderConfig } from '@kiln/core';
import { parseOnnxSync, readTensorProto, supportedOps } from '@kiln/onnx';
import { compareTensors } from './compare.js';
import type { Tolerance } from './compare.js';
import { ensureCorpus, readBytes, repoRoot } from './corpus.js';
import { compareFp16 } from './fp16-compare.js';
import { errorLine, kilnCode, parseBuildRun, readPbSeries } from './kiln.js';
import type { BackendName, ExtraBuilderConfig, Feeds } from './kiln.js';
import { LIGHT_TOLERANCE, lightInputs, lightPaths, listLightModels } from './light.js';
import { runNodeSuite } from './node-runner.js';
import { serveNodeTests } from './node-worker-serve.js';
import { NODE_TOLERANCE } from './node-test.js';
import { writeReports } from './report.js';
import { reframePlan, splitPlan } from './plan-frame.js';

export const PART_NAMES = ['node', 'light-fp32', 'light-fp16', 'test-models-fp32', 'test-models-fp16', 'errors', 'calibration'] as const;
export type PartName = (typeof PART_NAMES)[number];

export const LIGHT_NETS = ['bvlc_alexnet', 'densenet121', 'inception_v1', 'inception_v2', 'resnet50', 'shufflenet', 'squeezenet', 'vgg19', 'zfnet512'];

/** FP32 engines on CUDA are built with TF32 off: TF32 (10-bit mantissa) cannot meet rtol 1e-3 on deep nets. */
export const FP32_STRICT: ExtraBuilderConfig = { tf32: false };
export const FP16: ExtraBuilderConfig = { fp16: true };

/** test-models: the CPU suite's rule on the CPU, the issue's FP32 rule (rtol 1e-3 / atol 1e-4) on CUDA. */
export function testModelsTolerance(backend: BackendName): Tolerance {
  return backend === 'cpu' ? { rtol: 1e-4, atol: 1e-5 } : { rtol: 1e-3, atol: 1e-4 };
}

export interface PartResult {
  part: PartName;
  status: 'ran' | 'skipped';
  /** Why the part did not run. */
  reason?: string;
  pass: number;
  fail: number;
  /** Cases the part did not count either way (node tests: `unsupported`; errors: checks that need another backend). */
  skip: number;
  /** The first failures, `case: reason`. */
  failures: string[];
  notes: string[];
  seconds: number;
}

const MAX_FAILURES = 10;

class Tally {
  pass = 0;
  fail = 0;
  skip = 0;
  failures: string[] = [];
  notes: string[] = [];
  readonly started = Date.now();
  constructor(readonly part: PartName) {}
  /** Records one case: `problem` null = pass. */
  check(name: string, problem: string | null): void {
    if (problem === null) { this.pass++; return; }
    this.fail++;
    if (this.failures.length < MAX_FAILURES) this.failures.push(`${name}: ${problem}`);
  }
  /** A case that does not apply, with the reason (listed with the failures, never counted as a pass). */
  skipCase(name: string, reason: string): void {
    this.skip++;
    if (this.failures.length < MAX_FAILURES) this.failures.push(`${name}: skipped: ${reason}`);
  }
  result(): PartResult {
    return { part: this.part, status: 'ran', pass: this.pass, fail: this.fail, skip: this.skip, failures: this.failures, notes: this.notes, seconds: (Date.now() - this.started) / 1000 };
  }
}

export function skipped(part: PartName, reason: string): PartResult {
  return { part, status: 'skipped', reason, pass: 0, fail: 0, skip: 0, failures: [], notes: [], seconds: 0 };
}

export interface GpuStatus {
  available: boolean;
  /** Why the CUDA backend cannot be used ('' when available). */
  reason: string;
  /** `Device.list()` of @kiln/core when it has one (the CUDA contract's device info), else []. */
  devices: unknown[];
}

/** Is the CUDA backend usable here? Never throws: a broken addon is a reason like any other. */
export function detectGpu(): GpuStatus {
  try {
    const cuda = backends().find((b) => b.name === 'cuda');
    if (!cuda) return { available: false, reason: 'this build of Kiln has no cuda backend (backends() does not list it)', devices: [] };
    if (!cuda.available) return { available: false, reason: `cuda backend unavailable: ${cuda.reason ?? 'no reason given'}`, devices: [] };
    const device = (core as unknown as { Device?: { list?: () => unknown[] } }).Device;
    let devices: unknown[] = [];
    if (typeof device?.list === 'function') {
      try {
        devices = device.list();
      } catch (e) {
        return { available: false, reason: `Device.list() failed: ${errorLine(e)}`, devices: [] };
      }
    }
    return { available: true, reason: '', devices };
  } catch (e) {
    return { available: false, reason: `the native addon failed: ${errorLine(e)}`, devices: [] };
  }
}

export interface PartOptions {
  /** Default 'cuda'. */
  backend?: BackendName;
  /** Result of detectGpu(); parts on 'cuda' skip when it is not available. Computed when absent. */
  gpu?: GpuStatus;
  log?: (line: string) => void;
}

function gate(part: PartName, o: PartOptions): PartResult | null {
  const backend = o.backend ?? 'cuda';
  if (backend !== 'cuda') return null;
  const gpu = o.gpu ?? detectGpu();
  return gpu.available ? null : skipped(part, gpu.reason);
}

/** Extra builder fields for a precision on a backend (TF32 is a CUDA notion; the CPU ignores it anyway). */
export function builderFor(precision: 'fp32' | 'fp16'): ExtraBuilderConfig {
  return precision === 'fp16' ? FP16 : FP32_STRICT;
}

// ---------------------------------------------------------------------------------------------- node tests

export interface NodePartOptions extends PartOptions {
  corpus: string;
  /** Writes conformance-<backend>.{json,md} here (CPU: conformance.{json,md}). */
  out?: string;
  jobs?: number;
  timeoutMs?: number;
  filter?: RegExp;
  spawnWorker?: () => ChildProcess;
}

export async function partNodeTests(o: NodePartOptions): Promise<PartResult> {
  const gated = gate('node', o);
  if (gated) return gated;
  const backend = o.backend ?? 'cuda';
  const t = new Tally('node');
  const started = Date.now();
  const results = await runNodeSuite({
    corpus: o.corpus,
    jobs: o.jobs,
    timeoutMs: o.timeoutMs,
    filter: o.filter,
    spawnWorker: o.spawnWorker,
    target: { backend, builder: FP32_STRICT },
    onResult: (r, done, total) => { if (done % 200 === 0 || done === total) o.log?.(`node tests: ${done}/${total}`); },
  });
  for (const r of results) {
    if (r.status === 'unsupported') t.skip++;
    else t.check(r.name, r.status === 'pass' ? null : r.message ?? 'failed');
  }
  if (o.out && !o.filter) {
    const s = writeReports(o.out, results, supportedOps, { corpus: o.corpus, seconds: (Date.now() - started) / 1000, backend, builderNote: 'FP32, TF32 off' });
    t.notes.push(`claimed tests: ${s.claimedPass}/${s.claimed} pass (${(100 * s.claimedPassRate).toFixed(1)}%); reports: ${join(o.out, backend === 'cpu' ? 'conformance' : `conformance-${backend}`)}.{json,md}`);
  } else {
    t.notes.push(o.filter ? 'filtered run: no conformance report written' : 'no --out: no conformance report written');
  }
  t.notes.push(`tolerance rtol ${NODE_TOLERANCE.rtol} / atol ${NODE_TOLERANCE.atol}; 'skip' = unsupported by the ONNX parser or unrepresentable`);
  return t.result();
}

// ---------------------------------------------------------------------------------------------- light CNNs

export interface LightPartOptions extends PartOptions {
  corpus: string;
  precision: 'fp32' | 'fp16';
  /** Default: all 9. */
  nets?: string[];
}

export async function partLight(o: LightPartOptions): Promise<PartResult> {
  const part: PartName = o.precision === 'fp16' ? 'light-fp16' : 'light-fp32';
  const gated = gate(part, o);
  if (gated) return gated;
  const t = new Tally(part);
  const nets = o.nets ?? LIGHT_NETS;
  const present = new Set(listLightModels(o.corpus));
  for (const net of nets) {
    if (!present.has(net)) { t.check(net, `light_${net}.onnx missing from ${join(o.corpus, 'light')}`); continue; }
    const started = Date.now();
    try {
      const paths = lightPaths(o.corpus, net);
      const feeds = lightInputs(readBytes(paths.model));
      if (o.precision === 'fp16') {
        // FP16 holds |x| <= 65504. The light CNNs have random weights, and some of them drive activations far
        // past that (1e19 in resnet50): no FP16 engine can run those, so the case does not apply.
        const peak = peakActivation(paths.model, feeds);
        if (peak > FP16_MAX) {
          t.skipCase(net, `activations reach |x| = ${peak.toExponential(2)} in FP32 (CPU calibration statistics), beyond FP16's 65504`);
          continue;
        }
      }
      const { model, outputs } = parseBuildRun(paths.model, feeds, { backend: o.backend ?? 'cuda', builder: builderFor(o.precision) });
      const name = model.outputs[0]?.name ?? '';
      const expected = readTensorProto(readBytes(paths.expected)).tensor;
      const actual = outputs[name];
      const problem = !actual ? `output '${name}' missing`
        : o.precision === 'fp16' ? compareFp16(name, actual, expected) : compareTensors(name, actual, expected, LIGHT_TOLERANCE);
      t.check(net, problem);
    } catch (e) {
      t.check(net, errorLine(e));
    }
    o.log?.(`${part}: ${net} ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  t.notes.push(o.precision === 'fp16' ? 'fp16: true; FP16 rule (docs/gpu-testing.md)' : `tf32: false; rtol ${LIGHT_TOLERANCE.rtol} / atol ${LIGHT_TOLERANCE.atol}`);
  return t.result();
}

const FP16_MAX = 65504;

/** The largest |x| of any float tensor of the model on these inputs (the CPU backend's calibration mode). */
function peakActivation(modelPath: string, feeds: Feeds): number {
  const model = parseOnnxSync(modelPath);
  const plan = Builder.buildSync(model.network, { backend: 'cpu', calibration: true } as BuilderConfig);
  const ctx = Engine.loadSync(plan).createContext({ numThreads: 0 });
  ctx.calibrateSync(feeds);
  return Math.max(0, ...ctx.calibrationStats().map((s) => s.amax));
}

// ---------------------------------------------------------------------------------------------- test-models

interface TestModel { name: string; file: string }

export function testModels(): { dir: string; models: TestModel[] } {
  const dir = join(repoRoot(), 'test-models');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { models: TestModel[] };
  return { dir, models: manifest.models };
}

function runTestModel(dir: string, entry: TestModel, backend: BackendName, builder: ExtraBuilderConfig) {
  const feeds: Feeds = {};
  for (const { name, tensor } of readPbSeries(join(dir, entry.name), 'input')) feeds[name] = tensor;
  const expected = readPbSeries(join(dir, entry.name), 'output');
  // As test/test-models.test.ts: dynamic dims get a real range around the stored shape (1 .. 2x).
  const { outputs } = parseBuildRun(join(dir, entry.file), feeds, {
    backend,
    builder,
    range: (_n, dims, declared) => ({
      min: dims.map((d, i) => (declared[i] < 0 ? 1 : d)),
      opt: dims,
      max: dims.map((d, i) => (declared[i] < 0 ? d * 2 : d)),
    }),
  });
  return { outputs, expected };
}

export interface TestModelsPartOptions extends PartOptions {
  precision: 'fp32' | 'fp16';
}

export async function partTestModels(o: TestModelsPartOptions): Promise<PartResult> {
  const part: PartName = o.precision === 'fp16' ? 'test-models-fp16' : 'test-models-fp32';
  const gated = gate(part, o);
  if (gated) return gated;
  const backend = o.backend ?? 'cuda';
  const t = new Tally(part);
  const tol = testModelsTolerance(backend);
  const { dir, models } = testModels();
  let changedByFp16 = 0;
  let floatModels = 0;
  for (const entry of models) {
    try {
      const { outputs, expected } = runTestModel(dir, entry, backend, builderFor(o.precision));
      let problem: string | null = null;
      for (const { name, tensor } of expected) {
        const actual = outputs[name];
        problem = !actual ? `output '${name}' missing (got ${Object.keys(outputs).join(', ') || 'none'})`
          : o.precision === 'fp16' ? compareFp16(name, actual, tensor) : compareTensors(name, actual, tensor, tol);
        if (problem) break;
      }
      if (o.precision === 'fp16' && problem === null) {
        // An FP16 engine that reproduces the FP32 engine bit for bit on every model did not use FP16 at all
        // (e.g. the `fp16` builder field was dropped on the way to the native builder).
        const fp32 = runTestModel(dir, entry, backend, FP32_STRICT).outputs;
        const floats = expected.filter(({ tensor }) => tensor.type === 'float32');
        if (floats.length > 0) {
          floatModels++;
          if (floats.some(({ name }) => !sameBits(outputs[name].data, fp32[name]?.data))) changedByFp16++;
        }
      }
      t.check(entry.name, problem);
    } catch (e) {
      t.check(entry.name, errorLine(e));
    }
  }
  if (o.precision === 'fp16') {
    t.notes.push(`FP16 rule (docs/gpu-testing.md); outputs differing from the FP32 engine: ${changedByFp16}/${floatModels} models`);
    if (floatModels > 0 && changedByFp16 === 0) {
      t.check('fp16-applied', `fp16: true gave bit-identical outputs to the FP32 engine on all ${floatModels} float models: FP16 was not applied (the fp16 field dropped by @kiln/core, or ignored by the native builder)`);
    }
  } else {
    t.notes.push(`tf32: false; rtol ${tol.rtol} / atol ${tol.atol} vs onnxruntime`);
  }
  return t.result();
}

function sameBits(a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint> | undefined): boolean {
  if (!b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------- error cases

export interface ErrorsPartOptions extends PartOptions {
  /** Sequential runs of small_cnn that must not throw (default 1000). */
  runs?: number;
  /** The device out-of-memory case (default: on for cuda, off for cpu, where 160 GiB would hit the host). */
  oom?: boolean;
}

/** `problem` for an expected coded failure: null when `fn` threw `code`, else what happened instead. */
async function expectCode(codes: string | string[], fn: () => unknown): Promise<string | null> {
  const want = Array.isArray(codes) ? codes : [codes];
  try {
    await fn();
  } catch (e) {
    const code = kilnCode(e);
    if (code && want.includes(code)) return null;
    return `expected ${want.join(' or ')}, got ${code ? errorLine(e) : `uncoded ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`}`;
  }
  return `expected ${want.join(' or ')}, but it succeeded`;
}

function smallCnn(): { path: string; feeds: Feeds; expected: Array<{ name: string; tensor: Tensor }> } {
  const { dir } = testModels();
  const feeds: Feeds = {};
  for (const { name, tensor } of readPbSeries(join(dir, 'small_cnn'), 'input')) feeds[name] = tensor;
  return { path: join(dir, 'small_cnn.onnx'), feeds, expected: readPbSeries(join(dir, 'small_cnn'), 'output') };
}

function buildSmallCnn(backend: BackendName): Uint8Array {
  const { path } = smallCnn();
  return Builder.buildSync(parseOnnxSync(path).network, { backend, ...FP32_STRICT } as BuilderConfig);
}

function checkSmallCnnOutputs(outputs: Record<string, Tensor>, backend: BackendName): string | null {
  for (const { name, tensor } of smallCnn().expected) {
    if (!outputs[name]) return `output '${name}' missing`;
    const p = compareTensors(name, outputs[name], tensor, testModelsTolerance(backend));
    if (p) return p;
  }
  return null;
}

/**
 * A network whose profile max needs ~160 GiB of live activations: ten softmaxes of one input (each 2^32 - 2^18
 * float32 elements = 16 GiB, just under Kiln's per-tensor limit) summed by an add chain, so all ten are live at
 * once. More than any GPU has; each tensor alone is legal.
 */
export function hugeReluNetwork(): { network: Network; config: BuilderConfig } {
  const network = new Network();
  const x = network.addInput('x', 'float32', [1, -1, -1, 16]);
  const parts = Array.from({ length: 10 }, (_, i) => network.addSoftmax(x, { axis: 3, name: `softmax${i}` }));
  let acc = parts[0]!;
  for (let i = 1; i < parts.length; i++) acc = network.addElementWise(acc, parts[i]!, 'add', { name: `add${i}` });
  network.markOutput(acc, 'y');
  const small = [1, 1, 1, 16];
  return { network, config: { profiles: [{ x: { min: small, opt: small, max: [1, 1 << 14, (1 << 14) - 1, 16] } }] } };
}

export async function partErrors(o: ErrorsPartOptions = {}): Promise<PartResult> {
  const gated = gate('errors', o);
  if (gated) return gated;
  const backend = o.backend ?? 'cuda';
  const t = new Tally('errors');
  const cnn = smallCnn();
  let plan: Uint8Array;
  try {
    plan = buildSmallCnn(backend);
  } catch (e) {
    t.check('build small_cnn', errorLine(e));
    return t.result();
  }
  t.check('small_cnn plan runs', await (async () => {
    try {
      return checkSmallCnnOutputs(await Engine.loadSync(plan).createContext().run(cnn.feeds), backend);
    } catch (e) { return errorLine(e); }
  })());

  // Corrupt plans: truncations and a flipped byte are caught by the framing and the checksum.
  for (const cut of [0, 10, plan.length >> 1, plan.length - 1]) {
    t.check(`truncated plan (${cut} of ${plan.length} bytes)`, await expectCode('KILN_E_CORRUPT_PLAN', () => Engine.loadSync(plan.subarray(0, cut))));
  }
  const flipped = plan.slice();
  flipped[plan.length >> 1] ^= 0x40;
  t.check('plan with a flipped byte', await expectCode('KILN_E_CORRUPT_PLAN', () => Engine.loadSync(flipped)));
  t.check('corrupt plan, async load', await expectCode('KILN_E_CORRUPT_PLAN', () => Engine.load(flipped)));

  // Foreign plans: intact frames whose header names another device, Kiln version or backend.
  const edit = (f: (h: Record<string, unknown>) => Record<string, unknown>) => reframePlan(plan, f);
  if (backend === 'cuda') {
    // The issue requires another compute capability to be refused; whether another GPU name of the same
    // capability is refused too is the backend's choice, so only the `sm_NN` part of the device string changes.
    t.check('plan for another compute capability', await (async () => {
      const device = String((JSON.parse(splitPlan(plan).header) as { device?: unknown }).device);
      if (!/sm_\d+/.test(device)) return `the plan's device string '${device}' names no sm_NN compute capability`;
      return expectCode('KILN_E_PLAN_MISMATCH', () => Engine.loadSync(edit((h) => ({ ...h, device: device.replace(/sm_\d+/, 'sm_10') }))));
    })());
  } else {
    t.check('plan for another device', await expectCode('KILN_E_PLAN_MISMATCH', () => Engine.loadSync(edit((h) => ({ ...h, device: `another ${String(h.device)}` })))));
  }
  t.check('plan of another Kiln version', await expectCode('KILN_E_PLAN_MISMATCH', () => Engine.loadSync(edit((h) => ({ ...h, kilnVersion: '0.0.0-other' })))));
  if (backend === 'cuda') {
    try {
      const cpuPlan = buildSmallCnn('cpu');
      t.check('cpu plan relabelled as cuda', await expectCode('KILN_E_PLAN_MISMATCH', () => Engine.loadSync(reframePlan(cpuPlan, (h) => ({ ...h, backend: 'cuda' })))));
    } catch (e) {
      t.check('cpu plan relabelled as cuda', `building the cpu plan: ${errorLine(e)}`);
    }
    t.check('cuda plan relabelled as cpu', await expectCode('KILN_E_PLAN_MISMATCH', () => Engine.loadSync(edit((h) => ({ ...h, backend: 'cpu' })))));
  } else {
    t.skip += 2;
  }

  // Wrong inputs at run time.
  const ctx = Engine.loadSync(plan).createContext();
  const [inName] = Object.keys(cnn.feeds);
  const good = cnn.feeds[inName];
  const dims = [...good.dims];
  const wrongDims = [dims[0] + 1, ...dims.slice(1)];
  const n = (d: number[]) => d.reduce((a, b) => a * b, 1);
  t.check('wrong input shape (run)', await expectCode('KILN_E_INVALID_INPUT', () => ctx.run({ [inName]: new Tensor('float32', new Float32Array(n(wrongDims)), wrongDims) })));
  t.check('wrong input shape (runSync)', await expectCode('KILN_E_INVALID_INPUT', () => ctx.runSync({ [inName]: new Tensor('float32', new Float32Array(n(wrongDims)), wrongDims) })));
  t.check('wrong input rank', await expectCode('KILN_E_INVALID_INPUT', () => ctx.run({ [inName]: new Tensor('float32', new Float32Array(n(dims)), [n(dims)]) })));
  t.check('wrong input dtype', await expectCode('KILN_E_INVALID_INPUT', () => ctx.run({ [inName]: new Tensor('float64', new Float64Array(n(dims)), dims) })));
  t.check('missing input', await expectCode('KILN_E_INVALID_INPUT', () => ctx.run({})));
  t.check('batch outside the optimization profile', await (async () => {
    try {
      const { dir } = testModels();
      const [feed] = readPbSeries(join(dir, 'mlp_dynamic_batch'), 'input');
      const d = [...feed.tensor.dims];
      const model = parseOnnxSync(join(dir, 'mlp_dynamic_batch.onnx'));
      const dyn = Builder.buildSync(model.network, {
        ...FP32_STRICT, backend, profiles: [{ [feed.name]: { min: [1, ...d.slice(1)], opt: d, max: [2 * d[0], ...d.slice(1)] } }],
      } as BuilderConfig);
      const big = [3 * d[0], ...d.slice(1)];
      return expectCode('KILN_E_INVALID_INPUT', () => Engine.loadSync(dyn).createContext().run({ [feed.name]: new Tensor('float32', new Float32Array(n(big)), big) }));
    } catch (e) { return `setting up: ${errorLine(e)}`; }
  })());
  t.check('context still runs after the errors', await (async () => {
    try { return checkSmallCnnOutputs(await ctx.run(cnn.feeds), backend); } catch (e) { return errorLine(e); }
  })());

  // Device out-of-memory: coded error, and the process (and the device) keep working.
  if (o.oom ?? backend === 'cuda') {
    const { network, config } = hugeReluNetwork();
    t.check('160 GiB of live activations: KILN_E_OUT_OF_MEMORY', await expectCode('KILN_E_OUT_OF_MEMORY', async () => {
      const huge = Engine.loadSync(Builder.buildSync(network, { ...config, backend }));
      // The context allocates the arena for the profile's max shape; should it do so lazily, the first run must
      // fail the same way (a run at the small shape succeeding here means the max-shape arena was never reserved).
      await huge.createContext().run({ x: new Tensor('float32', new Float32Array(16), [1, 1, 1, 16]) });
    }));
    t.check('runs after out-of-memory', await (async () => {
      try { return checkSmallCnnOutputs(await Engine.loadSync(plan).createContext().run(cnn.feeds), backend); } catch (e) { return errorLine(e); }
    })());
  } else {
    t.skip++;
  }

  // Many runs: no throw, last result still right; host memory growth reported (device memory is not observable from JS).
  const runs = o.runs ?? 1000;
  const rctx = Engine.loadSync(plan).createContext();
  const rss0 = process.memoryUsage().rss;
  let last: Record<string, Tensor> = {};
  let problem: string | null = null;
  const started = Date.now();
  for (let i = 0; i < runs; i++) {
    try {
      last = await rctx.run(cnn.feeds);
    } catch (e) {
      problem = `run ${i} threw: ${errorLine(e)}`;
      break;
    }
  }
  problem ??= checkSmallCnnOutputs(last, backend);
  const rss1 = process.memoryUsage().rss;
  t.check(`${runs} runs of small_cnn`, problem);
  t.notes.push(`${runs} runs in ${((Date.now() - started) / 1000).toFixed(2)} s; host RSS ${(rss0 / 2 ** 20).toFixed(0)} → ${(rss1 / 2 ** 20).toFixed(0)} MiB`);
  return t.result();
}

// ---------------------------------------------------------------------------------------------- calibration

/** The light CNN of the corpus whose calibration statistics are compared (small, many layer types). */
export const CALIBRATION_LIGHT_NET = 'squeezenet';
/** Per-tensor agreement of GPU statistics with the CPU backend's. */
export const CALIBRATION_TOLERANCE = { amaxRtol: 1e-3, binWidthRtol: 1e-3, maxMassMoved: 0.01 };

/**
 * Batch `k` of deterministic calibration inputs shaped like `feeds`: float32 inputs get a seeded waveform whose
 * range grows with k (so the second batch grows the histogram), other inputs are passed through.
 */
export function calibrationBatch(feeds: Feeds, k: number): Feeds {
  const out: Feeds = {};
  for (const [name, t] of Object.entries(feeds)) {
    if (t.type !== 'float32') { out[name] = t; continue; }
    const n = t.dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.sin(i * 0.7071 + 1.3 * k) * (1 + 0.5 * k) + 0.25 * Math.cos(i * 0.013);
    out[name] = new Tensor('float32', data, [...t.dims]);
  }
  return out;
}

/** Statistics of `modelPath` after calibrating `batches` on `backend` (FP32, TF32 off, calibration mode). */
export function calibrationStatsOf(modelPath: string, batches: Feeds[], backend: BackendName): core.CalibrationStat[] {
  const model = parseOnnxSync(modelPath);
  const plan = Builder.buildSync(model.network, { backend, calibration: true, ...FP32_STRICT } as BuilderConfig);
  const ctx = Engine.loadSync(plan).createContext({ numThreads: 0 });
  ctx.resetCalibration();
  for (const b of batches) ctx.calibrateSync(b);
  return ctx.calibrationStats();
}

/** null when `gpu` agrees with `cpu` (CALIBRATION_TOLERANCE), else the first difference. */
export function compareCalibrationStats(cpu: core.CalibrationStat[], gpu: core.CalibrationStat[]): string | null {
  const names = (s: core.CalibrationStat[]) => s.map((t) => t.name).join(', ');
  if (cpu.length !== gpu.length || cpu.some((t, i) => t.name !== gpu[i].name)) {
    return `tensors differ: cpu [${names(cpu)}], gpu [${names(gpu)}]`;
  }
  const close = (a: number, b: number, rtol: number) => Math.abs(a - b) <= rtol * Math.max(Math.abs(a), Math.abs(b));
  for (let i = 0; i < cpu.length; i++) {
    const [a, b] = [cpu[i], gpu[i]];
    const where = `tensor '${a.name}' (${a.producer})`;
    if (a.producer !== b.producer) return `${where}: producer ${a.producer} on cpu, ${b.producer} on gpu`;
    if (!close(a.amax, b.amax, CALIBRATION_TOLERANCE.amaxRtol)) return `${where}: amax ${a.amax} on cpu, ${b.amax} on gpu`;
    if (!close(a.binWidth, b.binWidth, CALIBRATION_TOLERANCE.binWidthRtol)) return `${where}: bin width ${a.binWidth} on cpu, ${b.binWidth} on gpu`;
    if (a.nonFinite !== b.nonFinite) return `${where}: ${a.nonFinite} non-finite values on cpu, ${b.nonFinite} on gpu`;
    let total = 0;
    let totalB = 0;
    let moved = 0;
    for (let j = 0; j < Math.max(a.counts.length, b.counts.length); j++) {
      const [x, y] = [a.counts[j] ?? 0, b.counts[j] ?? 0];
      total += x;
      totalB += y;
      moved += Math.abs(x - y);
    }
    if (total !== totalB) return `${where}: ${total} values counted on cpu, ${totalB} on gpu`;
    const frac = total > 0 ? moved / 2 / total : 0;
    if (frac > CALIBRATION_TOLERANCE.maxMassMoved) return `${where}: ${(100 * frac).toFixed(2)}% of the histogram mass moved (> ${100 * CALIBRATION_TOLERANCE.maxMassMoved}%)`;
  }
  return null;
}

export interface CalibrationPartOptions extends PartOptions {
  /** The ONNX corpus (for the light CNN); without it that case is skipped. */
  corpus?: string;
}

export async function partCalibration(o: CalibrationPartOptions = {}): Promise<PartResult> {
  const gated = gate('calibration', o);
  if (gated) return gated;
  const backend = o.backend ?? 'cuda';
  const t = new Tally('calibration');
  const { dir } = testModels();
  const cases: Array<{ name: string; path: string; feeds: () => Feeds }> = [];
  for (const name of ['small_cnn', 'residual_block']) {
    cases.push({ name, path: join(dir, `${name}.onnx`), feeds: () => Object.fromEntries(readPbSeries(join(dir, name), 'input').map(({ name: n, tensor }) => [n, tensor])) });
  }
  if (o.corpus && listLightModels(o.corpus).includes(CALIBRATION_LIGHT_NET)) {
    const paths = lightPaths(o.corpus, CALIBRATION_LIGHT_NET);
    cases.push({ name: `light ${CALIBRATION_LIGHT_NET}`, path: paths.model, feeds: () => lightInputs(readBytes(paths.model)) });
  } else {
    t.skipCase(`light ${CALIBRATION_LIGHT_NET}`, o.corpus ? `light_${CALIBRATION_LIGHT_NET}.onnx missing from ${join(o.corpus, 'light')}` : 'no corpus');
  }
  for (const c of cases) {
    const started = Date.now();
    try {
      const shapes = c.feeds();
      const batches = [calibrationBatch(shapes, 0), calibrationBatch(shapes, 1)];
      const want = calibrationStatsOf(c.path, batches, 'cpu');
      const got = calibrationStatsOf(c.path, batches, backend);
      t.check(c.name, want.length === 0 ? 'no statistics gathered on the CPU' : compareCalibrationStats(want, got));
    } catch (e) {
      t.check(c.name, errorLine(e));
    }
    o.log?.(`calibration: ${c.name} ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  t.notes.push(`2 batches, tf32: false; amax / bin width rtol ${CALIBRATION_TOLERANCE.amaxRtol}, non-finite equal, histogram mass moved <= ${100 * CALIBRATION_TOLERANCE.maxMassMoved}%`);
  return t.result();
}

// ---------------------------------------------------------------------------------------------- the suite

export interface SuiteOptions {
  backend?: BackendName;
  corpus?: string;
  out?: string;
  parts?: PartName[];
  nodeJobs?: number;
  nodeTimeoutMs?: number;
  nodeFilter?: RegExp;
  runs?: number;
  oom?: boolean;
  spawnWorker?: () => ChildProcess;
  log?: (line: string) => void;
}

export interface SuiteReport {
  date: string;
  backend: BackendName;
  gpu: GpuStatus;
  parts: PartResult[];
  /** No part failed (skipped parts count as not failed). */
  ok: boolean;
}

export async function runSuite(o: SuiteOptions = {}): Promise<SuiteReport> {
  const backend = o.backend ?? 'cuda';
  const gpu = detectGpu();
  const base: PartOptions = { backend, gpu, log: o.log };
  const want = new Set<PartName>(o.parts ?? PART_NAMES);
  const needsCorpus = want.has('node') || want.has('light-fp32') || want.has('light-fp16') || want.has('calibration');
  let corpus = o.corpus;
  let corpusProblem: string | null = null;
  const usable = backend !== 'cuda' || gpu.available;
  if (needsCorpus && usable && !corpus) {
    try { corpus = await ensureCorpus(o.log); } catch (e) { corpusProblem = `no ONNX corpus: ${errorLine(e)} (pass --corpus DIR)`; }
  }
  const parts: PartResult[] = [];
  const run = async (name: PartName, f: () => Promise<PartResult>, needs?: 'corpus') => {
    if (!want.has(name)) return;
    if (needs === 'corpus' && usable && !corpus) { parts.push(skipped(name, corpusProblem ?? 'no corpus')); return; }
    if (usable) o.log?.(`== ${name}`);
    try {
      parts.push(await f());
    } catch (e) {
      parts.push({ ...skipped(name, ''), status: 'ran', reason: undefined, fail: 1, failures: [`part crashed: ${errorLine(e)}`] });
    }
  };
  // On CUDA each worker holds one CUDA context (a few hundred MiB of device memory) and the GPU is the
  // bottleneck, so more workers than the CPU suite's 2 but not one per core; the first build in a worker pays
  // for the driver and library start-up, hence the longer per-test limit.
  const jobs = o.nodeJobs ?? (backend === 'cuda' ? Math.min(8, availableParallelism()) : undefined);
  const timeoutMs = o.nodeTimeoutMs ?? (backend === 'cuda' ? 60_000 : undefined);
  await run('node', () => partNodeTests({ ...base, corpus: corpus!, out: o.out, jobs, timeoutMs, filter: o.nodeFilter, spawnWorker: o.spawnWorker }), 'corpus');
  await run('light-fp32', () => partLight({ ...base, corpus: corpus!, precision: 'fp32' }), 'corpus');
  await run('light-fp16', () => partLight({ ...base, corpus: corpus!, precision: 'fp16' }), 'corpus');
  await run('test-models-fp32', () => partTestModels({ ...base, precision: 'fp32' }));
  await run('test-models-fp16', () => partTestModels({ ...base, precision: 'fp16' }));
  await run('errors', () => partErrors({ ...base, runs: o.runs, oom: o.oom }));
  await run('calibration', () => partCalibration({ ...base, corpus }));
  return { date: new Date().toISOString(), backend, gpu, parts, ok: parts.every((p) => p.fail === 0) };
}

/** The summary as text: one table row per part, then each part's notes and first failures. */
export function formatSummary(r: SuiteReport): string {
  const lines: string[] = [];
  lines.push(`Kiln GPU suite, backend ${r.backend}, ${r.date}`);
  if (r.backend === 'cuda') {
    lines.push(r.gpu.available ? `GPU: ${r.gpu.devices.length ? JSON.stringify(r.gpu.devices) : '(Device.list() not available in @kiln/core)'}` : `GPU: none (${r.gpu.reason})`);
  }
  const rows = r.parts.map((p) => [p.part, p.status === 'skipped' ? 'skipped' : p.fail ? 'FAIL' : 'ok', String(p.pass), String(p.fail), String(p.skip), p.seconds.toFixed(1)]);
  const head = ['part', 'result', 'pass', 'fail', 'skip', 's'];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]) => `| ${row.map((c, i) => (i >= 2 ? c.padStart(width[i]) : c.padEnd(width[i]))).join(' | ')} |`;
  lines.push('', fmt(head), `|${width.map((w, i) => (i >= 2 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`, ...rows.map(fmt), '');
  for (const p of r.parts) {
    if (p.status === 'skipped') { lines.push(`${p.part}: skipped: ${p.reason}`); continue; }
    for (const n of p.notes) lines.push(`${p.part}: ${n}`);
    for (const f of p.failures) lines.push(`${p.part}: FAIL ${f}`);
  }
  const total = r.parts.reduce((a, p) => ({ pass: a.pass + p.pass, fail: a.fail + p.fail }), { pass: 0, fail: 0 });
  const ran = r.parts.filter((p) => p.status === 'ran').length;
  lines.push(`${ran}/${r.parts.length} parts ran; ${total.pass} pass, ${total.fail} fail${r.ok ? '' : ' — FAILED'}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------- entry point

const SELF = fileURLToPath(import.meta.url);

/** The bundle (gpu-suite.mjs) forks itself as the node-test worker; under tsx the runner's default applies. */
function selfWorker(): (() => ChildProcess) | undefined {
  if (!SELF.endsWith('.mjs')) return undefined;
  return () => fork(SELF, ['--node-worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--node-worker')) {
    serveNodeTests();
    return -1; // stays alive on IPC; no exit code
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      corpus: { type: 'string' },
      parts: { type: 'string' },
      backend: { type: 'string', default: 'cuda' },
      'node-jobs': { type: 'string' },
      'node-timeout': { type: 'string' },
      'node-filter': { type: 'string' },
      runs: { type: 'string' },
      'no-oom': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`usage: gpu-suite.mjs --corpus DIR [--out DIR] [--parts ${PART_NAMES.join(',')}] [--backend cuda|cpu]\n` +
      '                     [--node-jobs N] [--node-timeout MS] [--node-filter REGEX] [--runs N] [--no-oom]\n');
    return 0;
  }
  if (values.backend !== 'cuda' && values.backend !== 'cpu') throw new Error(`--backend must be cuda or cpu, got '${values.backend}'`);
  const parts = values.parts ? values.parts.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  for (const p of parts ?? []) if (!(PART_NAMES as readonly string[]).includes(p)) throw new Error(`unknown part '${p}'; parts: ${PART_NAMES.join(', ')}`);
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const report = await runSuite({
    backend: values.backend,
    corpus: values.corpus ? resolve(values.corpus) : undefined,
    out: values.out ? resolve(values.out) : undefined,
    parts: parts as PartName[] | undefined,
    nodeJobs: num(values['node-jobs']),
    nodeTimeoutMs: num(values['node-timeout']),
    nodeFilter: values['node-filter'] ? new RegExp(values['node-filter']) : undefined,
    runs: num(values.runs),
    oom: values['no-oom'] ? false : undefined,
    spawnWorker: selfWorker(),
    log,
  });
  const text = formatSummary(report);
  process.stdout.write(`${text}\n`);
  if (values.out) {
    mkdirSync(values.out, { recursive: true });
    writeFileSync(join(values.out, 'gpu-suite.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(values.out, 'gpu-suite.txt'), `${text}\n`);
  }
  return report.ok ? 0 : 1;
}

function isEntry(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(SELF);
  } catch {
    return false;
  }
}

if (isEntry()) {
  main(process.argv.slice(2)).then((code) => { if (code >= 0) process.exitCode = code; }, (e) => {
    process.stderr.write(`gpu-suite: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exitCode = 2;
  });
}
