/**
 * The JS side of the CUDA backend's API (issue 3): builder precision/format/device options as they are
 * serialized for the native builder, I/O format validation, `Device.list()` on a machine without a GPU,
 * and `ExecutionContext.benchmark` (native timing loop, feature-detected). Runs on the CPU-only build.
 */
import { describe, expect, it } from 'vitest';
import { Builder, Device, Engine, KilnError, Network, Tensor, ioFormatsOf } from '../src/index';
import { configJson } from '../src/builder';
import { benchmarkOptionsJson, parseBenchmarkResult } from '../src/benchmark';
import { binding } from '../src/native';

const hasCudaDevice = (() => {
  try {
    return Device.list().length > 0;
  } catch {
    return false;
  }
})();

describe('builder precision options', () => {
  it('serialize with the contract field names', () => {
    const j = JSON.parse(configJson({
      fp16: true,
      tf32: false,
      layerPrecisions: { conv1: 'fp32', fc: 'fp16' },
      inputIOFormats: ['FP16:CHW'],
      outputIOFormats: ['fp32:hwc', 'fp16:chw'],
      device: 1,
    }));
    expect(j).toMatchObject({
      fp16: true,
      tf32: false,
      layerPrecisions: { conv1: 'fp32', fc: 'fp16' },
      inputIoFormats: ['fp16:chw'],
      outputIoFormats: ['fp32:hwc', 'fp16:chw'],
      device: 1,
    });
    expect(j).not.toHaveProperty('inputIOFormats');
  });

  it('leave the JSON unchanged when not given (native defaults: fp16 off, tf32 on, device 0)', () => {
    const j = JSON.parse(configJson({}));
    for (const k of ['fp16', 'tf32', 'layerPrecisions', 'inputIoFormats', 'outputIoFormats', 'device']) expect(j).not.toHaveProperty(k);
  });

  it.each([
    [{ inputIOFormats: ['fp16:chw', 'int8:chw'] }, /inputIOFormats\[1\] = "int8:chw" is not a valid I\/O format/],
    [{ outputIOFormats: ['fp16'] }, /outputIOFormats\[0\] = "fp16" is not a valid I\/O format; use <fp32\|fp16>:<chw\|hwc>/],
    [{ inputIOFormats: ['fp16:hwc8'] }, /"fp16:hwc8"/],
    [{ inputIOFormats: 'fp16:chw' }, /inputIOFormats must be an array/],
    [{ layerPrecisions: { conv1: 'int8' } }, /layerPrecisions\['conv1'\] must be 'fp32' or 'fp16'/],
    [{ device: -1 }, /device must be a non-negative integer/],
    [{ device: 1.5 }, /device must be a non-negative integer/],
    [{ fp16: 'yes' }, /fp16 must be a boolean/],
    [{ onProgress: 3 }, /onProgress must be a function/],
  ])('rejects %j with KILN_E_INVALID_VALUE', (config, message) => {
    let err: unknown;
    try {
      configJson(config as never);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).code).toBe('KILN_E_INVALID_VALUE');
    expect((err as KilnError).message).toMatch(message);
  });

  it('ioFormatsOf normalizes case and spaces', () => {
    expect(ioFormatsOf('inputIOFormats', [' fp32:CHW ', 'Fp16:Hwc'])).toEqual(['fp32:chw', 'fp16:hwc']);
    expect(ioFormatsOf('inputIOFormats', undefined)).toBeUndefined();
  });
});

describe('Device.list', () => {
  it.skipIf(hasCudaDevice)('throws KILN_E_BACKEND_UNAVAILABLE with a reason on a machine without a usable GPU', () => {
    let err: unknown;
    try {
      Device.list();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).code).toBe('KILN_E_BACKEND_UNAVAILABLE');
    expect((err as KilnError).message.length).toBeGreaterThan(10);
  });

  it.skipIf(!hasCudaDevice)('lists devices with every documented field', () => {
    const list = Device.list();
    expect(list.length).toBeGreaterThan(0);
    for (const d of list) {
      expect(d.computeCapability).toMatch(/^\d+\.\d+$/);
      expect(d.totalMemoryBytes).toBeGreaterThan(0);
      expect(d.smCount).toBeGreaterThan(0);
      expect(typeof d.cudnnVersion).toBe('string');
    }
  });

  it('maps an uncoded native failure to KILN_E_BACKEND_UNAVAILABLE', () => {
    const b = binding as unknown as { listDevices?: unknown };
    // The namespace object of a CommonJS module is frozen in ESM; only patchable when the loader allows it.
    const desc = Object.getOwnPropertyDescriptor(b, 'listDevices');
    if (desc && !desc.writable && !desc.configurable) return;
    const saved = b.listDevices;
    try {
      Object.defineProperty(b, 'listDevices', { value: () => { throw new Error('libcuda.so.1: cannot open shared object file'); }, configurable: true, writable: true });
    } catch {
      return;
    }
    try {
      expect(() => Device.list()).toThrow(expect.objectContaining({ code: 'KILN_E_BACKEND_UNAVAILABLE', message: expect.stringMatching(/libcuda\.so\.1/) }));
    } finally {
      if (saved === undefined) delete b.listDevices;
      else Object.defineProperty(b, 'listDevices', { value: saved, configurable: true, writable: true });
    }
  });
});

