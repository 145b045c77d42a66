/**
 * Builder.buildWithReport: tactic timing, the timing cache round trip (cold build misses, warm build hits with
 * the same tactic choices), config validation. Needs the built addon (`pnpm --filter @kiln/binding build`).
 */
import { describe, expect, it } from 'vitest';
import { Builder, Engine, KilnError, Network, Tensor } from '../src/index';
import { configJson } from '../src/builder';

function seeded(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

function cnn(): Network {
  const net = new Network();
  let t = net.addInput('x', 'float32', [1, 8, 12, 12]);
  for (let i = 0; i < 2; i++) {
    const w = net.addConstant(new Tensor('float32', seeded(8 * 8 * 9, i + 1), [8, 8, 3, 3]), `w${i}`);
    t = net.addConvolution(t, w, undefined, { pads: [1, 1, 1, 1] });
  }
  net.markOutput(t, 'y');
  return net;
}

describe('Builder.buildWithReport', () => {
  it('fills the timing cache cold and reuses it warm', async () => {
    const cold = await Builder.buildWithReport(cnn());
    expect(cold.report.timingCache.misses).toBe(1);
    expect(cold.report.timingCache.hits).toBe(1); // the second conv has the first one's signature
    expect(cold.report.tacticTimeMs).toBeGreaterThan(0);
    expect(cold.timingCache.byteLength).toBeGreaterThan(0);
    const warm = Builder.buildWithReportSync(cnn(), { timingCache: cold.timingCache });
    expect(warm.report.timingCache.misses).toBe(0);
    expect(warm.report.tacticTimeMs * 10).toBeLessThanOrEqual(cold.report.tacticTimeMs);
    const tactics = (plan: Uint8Array) => Engine.loadSync(plan).info.layers.map((l) => (l as { tactic?: string }).tactic);
    expect(tactics(warm.plan)).toEqual(tactics(cold.plan));
    expect(tactics(cold.plan).every((t) => typeof t === 'string')).toBe(true);
  });

  it('reports an unusable cache and builds anyway', () => {
    const r = Builder.buildWithReportSync(cnn(), { timingCache: new Uint8Array([1, 2, 3]), builderOptimizationLevel: 1 });
    expect(r.report.timingCache.rejected).toBe('KILN_E_CORRUPT_CACHE');
    expect(r.report.warnings.length).toBe(1);
    expect(r.plan.byteLength).toBeGreaterThan(0);
  });

  it('validates the new config fields', () => {
    expect(JSON.parse(configJson({ builderOptimizationLevel: 0, ignoreTimingCacheMismatch: true }))).toMatchObject({
      builderOptimizationLevel: 0,
      ignoreTimingCacheMismatch: true,
    });
    expect(() => configJson({ builderOptimizationLevel: 7 })).toThrow(KilnError);
    expect(() => configJson({ timingCache: [1, 2] as unknown as Uint8Array })).toThrow(/Uint8Array/);
  });
});
