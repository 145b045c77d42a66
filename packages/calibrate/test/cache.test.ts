import { describe, expect, it } from 'vitest';
import { amaxToScale, readCalibrationCache, readRanges, scaleBits, trtVersionNumber, writeCalibrationCache, writeRangesJson } from '../src/index';

describe('TensorRT calibration cache', () => {
  it('encodes the version number per NV_TENSORRT_VERSION', () => {
    expect(trtVersionNumber('8.6.1')).toBe(8601);
    expect(trtVersionNumber('7.0.0')).toBe(7000);
    expect(trtVersionNumber('10.3.0')).toBe(100300);
    expect(trtVersionNumber('10.16.1')).toBe(101601);
    expect(() => trtVersionNumber('ten')).toThrow(expect.objectContaining({ code: 'KILN_E_INVALID_VALUE' }));
  });

  it('writes the bits of f32(amax)/127 in lowercase hex (calibration.md §3.2)', () => {
    const table: Array<[number, string]> = [[1, '3c010204'], [4, '3d010204'], [6, '3d418306'], [127, '3f800000'], [254, '40000000'], [255, '40008102']];
    for (const [amax, hex] of table) expect(scaleBits(amax).toString(16).padStart(8, '0')).toBe(hex);
    const text = writeCalibrationCache({ data: 255, 'conv/out:0': 6 }, { trtVersion: '8.6.1', algorithm: 'entropy2' });
    expect(text).toBe('TRT-8601-EntropyCalibration2\ndata: 40008102\nconv/out:0: 3d418306\n');
    expect(writeCalibrationCache({ x: 1 }, { trtVersion: '10.3.0', algorithm: 'minmax' }).split('\n')[0]).toBe('TRT-100300-MinMaxCalibration');
    expect(writeCalibrationCache({ x: 1 }, { trtVersion: '10.3.0', algorithm: 'entropy' }).split('\n')[0]).toBe('TRT-100300-EntropyCalibration');
  });

  it('round-trips every scale bit-exactly, any order, names with colons, +inf and CRLF', () => {
    const ranges: Record<string, number> = {};
    for (let i = 0; i < 200; i++) ranges[`t:${i}: x`] = Math.exp((i - 100) / 7);
    const text = writeCalibrationCache(ranges, { trtVersion: '8.6.1' });
    const lines = text.trim().split('\n');
    const shuffled = [lines[0], ...lines.slice(1).reverse(), '(Unnamed Layer* 48) [Constant]_output: 7f800000'].join('\r\n');
    const cache = readCalibrationCache(shuffled);
    expect(cache.version).toBe(8601);
    expect(cache.algo).toBe('EntropyCalibration2');
    for (const [name, amax] of Object.entries(ranges)) {
      expect(cache.bits[name]).toBe(scaleBits(amax));
      expect(cache.scales[name]).toBe(amaxToScale(amax));
    }
    expect(cache.scales['(Unnamed Layer* 48) [Constant]_output']).toBe(Infinity);
    const back = readRanges(shuffled);
    expect(back.format).toBe('trt-cache');
    expect(back.ranges['(Unnamed Layer* 48) [Constant]_output']).toBeUndefined();
    expect(scaleBits(back.ranges['t:3: x'])).toBe(scaleBits(ranges['t:3: x']));
  });

  it('refuses malformed caches with coded errors naming the line', () => {
    expect(() => readCalibrationCache('hello\n')).toThrow(expect.objectContaining({ code: 'KILN_E_INVALID_INPUT' }));
    expect(() => readCalibrationCache('TRT-8601-EntropyCalibration2\nbroken line\n')).toThrow(/line 2/);
  });

  it('reads and writes Kiln ranges JSON', () => {
    const text = writeRangesJson({ a: 1.5 }, 'entropy2');
    expect(JSON.parse(text)).toEqual({ version: 1, algorithm: 'entropy2', ranges: { a: 1.5 } });
    expect(readRanges(text)).toEqual({ ranges: { a: 1.5 }, format: 'json', algorithm: 'entropy2' });
    expect(() => readRanges('{"version":1,"ranges":{"a":-1}}')).toThrow(expect.objectContaining({ code: 'KILN_E_INVALID_INPUT' }));
  });
});
