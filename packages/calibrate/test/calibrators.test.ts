import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  HistogramCollector,
  computeRanges,
  entropyAmax,
  entropyDivergences,
  expandQuantized,
  klDivergence,
  klDivergenceDirect,
  mergeStats,
  percentileAmax,
  readNpy,
  shareScales,
} from '../src/index';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);
const reference = JSON.parse(readFileSync(fixture('calib-reference.json'), 'utf8')) as {
  cases: Record<string, Record<string, number | string | number[]>>;
  small: { withQuirk: number; noQuirk: number };
};

/** The batches of a case: [batches, ...batchShape] → one Float32Array per batch. */
function batches(file: string): Float32Array[] {
  const a = readNpy(readFileSync(fixture(file)));
  const per = a.data.length / a.dims[0];
  return Array.from({ length: a.dims[0] }, (_, i) => (a.data as Float32Array).subarray(i * per, (i + 1) * per));
}

describe('KL code: calibration.md §1.3 worked examples', () => {
  it('expands merged levels back over the non-empty bins only', () => {
    const p = [1, 0, 2, 3, 5, 3, 1, 7];
    expect(Array.from(expandQuantized(p, 2))).toEqual([2, 0, 2, 2, 4, 4, 4, 4]);
    expect(klDivergence(p, expandQuantized(p, 2))).toBeCloseTo(0.150315, 6);
  });

  const h = new Float64Array([10, 8, 6, 5, 4, 3, 2, 2, 1, 1, 0, 1, 0, 0, 0, 1]);
  const table = {
    noQuirk: { 4: 0.21324, 5: 0.16545, 6: 0.12795, 7: 0.11064, 8: 0.05969, 9: 0.04666, 10: 0.04426, 11: Infinity, 12: 0.03071, 13: Infinity, 14: Infinity, 15: Infinity, 16: 0.034 },
    withQuirk: { 4: 0.21831, 5: 0.16837, 6: 0.1303, 7: 0.1127, 8: 0.05965, 9: 0.04121, 10: 0.03876, 11: Infinity, 12: 0.02461, 13: Infinity, 14: Infinity, 15: Infinity, 16: 0.02374 },
  };

  for (const quirk of [false, true]) {
    const expected = quirk ? table.withQuirk : table.noQuirk;
    it(`matches the 16-bin search table ${quirk ? 'with' : 'without'} the zero-bin quirk (fast and direct paths)`, () => {
      const fast = entropyDivergences(h, { startBin: 4, numQuantizedBins: 4, zeroBinQuirk: quirk });
      const b = h.slice();
      if (quirk) b[0] = b[1];
      for (const [i, d] of fast) {
        const want = expected[i as keyof typeof expected];
        const direct = klDivergenceDirect(b, i, 4);
        if (want === Infinity) {
          expect(d).toBe(Infinity);
          expect(direct).toBe(Infinity);
        } else {
          expect(d).toBeCloseTo(want, 5);
          expect(direct).toBeCloseTo(want, 5);
          expect(Math.abs(d - direct)).toBeLessThan(1e-12);
        }
      }
    });
  }

  it('picks amax 12 without the quirk and 16 with it (the reference script agrees)', () => {
    expect(entropyAmax(h, 1, { startBin: 4, numQuantizedBins: 4, zeroBinQuirk: false }).amax).toBe(12);
    expect(entropyAmax(h, 1, { startBin: 4, numQuantizedBins: 4 }).amax).toBe(16);
    expect(reference.small).toEqual({ withQuirk: 16, noQuirk: 12 });
    expect(entropyAmax(h, 1, { startBin: 4, numQuantizedBins: 4, threshold: 'center' }).amax).toBe(16.5);
  });

  it('prefers the last minimum on exact ties unless told otherwise', () => {
    // Four equal bins then empty ones: every candidate reproduces P exactly (KL 0).
    const flat = new Float64Array([5, 5, 5, 5, 0, 0, 0, 0]);
    expect(entropyAmax(flat, 1, { startBin: 4, numQuantizedBins: 4 }).bins).toBe(8);
    expect(entropyAmax(flat, 1, { startBin: 4, numQuantizedBins: 4, tieBreak: 'first' }).bins).toBe(4);
  });

  it('rejects malformed options with coded errors', () => {
    expect(() => entropyAmax(h, 1, { startBin: 0 })).toThrow(expect.objectContaining({ code: 'KILN_E_INVALID_VALUE' }));
    expect(() => percentileAmax(h, 1, 0)).toThrow(expect.objectContaining({ code: 'KILN_E_INVALID_VALUE' }));
  });
});

