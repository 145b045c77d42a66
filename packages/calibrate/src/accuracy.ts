/**
 * INT8 vs FP32 accuracy on held-out batches: both engines built from the same ONNX model, the INT8 one with
 * `int8: {ranges}` (fake-quantized on the CPU backend); per output: cosine similarity, max abs error and, for
 * classifier-shaped outputs ([N, classes]), top-1 agreement.
 */
import { Builder, Engine, KilnError, Network, Tensor, type BuilderConfig } from '@kiln/core';
import { parseOnnx } from '@kiln/onnx';
import { profileFor } from './collect';
import type { Batch } from './dataset/index';

export interface OutputAccuracy {
  name: string;
  cosine: number;
  maxAbsError: number;
  /** Share of rows whose argmax agrees; only for [N, classes] outputs (trailing unit dims allowed). */
  top1Agreement?: number;
  elements: number;
}

export interface AccuracyReport {
  batches: number;
  samples: number;
  outputs: OutputAccuracy[];
}

type Int8Config = BuilderConfig & { int8?: { ranges: Record<string, number> } };

/**
 * Whether this engine build honours `int8: {ranges}`: a MatMul whose input is quantized with amax 1 must
 * change 0.3 into round(0.3·127)/127. Without int8 support the config key is ignored and the result is exact.
 */
export async function int8Available(backend: 'cpu' | 'cuda' = 'cpu'): Promise<boolean> {
  const net = new Network();
  const x = net.addInput('x', 'float32', [1, 4]);
  const w = net.addConstant(new Tensor('float32', new Float32Array([1, 1, 1, 1]), [4, 1]), 'w');
  net.markOutput(net.addMatrixMultiply(x, w, { name: 'mm' }), 'y');
  const config: Int8Config = { backend, int8: { ranges: { x: 1, y: 4 } } };
  try {
    const engine = await Engine.load(await Builder.build(net, config));
    const out = await engine.createContext({ numThreads: 1 }).run({ x: new Tensor('float32', new Float32Array([0.3, 0.3, 0.3, 0.3]), [1, 4]) });
    const y = (out.y.data as Float32Array)[0];
    return Math.abs(y - Math.fround(0.3) * 4) > 1e-6;
  } catch {
    return false;
  }
}

function toFloats(t: Tensor): Float64Array | undefined {
  if (t.type === 'float32' || t.type === 'float64') return Float64Array.from(t.data as Float32Array);
  return undefined;
}

class Acc {
  dot = 0;
  na = 0;
  nb = 0;
  maxAbs = 0;
  rows = 0;
  agree = 0;
  elements = 0;
  classifier = true;
  add(ref: Tensor, got: Tensor): void {
    const a = toFloats(ref);
    const b = toFloats(got);
    if (!a || !b) return;
    if (a.length !== b.length) throw new KilnError('KILN_E_INTERNAL', `INT8 and FP32 outputs differ in size (${a.length} vs ${b.length})`);
    for (let i = 0; i < a.length; i++) {
      this.dot += a[i] * b[i];
      this.na += a[i] * a[i];
      this.nb += b[i] * b[i];
      const e = Math.abs(a[i] - b[i]);
      if (e > this.maxAbs || Number.isNaN(e)) this.maxAbs = e;
    }
    this.elements += a.length;
    // Classifier-shaped: [N, classes], also with trailing unit dims ([N, classes, 1, 1] after a global pool).
    const dims = ref.dims;
    const rest = dims.slice(1);
    const c = rest.reduce((x, y) => x * y, 1);
    if (dims.length < 2 || c < 2 || rest.filter((d) => d !== 1).length !== 1) {
      this.classifier = false;
      return;
    }
    const n = dims[0];
    for (let r = 0; r < n; r++) {
      let ia = 0;
      let ib = 0;
      for (let j = 1; j < c; j++) {
        if (a[r * c + j] > a[r * c + ia]) ia = j;
        if (b[r * c + j] > b[r * c + ib]) ib = j;
      }
      this.rows++;
      if (ia === ib) this.agree++;
    }
  }
  result(name: string): OutputAccuracy {
    // Two all-zero outputs are identical: cosine 1 rather than 0/0.
    const cosine = this.na === 0 && this.nb === 0 ? 1 : this.dot / Math.sqrt(this.na * this.nb || Number.MIN_VALUE);
    const r: OutputAccuracy = { name, cosine, maxAbsError: this.maxAbs, elements: this.elements };
    if (this.classifier && this.rows > 0) r.top1Agreement = this.agree / this.rows;
    return r;
  }
}

/** Compares an INT8 engine built with `ranges` against the FP32 engine on `batches`. */
export async function accuracyReport(
  modelBytes: Uint8Array,
  ranges: Record<string, number>,
  batches: AsyncIterable<Batch>,
  options: { backend?: 'cpu' | 'cuda'; baseDir?: string; batchShapes: Record<string, number[]>; numThreads?: number },
): Promise<AccuracyReport> {
  const backend = options.backend ?? 'cpu';
  const build = async (extra: Partial<Int8Config>): Promise<Engine> => {
    // A Network is consumed by its build: parse once per engine.
    const model = await parseOnnx(modelBytes, { baseDir: options.baseDir });
    const profile = profileFor(model, options.batchShapes);
    const config: Int8Config = { backend, ...(profile ? { profiles: [profile] } : {}), ...extra };
    return Engine.load(await Builder.build(model.network, config));
  };
  const fp32 = (await build({})).createContext({ numThreads: options.numThreads ?? 0 });
  const int8 = (await build({ int8: { ranges } })).createContext({ numThreads: options.numThreads ?? 0 });
  const accs = new Map<string, Acc>();
  let n = 0;
  let samples = 0;
  for await (const batch of batches) {
    const [ref, got] = [await fp32.run(batch.feeds), await int8.run(batch.feeds)];
    for (const [name, t] of Object.entries(ref)) {
      if (!got[name]) continue;
      let acc = accs.get(name);
      if (!acc) accs.set(name, (acc = new Acc()));
      acc.add(t, got[name]);
    }
    n++;
    samples += Object.values(batch.feeds)[0]?.dims[0] ?? 1;
  }
  return { batches: n, samples, outputs: [...accs.entries()].map(([name, a]) => a.result(name)) };
}

export function formatAccuracy(r: AccuracyReport): string {
  const lines = [`INT8 vs FP32 on ${r.samples} held-out sample(s) in ${r.batches} batch(es):`];
  for (const o of r.outputs) {
    const top1 = o.top1Agreement === undefined ? '' : `, top-1 agreement ${(o.top1Agreement * 100).toFixed(2)}%`;
    lines.push(`  ${o.name}: cosine ${o.cosine.toFixed(6)}, max abs error ${o.maxAbsError.toPrecision(4)}${top1}`);
  }
  return lines.join('\n');
}
