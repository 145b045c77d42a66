import { describe, expect, it } from 'vitest';
import { buildProfile, parseShapes } from '../src/shapes';
import { latencyStats, percentile } from '../src/stats';
import { parseTrtexecArgs } from '../src/commands/trtexec-flags';

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code ?? (e as Error).name;
  }
  return undefined;
};

describe('parseShapes', () => {
  it('parses trtexec syntax', () => {
    expect([...parseShapes('input:1x3x224x224,mask:1x10')]).toEqual([['input', [1, 3, 224, 224]], ['mask', [1, 10]]]);
  });
  it('splits on the last colon and honours quoted names', () => {
    expect([...parseShapes('input:0:1x3')]).toEqual([['input:0', [1, 3]]]);
    expect([...parseShapes("'input:0':1x3,'a,b':2")]).toEqual([['input:0', [1, 3]], ['a,b', [2]]]);
  });
  it('accepts scalars', () => {
    expect(parseShapes('s:').get('s')).toEqual([]);
  });
  it('rejects malformed specs with KILN_E_INVALID_PROFILE', () => {
    for (const bad of ['input', 'input:1x-3', 'input:1xx3', "'input:1x3", 'a:1,a:2', ':1x3', 'a:1.5']) {
      expect(codeOf(() => parseShapes(bad)), bad).toBe('KILN_E_INVALID_PROFILE');
    }
  });
});

describe('buildProfile', () => {
  const inputs = [{ name: 'x', dims: [-1, 3, -1, -1] }, { name: 'k', dims: [4] }];
  it('defaults dynamic dims to 1 and reports it', () => {
    const r = buildProfile(inputs, {});
    expect(r.profile).toEqual({ x: { min: [1, 3, 1, 1], opt: [1, 3, 1, 1], max: [1, 3, 1, 1] } });
    expect(r.defaulted).toEqual(['x']);
  });
  it('uses --shapes for min=opt=max', () => {
    expect(buildProfile(inputs, { shapes: 'x:2x3x8x8' }).profile.x).toEqual({ min: [2, 3, 8, 8], opt: [2, 3, 8, 8], max: [2, 3, 8, 8] });
  });
  it('combines min/opt/max and fills missing ones from opt', () => {
    const r = buildProfile(inputs, { minShapes: 'x:1x3x8x8', optShapes: 'x:4x3x16x16', maxShapes: 'x:8x3x32x32' });
    expect(r.profile.x).toEqual({ min: [1, 3, 8, 8], opt: [4, 3, 16, 16], max: [8, 3, 32, 32] });
    expect(buildProfile(inputs, { optShapes: 'x:4x3x16x16' }).profile.x.min).toEqual([4, 3, 16, 16]);
  });
  it('builds for the shape of an input file when no flag names the input', () => {
    const r = buildProfile(inputs, { shapes: 'k:4' }, new Map([['x', [2, 3, 5, 5]]]));
    expect(r.profile.x).toEqual({ min: [2, 3, 5, 5], opt: [2, 3, 5, 5], max: [2, 3, 5, 5] });
    expect(r.fromFiles).toEqual(['x']);
    // A file that does not fit is left to the runtime check; flags win over files.
    expect(buildProfile(inputs, {}, new Map([['x', [2, 4, 5, 5]]])).defaulted).toEqual(['x']);
    expect(buildProfile(inputs, { shapes: 'x:1x3x8x8' }, new Map([['x', [2, 3, 5, 5]]])).profile.x.opt).toEqual([1, 3, 8, 8]);
  });
  it('checks names, ranks, fixed dims and ordering', () => {
    expect(codeOf(() => buildProfile(inputs, { shapes: 'y:1' }))).toBe('KILN_E_INVALID_PROFILE');
    expect(codeOf(() => buildProfile(inputs, { shapes: 'x:1x3x8' }))).toBe('KILN_E_INVALID_PROFILE');
    expect(codeOf(() => buildProfile(inputs, { shapes: 'x:1x4x8x8' }))).toBe('KILN_E_INVALID_PROFILE');
    expect(codeOf(() => buildProfile(inputs, { minShapes: 'x:4x3x8x8', maxShapes: 'x:2x3x8x8', optShapes: 'x:3x3x8x8' }))).toBe('KILN_E_INVALID_PROFILE');
    expect(codeOf(() => buildProfile(inputs, { shapes: 'x:1x3x8x8', minShapes: 'x:1x3x8x8' }))).toBe('KILN_E_INVALID_PROFILE');
    expect(buildProfile(inputs, { shapes: 'k:4' }).profile.k).toEqual({ min: [4], opt: [4], max: [4] });
  });
});

describe('stats', () => {
  it('computes nearest-rank percentiles', () => {
    const s = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(s, 90)).toBe(90);
    expect(percentile(s, 99)).toBe(99);
    expect(percentile([5], 99)).toBe(5);
    expect(latencyStats([3, 1, 2, 4])).toEqual({ min: 1, mean: 2.5, median: 2.5, p90: 4, p95: 4, p99: 4, max: 4 });
  });
});

describe('trtexec flags', () => {
  it('parses supported flags', () => {
    const r = parseTrtexecArgs(['--onnx=m.onnx', '--shapes=x:1x3', '--iterations', '20', '--noTF32']);
    expect(r.values).toEqual({ onnx: 'm.onnx', shapes: 'x:1x3', iterations: '20' });
    expect([...r.bools]).toEqual(['noTF32']);
  });
  it('refuses unsupported trtexec flags by name, with the reason', () => {
    for (const flag of ['--int8', '--bf16', '--best', '--infStreams=2', '--calib=c.cache', '--noCompilationCache']) {
      expect(() => parseTrtexecArgs(['--onnx=m.onnx', flag])).toThrow(new RegExp(`^${flag.split('=')[0]}: `));
      expect(codeOf(() => parseTrtexecArgs([flag]))).toBe('KILN_E_UNSUPPORTED');
    }
    expect(() => parseTrtexecArgs(['--bf16'])).toThrow('--bf16: BF16 precision is not implemented in Kiln; use --fp16');
  });
  it('takes --timingCacheFile and --builderOptimizationLevel (issue 4)', () => {
    const r = parseTrtexecArgs(['--onnx=m.onnx', '--timingCacheFile=t.kilntc', '--builderOptimizationLevel=3']);
    expect(r.values).toEqual({ onnx: 'm.onnx', timingCacheFile: 't.kilntc', builderOptimizationLevel: '3' });
  });
  it('treats unknown flags as usage errors', () => {
    expect(codeOf(() => parseTrtexecArgs(['--frobnicate']))).toBe('UsageError');
    expect(codeOf(() => parseTrtexecArgs(['model.onnx']))).toBe('UsageError');
  });
});