describe('benchmark options and results', () => {
  it('serializes options with defaults', () => {
    expect(JSON.parse(benchmarkOptionsJson({ iterations: 5, useCudaGraph: true }))).toEqual({ iterations: 5, warmup: 1, useCudaGraph: true, noDataTransfers: false, profile: false });
  });

  it.each([[{ iterations: 0 }], [{ warmup: -1 }], [{ iterations: 2.5 }], [{ profile: 'yes' }]])('rejects %j', (o) => {
    expect(() => benchmarkOptionsJson(o as never)).toThrow(expect.objectContaining({ code: 'KILN_E_INVALID_VALUE' }));
  });

  it('parses the native result', () => {
    const r = parseBenchmarkResult(JSON.stringify({
      backend: 'cuda', iterations: 2, h2dMs: [0.1, 0.2], computeMs: [1, 2], d2hMs: [0.3, 0.4], totalMs: [1.4, 2.6],
      cudaGraph: false, cudaGraphReason: 'dynamic shapes',
      layers: [{ name: 'conv1', type: 'convolution', tactic: 'cudnn:algo=1', ms: 0.5 }],
    }));
    expect(r).toEqual({
      backend: 'cuda', iterations: 2, h2dMs: [0.1, 0.2], computeMs: [1, 2], d2hMs: [0.3, 0.4], totalMs: [1.4, 2.6],
      cudaGraph: false, cudaGraphReason: 'dynamic shapes',
      layers: [{ name: 'conv1', type: 'convolution', tactic: 'cudnn:algo=1', ms: 0.5 }],
    });
  });

  it('rejects malformed native results as KILN_E_INTERNAL', () => {
    expect(() => parseBenchmarkResult('{')).toThrow(expect.objectContaining({ code: 'KILN_E_INTERNAL' }));
    expect(() => parseBenchmarkResult(JSON.stringify({ computeMs: [1], h2dMs: [1, 2] }))).toThrow(expect.objectContaining({ code: 'KILN_E_INTERNAL' }));
  });
});

function tinyNetwork(): Network {
  const net = new Network();
  const x = net.addInput('x', 'float32', [2, 8]);
  const y = net.addActivation(x, { kind: 'relu' }, { name: 'act' });
  net.markOutput(y, 'y');
  return net;
}

describe('CPU builds and runs with the new options', () => {
  it('builds with precision options and a progress callback', async () => {
    const calls: Array<[number, number]> = [];
    const plan = await Builder.build(tinyNetwork(), { fp16: false, tf32: false, layerPrecisions: { act: 'fp32' }, onProgress: (d, t) => calls.push([d, t]) });
    const engine = await Engine.load(plan);
    expect(engine.info.backend).toBe('cpu');
    // The binding queues each call to the JS thread as tactic selection goes; let the queue drain.
    await new Promise((r) => setImmediate(r));
    expect(calls.length).toBeGreaterThan(0);
    for (const [d, t] of calls) expect(d).toBeLessThanOrEqual(t);
    const [lastDone, lastTotal] = calls[calls.length - 1]!;
    expect(lastDone).toBe(lastTotal);
  });

  it('benchmark runs natively, or says KILN_E_UNSUPPORTED on an older binding', async () => {
    const engine = await Engine.load(await Builder.build(tinyNetwork()));
    const ctx = engine.createContext();
    const feeds = { x: new Tensor('float32', new Float32Array(16).fill(-1), [2, 8]) };
    if (!ctx.canBenchmark) {
      await expect(ctx.benchmark(feeds)).rejects.toMatchObject({ code: 'KILN_E_UNSUPPORTED' });
      return;
    }
    const r = await ctx.benchmark(feeds, { iterations: 3, warmup: 1, profile: true });
    expect(r.backend).toBe('cpu');
    expect(r.computeMs).toHaveLength(3);
    expect(r.h2dMs.every((v) => v === 0)).toBe(true);
    expect(Array.isArray(r.layers)).toBe(true);
  });
});
