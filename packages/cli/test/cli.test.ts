/**
 * End-to-end: spawns the built CLI (dist/kiln.js) as users run it. Tests that need the native
 * addon are skipped until packages/binding has its `.node`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { readNpy, writeNpy } from '../src/npy';
import { BIAS, FLOAT, tensorProto, tinyModel } from './onnx-writer';

const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'dist', 'kiln.js');
const BINDING_DIR = join(here, '..', '..', 'binding');
const hasBinding = existsSync(BINDING_DIR) && readdirSync(BINDING_DIR).some((f) => f.endsWith('.node'));

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
  lastErr: string;
}

function kiln(args: string[], cwd?: string): Result {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd, timeout: 120_000 });
  const lines = r.stderr.trimEnd().split('\n');
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, lastErr: lines[lines.length - 1] };
}

let dir: string;
let model: string;

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build the CLI first (pnpm --filter @kiln/cli build)`);
  dir = mkdtempSync(join(tmpdir(), 'kiln-cli-'));
  model = join(dir, 'tiny.onnx');
  writeFileSync(model, tinyModel());
});

describe('usage errors exit 2 with a usage line', () => {
  it.each([
    [[]],
    [['frobnicate']],
    [['build']],
    [['bench', 'm.onnx', '--no-such-flag']],
    [['run', 'm.onnx', '--backend', 'tpu']],
    [['bench', 'm.onnx', '--iterations', 'many']],
    [['trtexec', '--onnx=m.onnx', '--frobnicate']],
    [['trtexec']],
  ])('kiln %j', (args) => {
    const r = kiln(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^usage: kiln/m);
    expect(r.stdout).toBe('');
  });
});

describe('coded errors exit 1 with the code on the last stderr line', () => {
  it('refuses trtexec --int8 by name', () => {
    const r = kiln(['trtexec', `--onnx=${model}`, '--int8']);
    expect(r.status).toBe(1);
    expect(r.lastErr).toMatch(/^kiln: KILN_E_UNSUPPORTED: --int8: INT8 .*kiln build --int8 --calib/);
  });
  it('refuses trtexec --bf16 by name', () => {
    const r = kiln(['trtexec', `--onnx=${model}`, '--bf16']);
    expect(r.status).toBe(1);
    expect(r.lastErr).toBe('kiln: KILN_E_UNSUPPORTED: --bf16: BF16 precision is not implemented in Kiln; use --fp16');
  });
  it.skipIf(!hasBinding)('names a missing model file', () => {
    const r = kiln(['run', join(dir, 'nope.onnx')]);
    expect(r.status).toBe(1);
    expect(r.lastErr).toMatch(/^kiln: KILN_E_INVALID_INPUT: model '.*nope\.onnx' does not exist$/);
  });
  it.skipIf(!hasBinding)('reports malformed shapes as KILN_E_INVALID_PROFILE', () => {
    const r = kiln(['build', model, '-o', join(dir, 'x.plan'), '--shapes', 'x:1xx4']);
    expect(r.status).toBe(1);
    expect(r.lastErr).toMatch(/^kiln: KILN_E_INVALID_PROFILE: /);
  });
  it.skipIf(!hasBinding)('--backend cuda fails with KILN_E_BACKEND_UNAVAILABLE on a machine without CUDA', () => {
    const r = kiln(['build', model, '-o', join(dir, 'cuda.plan'), '--backend', 'cuda']);
    expect(r.status).toBe(1);
    expect(r.lastErr).toMatch(/^kiln: KILN_E_BACKEND_UNAVAILABLE: /);
  });
  it.skipIf(!hasBinding)('rejects a corrupt plan', () => {
    const bad = join(dir, 'bad.plan');
    writeFileSync(bad, 'definitely not a plan');
    const r = kiln(['inspect', bad]);
    expect(r.status).toBe(1);
    expect(r.lastErr).toMatch(/^kiln: KILN_E_CORRUPT_PLAN: /);
  });
});

describe.skipIf(!hasBinding)('commands on a tiny model', () => {
  const plan = () => join(dir, 'tiny.plan');

  it('build writes a plan and --json describes it', () => {
    const r = kiln(['build', model, '-o', plan(), '--minShapes', 'x:1x4', '--optShapes', 'x:2x4', '--maxShapes', 'x:8x4', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ plan: plan(), backend: 'cpu', profiles: [{ x: { min: [1, 4], opt: [2, 4], max: [8, 4] } }] });
    expect(readFileSync(plan()).length).toBe(j.bytes);
  });

  it('build says when it defaults dynamic dims', () => {
    const r = kiln(['build', model, '-o', join(dir, 'default.plan')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/using 1 for every dynamic dim/);
  });

  it('inspect --json prints the PlanInfo of a plan and of an .onnx', () => {
    for (const target of [plan(), model]) {
      const r = kiln(['inspect', target, '--json']);
      expect(r.status, r.stderr).toBe(0);
      const info = JSON.parse(r.stdout);
      expect(info.backend).toBe('cpu');
      expect(info.inputs.map((i: { name: string }) => i.name)).toEqual(['x']);
      expect(info.outputs.map((o: { name: string }) => o.name).sort()).toEqual(['neg', 'y:0']);
      expect(Array.isArray(info.layers)).toBe(true);
    }
    const text = kiln(['inspect', plan()]);
    expect(text.stdout).toMatch(/Bound to: format version \d+, Kiln .*backend cpu/);
    expect(text.stdout).toMatch(/profile 0: min 1x4, opt 2x4, max 8x4/);
    expect(text.stdout).toMatch(/Activation arena: .* unshared/);
  });

  it('run with .npy and .pb inputs writes correct outputs', () => {
    const x = Float32Array.from([-3, -1, 0, 2, 0.5, 4, -6, 1, 7, 8, -9, 10]);
    const expectY = Array.from(x, (v, i) => Math.max(0, Math.fround(v + BIAS[i % 4])));
    const npy = join(dir, 'x.npy');
    writeFileSync(npy, writeNpy({ dtype: 'float32', dims: [3, 4], data: x }));
    const pb = join(dir, 'x.pb');
    writeFileSync(pb, tensorProto('x', FLOAT, [3, 4], new Uint8Array(x.buffer)));
    for (const input of [`x=${npy}`, `x=${pb}`]) {
      const outDir = join(dir, `out-${input.endsWith('.pb') ? 'pb' : 'npy'}`);
      const r = kiln(['run', plan(), '--input', input, '--output-dir', outDir, '--json']);
      expect(r.status, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      const y = j.outputs.find((o: { name: string }) => o.name === 'y:0');
      expect(y).toMatchObject({ dtype: 'float32', dims: [3, 4], file: join(outDir, 'y_0.npy') });
      expect(y.stats.max).toBe(Math.max(...expectY));
      const got = readNpy(new Uint8Array(readFileSync(join(outDir, 'y_0.npy'))));
      expect(got.dims).toEqual([3, 4]);
      expect(Array.from(got.data as Float32Array)).toEqual(expectY);
      const neg = readNpy(new Uint8Array(readFileSync(join(outDir, 'neg.npy'))));
      expect(Array.from(neg.data as Float32Array)).toEqual(Array.from(x, (v) => -v));
    }
  });

  it('run on an .onnx builds for the shape of the --input file', () => {
    const x = Float32Array.from({ length: 12 }, (_, i) => i - 6);
    const npy = join(dir, 'x34.npy');
    writeFileSync(npy, writeNpy({ dtype: 'float32', dims: [3, 4], data: x }));
    const outDir = join(dir, 'out-onnx');
    const r = kiln(['run', model, '--input', npy, '--output-dir', outDir]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/building for the shapes of the input file\(s\): x:3x4/);
    const neg = readNpy(new Uint8Array(readFileSync(join(outDir, 'neg.npy'))));
    expect(neg.dims).toEqual([3, 4]);
    expect(Array.from(neg.data as Float32Array)).toEqual(Array.from(x, (v) => -v));
  });

  it('run without --input generates deterministic inputs and says so', () => {
    const a = kiln(['run', model, '--shapes', 'x:2x4', '--output-dir', join(dir, 'gen-a')]);
    const b = kiln(['run', plan(), '--shapes', 'x:2x4', '--output-dir', join(dir, 'gen-b')]);
    expect(a.status, a.stderr).toBe(0);
    expect(b.status, b.stderr).toBe(0);
    expect(a.stderr).toMatch(/deterministic generated values/);
    const ya = readFileSync(join(dir, 'gen-a', 'neg.npy'));
    expect(ya.equals(readFileSync(join(dir, 'gen-b', 'neg.npy')))).toBe(true);
    const neg = readNpy(new Uint8Array(ya)).data as Float32Array;
    expect(neg.every((v) => v > -1 && v <= 1)).toBe(true);
  });

  it('run rejects a fortran-order .npy with a coded error', () => {
    const f = join(dir, 'fortran.npy');
    const good = writeNpy({ dtype: 'float32', dims: [1, 4], data: new Float32Array(4) });
    writeFileSync(f, Buffer.from(Buffer.from(good).toString('latin1').replace("'fortran_order': False", "'fortran_order': True "), 'latin1'));
    const r = kiln(['run', plan(), '--input', `x=${f}`, '--output-dir', join(dir, 'f')]);
    expect(r.status).toBe(1);
    expect(r.lastErr).toMatch(/^kiln: KILN_E_INVALID_INPUT: .*fortran_order/);
  });

  it('bench --json prints exactly the documented keys', () => {
    const r = kiln(['bench', plan(), '--iterations', '5', '--duration', '0', '--warmUp', '0', '--shapes', 'x:4x4', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j)).toEqual(['backend', 'batch', 'throughput_qps', 'latency_ms', 'iterations', 'streams', 'wall_ms', 'timer', 'h2d_ms', 'gpu_compute_ms', 'd2h_ms', 'cuda_graph']);
    expect(Object.keys(j.gpu_compute_ms)).toEqual(['min', 'mean', 'median', 'p90', 'p95', 'p99', 'max']);
    expect(j.iterations).toBeGreaterThanOrEqual(5);
    expect(j.streams).toBe(1);
    expect(Object.keys(j.latency_ms)).toEqual(['min', 'mean', 'median', 'p90', 'p95', 'p99', 'max']);
    expect(j.backend).toBe('cpu');
    expect(j.batch).toBe(4);
    expect(j.throughput_qps).toBeGreaterThan(0);
    expect(j.latency_ms.min).toBeLessThanOrEqual(j.latency_ms.max);
  });

  it('bench prints a trtexec-style summary', () => {
    const r = kiln(['bench', model, '--iterations', '3', '--duration', '0', '--warmUp', '0']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/=== Performance summary ===/);
    expect(r.stdout).toMatch(/Throughput: [\d.]+ qps/);
    expect(r.stdout).toMatch(/Latency: min = [\d.e-]+ ms, max = .*, mean = .*, median = .*, percentile\(90%\) = /);
  });

  it('trtexec builds, saves, reloads and reports like trtexec', () => {
    const saved = join(dir, 'trt.plan');
    const times = join(dir, 'times.json');
    const r = kiln(['trtexec', `--onnx=${model}`, `--saveEngine=${saved}`, '--shapes=x:2x4', '--iterations=4', '--duration=0', '--warmUp=0', '--avgRuns=2', `--exportTimes=${times}`]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^&&&& RUNNING Kiln\.trtexec/m);
    expect(r.stdout).toMatch(/\[I\] === Performance summary ===/);
    expect(r.stdout).toMatch(/\[I\] Throughput: [\d.]+ qps/);
    expect(r.stdout).toMatch(/\[I\] Latency: min = .* ms, max = .* ms, mean = .* ms, median = .* ms, percentile\(90%\) = /);
    expect(r.stdout).toMatch(/Average on 2 runs - Host latency/);
    expect(r.stdout).toMatch(/^&&&& PASSED Kiln\.trtexec/m);
    expect(JSON.parse(readFileSync(times, 'utf8')).length).toBeGreaterThanOrEqual(4);
    const again = kiln(['trtexec', `--loadEngine=${saved}`, '--iterations=2', '--duration=0', '--warmUp=0']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/Input 'x': 2x4/);
  });
});
