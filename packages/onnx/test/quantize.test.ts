/**
 * QuantizeLinear / DequantizeLinear mapping: the ONNX corpus cases Kiln supports run and match their expected
 * outputs exactly; blocked and sub-byte / float8 cases are reported as unsupported with a reason.
 * Needs the built binding and the corpus beside the checkout (skipped otherwise).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseOnnxSync, readTensorProto, supportedOps } from '../src/index';

const CORPUS = process.env.KILN_ONNX_CORPUS ?? path.resolve(__dirname, '../../../../shared/onnx-backend-tests/node');

type Core = typeof import('@kiln/core');
let core: Core | null = null;
try {
  core = await import('@kiln/core');
  core.backends();
} catch {
  core = null;
}

const RUNS = [
  'test_quantizelinear', 'test_quantizelinear_axis', 'test_dequantizelinear', 'test_dequantizelinear_axis',
  // scale and zero point computed at run time (DynamicQuantizeLinear's function body)
  'test_dynamicquantizelinear_expanded', 'test_dynamicquantizelinear_max_adjusted_expanded', 'test_dynamicquantizelinear_min_adjusted_expanded',
].filter((t) =>
  fs.existsSync(path.join(CORPUS, t, 'model.onnx')),
);
const UNSUPPORTED = ['test_quantizelinear_blocked_symmetric', 'test_dequantizelinear_blocked', 'test_quantizelinear_int4'].filter((t) =>
  fs.existsSync(path.join(CORPUS, t, 'model.onnx')),
);

describe('Q/DQ ops', () => {
  it('are listed in supportedOps', () => {
    expect(supportedOps).toContain('QuantizeLinear');
    expect(supportedOps).toContain('DequantizeLinear');
  });

  describe.skipIf(core === null || RUNS.length === 0)('corpus', () => {
    it.for(RUNS)('%s', (test) => {
      const dir = path.join(CORPUS, test);
      const { network, inputs, outputs } = parseOnnxSync(path.join(dir, 'model.onnx'));
      const ctx = core!.Engine.loadSync(core!.Builder.buildSync(network)).createContext({ numThreads: 1 });
      const data = path.join(dir, 'test_data_set_0');
      const feeds: Record<string, InstanceType<Core['Tensor']>> = {};
      inputs.forEach((inp, i) => {
        feeds[inp.name] = readTensorProto(fs.readFileSync(path.join(data, `input_${i}.pb`))).tensor;
      });
      const got = ctx.runSync(feeds);
      outputs.forEach((out, i) => {
        const want = readTensorProto(fs.readFileSync(path.join(data, `output_${i}.pb`))).tensor;
        const g = got[out.name]!;
        expect(g.type).toBe(want.type);
        expect([...g.dims]).toEqual([...want.dims]);
        expect(Array.from(g.data as ArrayLike<number>)).toEqual(Array.from(want.data as ArrayLike<number>));
      });
    });
  });

  describe.skipIf(UNSUPPORTED.length === 0)('unsupported forms', () => {
    it.for(UNSUPPORTED)('%s is reported with a reason', (test) => {
      let err: unknown;
      try {
        parseOnnxSync(path.join(CORPUS, test, 'model.onnx'));
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: expect.stringMatching(/^KILN_E_ONNX_(UNSUPPORTED|INVALID)$/) });
    });
  });
});