describe('calibrators against the numpy reference (scripts/calib-reference.py)', () => {
  for (const [name, ref] of Object.entries(reference.cases)) {
    it(`${name}: histogram and every amax`, () => {
      const c = new HistogramCollector(name);
      for (const b of batches(ref.file as string)) c.add(b);
      const s = c.stats();
      expect(s.counts.length).toBe(ref.numBins);
      expect(s.binWidth).toBe(ref.binWidth);
      expect(s.counts.reduce((a, b) => a + b, 0)).toBe(ref.total);
      expect(computeRanges([s], 'minmax')[name]).toBe(ref.minmax);
      // Same bins → the same candidate → equal up to the last bit of i·w.
      expect(computeRanges([s], 'entropy')[name]).toBeCloseTo(ref.entropy as number, 12);
      expect(entropyAmax(s.counts, s.binWidth, { zeroBinQuirk: false }).amax).toBeCloseTo(ref.entropyNoZeroQuirk as number, 12);
      expect(entropyAmax(s.counts, s.binWidth, { tieBreak: 'first' }).amax).toBeCloseTo(ref.entropyFirstMin as number, 12);
      expect(computeRanges([s], 'percentile')[name]).toBeCloseTo(ref['percentile99.99'] as number, 12);
      expect(computeRanges([s], 'percentile', { percentile: 99.9 })[name]).toBeCloseTo(ref['percentile99.9'] as number, 12);
      expect(percentileAmax(s.counts, s.binWidth, 99)).toBeCloseTo(ref.percentile99 as number, 12);
    });
  }

  it('the prefix-sum search agrees with the direct KL on every candidate of a real histogram', () => {
    const c = new HistogramCollector('t');
    for (const b of batches('calib-growing.npy')) c.add(b);
    const s = c.stats();
    const b = s.counts.slice();
    b[0] = b[1];
    for (const [i, d] of entropyDivergences(s.counts)) {
      if (i % 97 !== 0) continue;
      const direct = klDivergenceDirect(b, i, 128);
      if (direct === Infinity) expect(d).toBe(Infinity);
      else expect(Math.abs(d - direct)).toBeLessThan(1e-9 * Math.max(1, direct));
    }
  });

  it('searches ResNet-50-sized workloads fast (150 tensors of 2048+ bins)', () => {
    const c = new HistogramCollector('t');
    for (const b of batches('calib-laplace.npy')) c.add(b);
    const s = c.stats();
    const t0 = performance.now();
    for (let k = 0; k < 150; k++) entropyAmax(s.counts, s.binWidth);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});

describe('statistics', () => {
  it('grows by appending bins of the first width and skips non-finite values', () => {
    const c = new HistogramCollector('x', { numBins: 4 });
    c.add([0, 1, -2, 4]);
    expect(c.binWidth).toBe(1);
    expect(Array.from(c.counts)).toEqual([1, 1, 1, 1]);
    c.add([NaN, Infinity, 6.5]);
    expect(Array.from(c.counts)).toEqual([1, 1, 1, 1, 0, 0, 1]);
    expect(c.nonFinite).toBe(2);
    expect(c.amax).toBe(6.5);
  });

  it('defers the histogram past all-zero batches', () => {
    const c = new HistogramCollector('x', { numBins: 4 });
    c.add([0, 0, 0]);
    expect(c.stats().counts.length).toBe(0);
    c.add([2, 0]);
    expect(Array.from(c.counts)).toEqual([4, 0, 0, 1]);
  });

  it('merges two runs onto the wider bins', () => {
    const a = new HistogramCollector('x', { numBins: 4 });
    a.add([1, 3.9]);
    const b = new HistogramCollector('x', { numBins: 4 });
    b.add([0.5, 7.9]);
    const m = mergeStats(a.stats(), b.stats());
    expect(m.amax).toBe(7.9);
    expect(m.counts.reduce((x, y) => x + y, 0)).toBe(4);
  });
});

describe('entropy2 scale sharing', () => {
  it('shares one amax across a concat and gives a pool output its input amax', () => {
    const ranges = { a: 1, b: 3, c: 2, p: 0.5, q: 9 };
    const shared = shareScales(ranges, [
      { opType: 'MaxPool', name: 'pool', inputs: ['a'], outputs: ['p'] },
      { opType: 'Concat', name: 'cat', inputs: ['p', 'b'], outputs: ['c'] },
    ]);
    expect(shared).toEqual({ a: 3, b: 3, c: 3, p: 3, q: 9 });
    expect(shareScales({ x: 4, y: 1 }, [{ opType: 'AveragePool', name: 'ap', inputs: ['x'], outputs: ['y'] }])).toEqual({ x: 4, y: 4 });
  });
});
