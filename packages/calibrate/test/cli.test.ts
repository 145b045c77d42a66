/**
 * Acceptance through the built CLI (packages/cli/dist/kiln.js): `kiln calibrate` on a light CNN of the corpus
 * with generated .npy batches, then `kiln build --int8 --calib` from the cache it wrote.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { calibGraph, decodeModelBytes, int8Available, readCalibrationCache, scaleBits, writeNpy } from '../src/index';

const CLI = fileURLToPath(new URL('../../cli/dist/kiln.js', import.meta.url));
const MODEL = fileURLToPath(new URL('../../../../shared/onnx-backend-tests/light/light_squeezenet.onnx', import.meta.url));

function kiln(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000 });
  const lines = r.stderr.trimEnd().split('\n');
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, lastErr: lines[lines.length - 1] };
}

describe.skipIf(!existsSync(CLI) || !existsSync(MODEL))('kiln calibrate (CPU backend, light_squeezenet)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-calib-cli-'));
  const data = join(dir, 'data');
  mkdirSync(data);
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 3; i++) {
    // Whole batches ([1,3,224,224], the input's shape).
    const d = new Float32Array(3 * 224 * 224).map(() => next() * 4 - 2);
    writeFileSync(join(data, `batch_${i}.npy`), writeNpy({ dtype: 'float32', dims: [1, 3, 224, 224], data: d }));
  }

  it('writes a cache covering every input and activation, ranges JSON and Q/DQ ONNX; --json on stdout', () => {
    const cache = join(dir, 'calib.cache');
    const r = kiln(['calibrate', MODEL, '--data', data, '--algo', 'entropy2', '-o', cache, '--trt-version', '10.3.0', '--ranges-json', join(dir, 'r.json'), '--qdq-onnx', join(dir, 'q.onnx'), '--holdout', '1', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { ranges: Record<string, number>; batches: number; written: Record<string, string>; accuracy?: { outputs: Array<{ cosine: number }> } };
    expect(report.batches).toBe(2); // the third batch is held out
    const text = readFileSync(cache, 'utf8');
    expect(text.split('\n')[0]).toBe('TRT-100300-EntropyCalibration2');
    const parsed = readCalibrationCache(text);
    const graph = calibGraph(decodeModelBytes(readFileSync(MODEL)));
    expect(Object.keys(parsed.bits).sort()).toEqual([...graph.dynamic].sort());
    for (const [name, amax] of Object.entries(report.ranges)) expect(parsed.bits[name]).toBe(scaleBits(amax));
    expect(JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')).ranges).toEqual(report.ranges);
    expect(existsSync(join(dir, 'q.onnx'))).toBe(true);
  });

  it('refuses a cache without --trt-version and unknown algorithms as usage errors', () => {
    expect(kiln(['calibrate', MODEL, '--data', data, '-o', join(dir, 'x.cache')]).status).toBe(2);
    expect(kiln(['calibrate', MODEL, '--data', data, '--algo', 'kl']).status).toBe(2);
    const r = kiln(['calibrate', MODEL, '--data', join(dir, 'nothing-here')]);
    expect(r.status).toBe(1);
    expect(r.lastErr).toMatch(/^kiln: KILN_E_INVALID_INPUT: /);
  });

  it('builds an INT8 engine from the cache (kiln build --int8 --calib) and prints the accuracy report', async () => {
    const cache = join(dir, 'minmax.cache');
    const hasInt8 = await int8Available('cpu');
    const r = kiln(['calibrate', MODEL, '--data', data, '--algo', 'minmax', '-o', cache, '--trt-version', '8.6.1', '--holdout', '1']);
    expect(r.status, r.stderr).toBe(0);
    const b = kiln(['build', MODEL, '--int8', '--calib', cache, '-o', join(dir, 'int8.plan')]);
    if (hasInt8) {
      expect(r.stdout).toMatch(/INT8 vs FP32 on 1 held-out sample/);
      expect(r.stdout).toMatch(/softmaxout_1: cosine/);
      expect(b.status, b.stderr).toBe(0);
      expect(existsSync(join(dir, 'int8.plan'))).toBe(true);
    } else {
      // The engine side of INT8 (BuilderConfig.int8) has not landed: a coded refusal, never a silent FP32 plan.
      expect(r.stderr).toMatch(/cannot build INT8 engines/);
      expect(b.status).toBe(1);
      expect(b.lastErr).toMatch(/^kiln: KILN_E_UNSUPPORTED: /);
    }
  });
});

const SMALL_CNN = fileURLToPath(new URL('../../../test-models/small_cnn.onnx', import.meta.url));

describe.skipIf(!existsSync(CLI) || !existsSync(SMALL_CNN))('kiln calibrate on an image folder with a preprocessing spec', () => {
  it('resizes, crops and normalises JPEG/PNG files into [2,3,16,16] batches', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-calib-img-'));
    const images = join(dir, 'images');
    mkdirSync(images);
    for (let i = 0; i < 4; i++) {
      const w = 24 + i * 4;
      const h = 20;
      const px = new Uint8Array(w * h * 3).map((_, k) => (k * (i + 3)) % 251);
      const img = sharp(px, { raw: { width: w, height: h, channels: 3 } });
      await (i % 2 ? img.jpeg() : img.png()).toFile(join(images, `img_${i}.${i % 2 ? 'jpg' : 'png'}`));
    }
    const spec = join(dir, 'spec.json');
    writeFileSync(spec, JSON.stringify({ resize: { shorterSide: 18 }, centerCrop: [16, 16], channelOrder: 'BGR', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], layout: 'NCHW' }));
    const r = kiln(['calibrate', SMALL_CNN, '--data', images, '--preprocess', spec, '--algo', 'percentile', '--percentile', '99.9', '--batch', '2', '--ranges-json', join(dir, 'r.json'), '--json']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { batches: number; percentile: number; ranges: Record<string, number> };
    expect(out.batches).toBe(2);
    expect(out.percentile).toBe(99.9);
    // The normalised input spans roughly [-2.1, 2.6]; its 99.9th percentile lies inside.
    expect(out.ranges.input).toBeGreaterThan(1);
    expect(out.ranges.input).toBeLessThan(2.7);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ layout: 'CHW' }));
    const e = kiln(['calibrate', SMALL_CNN, '--data', images, '--preprocess', bad]);
    expect(e.status).toBe(1);
    expect(e.lastErr).toMatch(/^kiln: KILN_E_INVALID_VALUE: preprocessing spec: layout/);
  });
});
