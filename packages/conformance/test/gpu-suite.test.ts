/**
 * The GPU suite (src/gpu-suite.ts) under vitest. The CUDA parts run only where the CUDA backend is usable and
 * are reported as skipped, with the reason in the test name, elsewhere. The suite's own machinery (FP16 rule,
 * plan re-framing, error checks, the all-skipped summary) is checked on the CPU backend everywhere.
 */
import { describe, expect, it } from 'vitest';
import { Builder, Engine } from '@kiln/core';
import { parseOnnxSync } from '@kiln/onnx';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeReports } from '../src/report.js';
import { repoRoot } from '../src/corpus.js';
import { ensureCorpus } from '../src/corpus.js';
import { compareFp16 } from '../src/fp16-compare.js';
import { crc32, reframePlan, splitPlan } from '../src/plan-frame.js';
import { detectGpu, formatSummary, partCalibration, partErrors, partLight, partNodeTests, partTestModels, runSuite } from '../src/gpu-suite.js';
import type { PartResult } from '../src/gpu-suite.js';

const gpu = detectGpu();
const cudaTitle = (what: string) => `${what} on cuda${gpu.available ? '' : ` (skipped: ${gpu.reason})`}`;
const t = (type: string, data: number[], dims: number[]) => ({ type, data, dims });

function expectClean(r: PartResult): void {
  expect(r.status).toBe('ran');
  expect(r.failures).toEqual([]);
  expect(r.fail).toBe(0);
  expect(r.pass).toBeGreaterThan(0);
}

describe('GPU suite on cuda', () => {
  it.skipIf(!gpu.available)(cudaTitle('ONNX node tests (FP32, TF32 off)'), async () => {
    const r = await partNodeTests({ corpus: await ensureCorpus(), gpu, jobs: 4, timeoutMs: 60_000 });
    expect(r.status).toBe('ran');
    console.log(`node tests on cuda: ${r.pass} pass, ${r.fail} fail, ${r.skip} unsupported; first failures: ${r.failures.join(' | ')}`);
  }, 900_000);
  it.skipIf(!gpu.available)(cudaTitle('9 light CNNs, FP32 with TF32 off'), async () => {
    expectClean(await partLight({ corpus: await ensureCorpus(), gpu, precision: 'fp32' }));
  }, 600_000);
  it.skipIf(!gpu.available)(cudaTitle('9 light CNNs, FP16'), async () => {
    expectClean(await partLight({ corpus: await ensureCorpus(), gpu, precision: 'fp16' }));
  }, 600_000);
  it.skipIf(!gpu.available)(cudaTitle('test-models vs onnxruntime, FP32 and FP16'), async () => {
    expectClean(await partTestModels({ gpu, precision: 'fp32' }));
    expectClean(await partTestModels({ gpu, precision: 'fp16' }));
  }, 600_000);
  it.skipIf(!gpu.available)(cudaTitle('corrupt/foreign plans, wrong inputs, device OOM, 1000 runs'), async () => {
    expectClean(await partErrors({ gpu }));
  }, 600_000);
  it.skipIf(!gpu.available)(cudaTitle('calibration statistics on the GPU equal the CPU backend\'s'), async () => {
    const r = await partCalibration({ corpus: await ensureCorpus(), gpu });
    expectClean(r);
  }, 600_000);
  it.skipIf(gpu.available)('without a usable cuda backend every part reports skipped with the reason', async () => {
    const r = await runSuite({ backend: 'cuda' });
    expect(r.parts.map((p) => [p.part, p.status])).toEqual(
      ['node', 'light-fp32', 'light-fp16', 'test-models-fp32', 'test-models-fp16', 'errors', 'calibration'].map((p) => [p, 'skipped']),
    );
    expect(r.ok).toBe(true);
    for (const p of r.parts) expect(p.reason).toBe(gpu.reason);
    expect(formatSummary(r)).toContain(`errors: skipped: ${gpu.reason}`);
  });
});

