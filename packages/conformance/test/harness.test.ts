/** Unit tests of the suites' own machinery (comparison rule, mutations, zip reader, report helpers). */
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compareTensors, halfToNumber } from '../src/compare.js';
import { mutate } from '../src/mutate.js';
import { primaryOps, summarize } from '../src/report.js';
import type { NodeTestResult } from '../src/node-test.js';
import { readZipEntries } from '../src/zip.js';

const t = (type: string, data: ArrayLike<number | bigint>, dims: number[]) => ({ type, data, dims });
const TOL = { rtol: 1e-3, atol: 1e-4 };

describe('compareTensors', () => {
  it('applies |a-e| <= atol + rtol*|e|, NaN == NaN, exact infinities', () => {
    expect(compareTensors('y', t('float32', [1.0009, NaN, Infinity], [3]), t('float32', [1, NaN, Infinity], [3]), TOL)).toBeNull();
    expect(compareTensors('y', t('float32', [1.002], [1]), t('float32', [1], [1]), TOL)).toMatch(/1\/1 values differ/);
    expect(compareTensors('y', t('float32', [NaN], [1]), t('float32', [0], [1]), TOL)).not.toBeNull();
    expect(compareTensors('y', t('float32', [-Infinity], [1]), t('float32', [Infinity], [1]), TOL)).not.toBeNull();
  });
  it('checks dtype and shape before values; integers exact', () => {
    expect(compareTensors('y', t('int64', [1n], [1]), t('int32', [1], [1]), TOL)).toMatch(/dtype int64, expected int32/);
    expect(compareTensors('y', t('float32', [1, 2], [2, 1]), t('float32', [1, 2], [1, 2]), TOL)).toMatch(/shape/);
    expect(compareTensors('y', t('int64', [5n], [1]), t('int64', [6n], [1]), TOL)).toMatch(/exact/);
    expect(compareTensors('y', t('bool', [1, 0], [2]), t('bool', [1, 0], [2]), TOL)).toBeNull();
  });
  it('decodes float16 bits', () => {
    expect(halfToNumber(0x3c00)).toBe(1);
    expect(halfToNumber(0xc000)).toBe(-2);
    expect(halfToNumber(0x7c00)).toBe(Infinity);
    expect(Number.isNaN(halfToNumber(0x7e00))).toBe(true);
    expect(halfToNumber(0x0001)).toBe(2 ** -24);
  });
});

describe('mutate', () => {
  const input = new Uint8Array(Array.from({ length: 100 }, (_, i) => i));
  it('is deterministic per (seed, index) and always changes the bytes', () => {
    for (let i = 0; i < 40; i++) {
      const a = mutate(input, 42, i);
      expect(mutate(input, 42, i)).toEqual(a);
      expect(Buffer.compare(Buffer.from(a.bytes), Buffer.from(input))).not.toBe(0);
    }
  });
  it('cycles through the four kinds', () => {
    expect([0, 1, 2, 3].map((i) => mutate(input, 1, i).kind)).toEqual(['flip', 'truncate', 'insert', 'duplicate']);
  });
});

describe('zip reader', () => {
  it('reads stored and deflated entries', () => {
    // Hand-assemble a two-entry archive (local headers, central directory, EOCD).
    const entries = [
      { name: 'a.txt', data: Buffer.from('hello'), method: 0 },
      { name: 'd/b.bin', data: Buffer.from('x'.repeat(1000)), method: 8 },
    ];
    const locals: Buffer[] = [];
    const centrals: Buffer[] = [];
    let offset = 0;
    for (const e of entries) {
      const comp = e.method === 8 ? deflateRawSync(e.data) : e.data;
      const name = Buffer.from(e.name);
      const lh = Buffer.alloc(30);
      lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(e.method, 8);
      lh.writeUInt32LE(comp.length, 18); lh.writeUInt32LE(e.data.length, 22); lh.writeUInt16LE(name.length, 26);
      const ch = Buffer.alloc(46);
      ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(e.method, 10);
      ch.writeUInt32LE(comp.length, 20); ch.writeUInt32LE(e.data.length, 24); ch.writeUInt16LE(name.length, 28);
      ch.writeUInt32LE(offset, 42);
      locals.push(lh, name, comp);
      centrals.push(ch, name);
      offset += 30 + name.length + comp.length;
    }
    const cd = Buffer.concat(centrals);
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0); eocd.writeUInt16LE(2, 8); eocd.writeUInt16LE(2, 10);
    eocd.writeUInt32LE(cd.length, 12); eocd.writeUInt32LE(offset, 16);
    const zip = new Uint8Array(Buffer.concat([...locals, cd, eocd]));
    const got = readZipEntries(zip).map((e) => [e.name, Buffer.from(e.data()).toString()]);
    expect(got).toEqual([['a.txt', 'hello'], ['d/b.bin', 'x'.repeat(1000)]]);
    expect(() => readZipEntries(new Uint8Array(10))).toThrow(/not a zip/);
  });
});

describe('report helpers', () => {
  const r = (name: string, status: NodeTestResult['status'], ops: string[]): NodeTestResult => ({ name, status, ops, topLevelOps: ops, representable: true, ms: 0 });
  it('attributes expanded tests to their function op and counts claimed tests', () => {
    const results = [
      r('test_softmax_axis_0', 'pass', ['Softmax']),
      r('test_softmax_axis_0_expanded', 'fail', ['Exp', 'ReduceMax', 'Sub', 'ReduceSum', 'Div']),
      r('test_exp', 'pass', ['Exp']),
      r('test_string_concat', 'unsupported', ['StringConcat']),
    ];
    expect(primaryOps(results).get('test_softmax_axis_0_expanded')).toBe('Softmax');
    const s = summarize(results, ['Softmax', 'Exp']);
    expect(s).toMatchObject({ total: 4, pass: 2, fail: 1, unsupported: 1, claimed: 2, claimedPass: 2 });
  });
});
