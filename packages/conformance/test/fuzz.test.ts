/**
 * Malformed input never crashes Kiln: 1,000 seeded mutations of a valid .onnx and 1,000 of a valid plan
 * each end in a coded KilnError (KILN_E_*, not KILN_E_INTERNAL) or a correct result. The mutations run
 * in a child process, so a native crash fails the test with the mutation that caused it.
 */
import { describe, expect, it } from 'vitest';
import { runFuzz } from '../src/fuzz.js';

const MUTATIONS = 1000;

describe('fuzz: mutated inputs end in coded errors or correct results', () => {
  for (const target of ['onnx', 'plan'] as const) {
    it(`${MUTATIONS} mutations of small_cnn.${target === 'onnx' ? 'onnx' : 'plan'}`, async () => {
      const { summary, crash } = await runFuzz(target, 'small_cnn', MUTATIONS, target === 'onnx' ? 1234 : 5678);
      expect(crash).toBeNull();
      console.log(`fuzz ${target}: ${JSON.stringify(summary?.outcomes)}`);
      expect(summary?.failures.slice(0, 10) ?? []).toEqual([]);
      expect(summary?.attempts).toBe(MUTATIONS);
    }, 90_000);
  }
});