describe('GPU suite machinery (CPU backend)', () => {
  it('FP16 rule: cosine and max-abs bound against the oracle; exact for integers; non-finite must match', () => {
    const e = [1, -2, 3, 0.5];
    expect(compareFp16('y', t('float32', [1.001, -2.002, 3.003, 0.5], [4]), t('float32', e, [4]))).toBeNull();
    expect(compareFp16('y', t('float32', [1, -2, 3, 0.5 + 0.07], [4]), t('float32', e, [4]))).toMatch(/max abs err/);
    expect(compareFp16('y', t('float32', [-1, 2, -3, -0.5], [4]), t('float32', e, [4]))).toMatch(/cosine/);
    expect(compareFp16('y', t('float32', [Infinity, -2, 3, 0.5], [4]), t('float32', e, [4]))).toMatch(/overflow/);
    expect(compareFp16('y', t('float32', [NaN, 0], [2]), t('float32', [NaN, 0], [2]))).toBeNull();
    expect(compareFp16('y', t('int64', [1, 2], [2]), t('int64', [1, 3], [2]))).toMatch(/exact/);
    expect(compareFp16('y', t('float32', [0.001, 0.001], [2]), t('float32', [0.001, 0.001], [1, 2]))).toMatch(/shape/);
    // The light CNNs' outputs are constant 1e-3 (uniform softmax): the bound is 1e-4 + 2e-2 * 1e-3.
    expect(compareFp16('y', t('float32', [0.00109, 0.001], [2]), t('float32', [0.001, 0.001], [2]))).toBeNull();
    expect(compareFp16('y', t('float32', [0.00113, 0.001], [2]), t('float32', [0.001, 0.001], [2]))).toMatch(/max abs err/);
  });

  it('re-framed plans keep a valid checksum; the CPU engine refuses them as foreign, not corrupt', async () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    const plan = Builder.buildSync(parseOnnxSync(join(repoRoot(), 'test-models', 'small_cnn.onnx')).network, { backend: 'cpu' });
    expect(reframePlan(plan, (h) => h)).toEqual(plan);
    expect(JSON.parse(splitPlan(plan).header)).toMatchObject({ backend: 'cpu' });
    expect(() => Engine.loadSync(reframePlan(plan, (h) => ({ ...h, device: 'another' })))).toThrow(expect.objectContaining({ code: 'KILN_E_PLAN_MISMATCH' }));
  });

  it('the errors part passes on the CPU backend (OOM case left to cuda)', async () => {
    const r = await partErrors({ backend: 'cpu', runs: 100 });
    expectClean(r);
    expect(r.skip).toBe(3);
  }, 60_000);

  it('node-test reports for another backend go to conformance-<backend>.{json,md}, same shape', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-gpu-suite-'));
    const r = (name: string, status: 'pass' | 'fail') => ({ name, status, ops: ['Relu'], topLevelOps: ['Relu'], representable: true, ms: 1, ...(status === 'fail' ? { message: 'boom' } : {}) });
    writeReports(dir, [r('test_relu', 'pass'), r('test_relu_b', 'fail')], ['Relu'], { corpus: '', seconds: 1, backend: 'cuda', builderNote: 'FP32, TF32 off' });
    expect(JSON.parse(readFileSync(join(dir, 'conformance-cuda.json'), 'utf8'))).toEqual({ backend: 'cuda', tests: { test_relu: 'pass', test_relu_b: 'fail' } });
    const md = readFileSync(join(dir, 'conformance-cuda.md'), 'utf8');
    expect(md).toContain('(CUDA backend)');
    expect(md).toContain('builds a CUDA plan with the feed shapes fixed (FP32, TF32 off)');
  });

  it('the calibration part passes comparing the CPU backend with itself (light CNN left to cuda)', async () => {
    const r = await partCalibration({ backend: 'cpu' });
    expect(r.status).toBe('ran');
    expect(r.failures).toEqual(['light squeezenet: skipped: no corpus']);
    expect(r.fail).toBe(0);
    expect(r.pass).toBe(2);
  }, 60_000);

  it('the test-models part passes on the CPU backend in FP32', async () => {
    expectClean(await partTestModels({ backend: 'cpu', precision: 'fp32' }));
  }, 60_000);
});
