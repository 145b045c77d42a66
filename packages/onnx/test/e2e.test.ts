/**
 * parse → build → run on a few ONNX corpus tests, compared with the corpus's expected outputs. Runs only
 * where the native binding is built and the corpus is beside the checkout (the conformance package runs
 * the whole corpus); catches mapping bugs that the recording fake network cannot see.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseOnnxSync, readTensorProto } from '../src/index';

const CORPUS = process.env.KILN_ONNX_CORPUS ?? path.resolve(__dirname, '../../../../shared/onnx-backend-tests/node');

type Core = typeof import('@kiln/core');
let core: Core | null = null;
try {
  core = await import('@kiln/core');
  core.backends();
} catch {
  core = null; // binding not built here
}

export const E2E_TESTS = (process.env.KILN_E2E_TESTS?.split(',') ?? [
  'test_relu', 'test_leakyrelu_default', 'test_conv_with_strides_and_asymmetric_padding', 'test_gemm_all_attributes',
  'test_softmax_default_axis', 'test_maxpool_2d_pads', 'test_averagepool_2d_pads_count_include_pad', 'test_batchnorm_example',
  'test_resize_upsample_scales_nearest', 'test_concat_3d_axis_1', 'test_slice', 'test_transpose_default',
  'test_split_equal_parts_1d_opset18', 'test_clip_default_min', 'test_reduce_mean_default_axes_keepdims_example', 'test_cast_FLOAT_to_DOUBLE', 'test_mean_example', 'test_pow_types_float32_int64',
  'test_gather_0', 'test_layer_normalization_4d_axis1', 'test_matmul_4d', 'test_where_example', 'test_cast_FLOAT_to_INT32',
  'test_sce_mean_weight_ii', 'test_nllloss_NCd1d2_with_weight_reduction_mean', 'test_hannwindow', 'test_compress_0', 'test_swish',
  'test_layer_normalization_4d_axis_negative_1_expanded', 'test_reduce_sum_default_axes_keepdims_example',
  'test_reduce_sum_do_not_keepdims_example', 'test_reduce_log_sum_exp_negative_axes_keepdims_random', 'test_reduce_l2_keep_dims_example',
]).filter((t) => fs.existsSync(path.join(CORPUS, t, 'model.onnx')));

function close(actual: ArrayLike<number | bigint>, expected: ArrayLike<number | bigint>): string | null {
  if (actual.length !== expected.length) return `length ${actual.length} vs ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    const a = Number(actual[i]), e = Number(expected[i]);
    if ((Number.isNaN(e) && Number.isNaN(a)) || a === e) continue; // NaN == NaN; equal infinities
    if (!(Math.abs(a - e) <= 1e-5 + 1e-3 * Math.abs(e))) return `element ${i}: ${a} vs ${e}`;
  }
  return null;
}

describe.skipIf(core === null || E2E_TESTS.length === 0)('corpus end to end (CPU backend)', () => {
  it.for(E2E_TESTS)('%s', (test, { skip }) => {
    const dir = path.join(CORPUS, test);
    const { network, inputs, outputs } = parseOnnxSync(path.join(dir, 'model.onnx'));
    let ctx: ReturnType<ReturnType<Core['Engine']['loadSync']>['createContext']>;
    try {
      const plan = core!.Builder.buildSync(network, { backend: 'cpu' });
      ctx = core!.Engine.loadSync(plan).createContext({ numThreads: 1 });
    } catch (e) {
      // A layer the CPU backend does not implement yet is the backend's gap, not a mapping bug.
      if ((e as { code?: string }).code === 'KILN_E_UNSUPPORTED') return skip((e as Error).message);
      throw e;
    }
    const data = path.join(dir, 'test_data_set_0');
    const feeds: Record<string, InstanceType<Core['Tensor']>> = {};
    inputs.forEach((inp, i) => {
      feeds[inp.name] = readTensorProto(fs.readFileSync(path.join(data, `input_${i}.pb`))).tensor;
    });
    let got: Record<string, InstanceType<Core['Tensor']>>;
    try {
      got = ctx.runSync(feeds);
    } catch (e) {
      if ((e as { code?: string }).code === 'KILN_E_UNSUPPORTED') return skip((e as Error).message);
      throw e;
    }
    outputs.forEach((out, i) => {
      const want = readTensorProto(fs.readFileSync(path.join(data, `output_${i}.pb`))).tensor;
      const g = got[out.name]!;
      expect(g, `output ${out.name}`).toBeDefined();
      expect(g.type).toBe(want.type);
      expect([...g.dims]).toEqual([...want.dims]);
      expect(close(g.data as ArrayLike<number>, want.data as ArrayLike<number>)).toBeNull();
    });
  });
});
