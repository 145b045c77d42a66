/** Timing-cache bytes through the binding: build with report, info, export/import, merge, prune, coded errors. */
import { describe, expect, it } from 'vitest';
import {
  NativeNetwork,
  buildPlanWithReport,
  buildPlanWithReportSync,
  deviceIdentity,
  timingCacheDevice,
  timingCacheEmpty,
  timingCacheExport,
  timingCacheImport,
  timingCacheInfo,
  timingCacheMerge,
  timingCachePrune,
} from '../index.js';

function f32(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

/** x [1,4,10,10] → conv 3×3 (4→4, pad 1) → conv 1×1 (4→6). */
function net(): NativeNetwork {
  const n = new NativeNetwork();
  const x = n.addInput('x', 'float32', [1, 4, 10, 10]);
  const w3 = n.addConstant('w3', 'float32', [4, 4, 3, 3], f32(Array.from({ length: 144 }, (_, i) => ((i * 7) % 11) / 10 - 0.5)));
  const w1 = n.addConstant('w1', 'float32', [6, 4, 1, 1], f32(Array.from({ length: 24 }, (_, i) => ((i * 5) % 7) / 7 - 0.5)));
  const conv = (pads: number[]) => JSON.stringify({ type: 'convolution', strides: [1, 1], pads, dilations: [1, 1], groups: 1, paddingMode: 'explicit' });
  const [c1] = n.addLayer('c1', conv([1, 1, 1, 1]), [x, w3]);
  const [c2] = n.addLayer('c2', conv([0, 0, 0, 0]), [c1!, w1]);
  n.markOutput(c2!);
  return n;
}

describe('timing cache binding', () => {
  it('builds with a report and round-trips the cache', async () => {
    const cold = await buildPlanWithReport(net(), '', 'cpu');
    const report = JSON.parse(cold.reportJson);
    expect(report.timingCache.misses).toBe(2);
    const info = JSON.parse(timingCacheInfo(cold.timingCache));
    expect(info.entries).toBe(2);
    expect(info.device.identity).toBe(deviceIdentity('cpu'));
    expect(JSON.parse(timingCacheDevice('cpu')).identity).toBe(deviceIdentity('cpu'));
    expect(info.keys[0].signature).toMatch(/^op=convolution;/);
    const warm = buildPlanWithReportSync(net(), '', 'cpu', cold.timingCache);
    expect(JSON.parse(warm.reportJson).timingCache).toMatchObject({ hits: 2, misses: 0 });

    const jsonl = timingCacheExport(cold.timingCache);
    expect(jsonl.trim().split('\n')).toHaveLength(3);
    expect(JSON.parse(timingCacheInfo(timingCacheImport(jsonl))).entries).toBe(2);
    const merged = timingCacheMerge(timingCacheEmpty('cpu'), cold.timingCache);
    expect(JSON.parse(timingCacheInfo(merged)).entries).toBe(2);
    expect(JSON.parse(timingCacheInfo(timingCachePrune(merged, undefined, 1))).entries).toBe(1);
    expect(JSON.parse(timingCacheInfo(timingCachePrune(merged, 0, undefined))).entries).toBeLessThanOrEqual(2);
  });

  it('throws coded errors on damaged caches', () => {
    const bytes = timingCacheEmpty('cpu');
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return 'no error';
    };
    expect(code(() => timingCacheInfo(bytes.subarray(0, bytes.length - 3)))).toBe('KILN_E_CORRUPT_CACHE');
    expect(code(() => timingCacheImport('not json'))).toBe('KILN_E_CORRUPT_CACHE');
    expect(code(() => deviceIdentity('cuda'))).toBe('KILN_E_BACKEND_UNAVAILABLE');
  });
});
