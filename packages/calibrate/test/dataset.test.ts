import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { listFiles, openDataset, writeNpy, type Batch } from '../src/index';

async function all(it: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

const npy = (dims: number[], fill: (i: number) => number) =>
  writeNpy({ dtype: 'float32', dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => fill(i)) });

describe('datasets', () => {
  it('stacks sample files into batches in sorted order and passes whole-batch files through', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-ds-'));
    for (const i of [3, 1, 2, 0, 4]) writeFileSync(join(dir, `s${i}.npy`), npy([2], () => i));
    writeFileSync(join(dir, 'z_batch.npy'), npy([3, 2], (k) => 100 + k));
    const ds = openDataset(dir, [{ name: 'x', dtype: 'float32', dims: [-1, 2] }], { batchSize: 2 });
    const batches = await all(ds);
    expect(batches.map((b) => [...b.feeds.x.dims])).toEqual([[2, 2], [2, 2], [1, 2], [3, 2]]);
    expect(Array.from(batches[0].feeds.x.data as Float32Array)).toEqual([0, 0, 1, 1]);
    expect(Array.from(batches[2].feeds.x.data as Float32Array)).toEqual([4, 4]);
    expect(ds.numBatches).toBe(4);
    expect(ds.numSamples).toBe(8);
    expect((await all(openDataset(dir, [{ name: 'x', dtype: 'float32', dims: [-1, 2] }], { batchSize: 2, maxBatches: 1 }))).length).toBe(1);
    expect((await all(ds.range(1, 3))).map((b) => b.index)).toEqual([1, 2]);
  });

  it('reads a glob, converts float64 to the input dtype and refuses shapes that fit nowhere', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-ds-'));
    writeFileSync(join(dir, 'a.npy'), writeNpy({ dtype: 'float64', dims: [1, 3], data: new Float64Array([1.5, 2, 3]) }));
    writeFileSync(join(dir, 'b.txt'), 'ignored by the glob');
    expect(listFiles(join(dir, '*.npy'))).toEqual([join(dir, 'a.npy')]);
    const [b] = await all(openDataset(join(dir, '*.npy'), [{ name: 'x', dtype: 'float32', dims: [1, 3] }]));
    expect(b.feeds.x.type).toBe('float32');
    expect(Array.from(b.feeds.x.data as Float32Array)).toEqual([1.5, 2, 3]);
    expect(() => openDataset(join(dir, '*.npy'), [{ name: 'x', dtype: 'float32', dims: [1, 4] }])).toThrow(expect.objectContaining({ code: 'KILN_E_SHAPE_MISMATCH' }));
  });

  it('zips a folder per input name and reads raw files with a dtype and shape', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-ds-'));
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
    for (let i = 0; i < 2; i++) {
      writeFileSync(join(dir, 'a', `${i}.bin`), new Uint8Array(new Float32Array([i, i]).buffer));
      writeFileSync(join(dir, 'b', `${i}.bin`), new Uint8Array(new Float32Array([10 + i, 0, 0]).buffer));
    }
    const inputs = [
      { name: 'a', dtype: 'float32' as const, dims: [-1, 2] },
      { name: 'b', dtype: 'float32' as const, dims: [-1, 3] },
    ];
    // One raw shape for all files does not fit both inputs: per-input maps give each its own glob instead.
    expect(() => openDataset(dir, inputs, { raw: { dtype: 'float32', shape: [2] } })).toThrow();
    const ds = openDataset({ a: join(dir, 'a') }, [inputs[0]], { raw: { dtype: 'float32', shape: [2] }, batchSize: 2 });
    const [batch] = await all(ds);
    expect([...batch.feeds.a.dims]).toEqual([2, 2]);
    expect(Array.from(batch.feeds.a.data as Float32Array)).toEqual([0, 0, 1, 1]);
    // .npy sub-folders named after the inputs are zipped in sorted order.
    for (let i = 0; i < 2; i++) {
      writeFileSync(join(dir, 'a', `${i}.npy`), npy([2], () => i));
      writeFileSync(join(dir, 'b', `${i}.npy`), npy([3], () => 10 + i));
    }
    const zipped = await all(openDataset({ a: join(dir, 'a', '*.npy'), b: join(dir, 'b', '*.npy') }, inputs, { batchSize: 2 }));
    expect(zipped).toHaveLength(1);
    expect(Array.from(zipped[0].feeds.b.data as Float32Array)).toEqual([10, 10, 10, 11, 11, 11]);
    // The folder form finds a/ and b/; b's .bin files are 3 floats, not the raw shape [2]: a coded error.
    expect(() => openDataset(dir, inputs, { raw: { dtype: 'float32', shape: [2] } })).toThrow(/b\/0\.bin: 12 bytes/);
  });

  it('preprocesses images: shorter-side resize, center crop, BGR, scale/mean/std, NCHW', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-img-'));
    // 8x4 image: left half pure red, right half pure blue.
    const w = 8;
    const h = 4;
    const px = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.set(x < 4 ? [255, 0, 0] : [0, 0, 255], (y * w + x) * 3);
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(join(dir, 'img.png'));
    const spec = { resize: { shorterSide: 4 }, centerCrop: [2, 2] as [number, number], channelOrder: 'BGR' as const, scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], layout: 'NCHW' as const };
    const [b] = await all(openDataset(dir, [{ name: 'img', dtype: 'float32', dims: [1, 3, 2, 2] }], { preprocess: spec }));
    expect([...b.feeds.img.dims]).toEqual([1, 3, 2, 2]);
    const d = Array.from(b.feeds.img.data as Float32Array);
    // Crop columns 3..4 of 8: left pixel red, right pixel blue; channel 0 = B, 2 = R after BGR.
    expect(d.slice(0, 4).map((v) => Math.round(v))).toEqual([-1, 1, -1, 1]); // B
    expect(d.slice(4, 8).map((v) => Math.round(v))).toEqual([-1, -1, -1, -1]); // G
    expect(d.slice(8, 12).map((v) => Math.round(v))).toEqual([1, -1, 1, -1]); // R
    expect(() => openDataset(dir, [{ name: 'img', dtype: 'float32', dims: [1, 3, 2, 2] }], { preprocess: { frobnicate: 1 } as never })).toThrow(/unknown key 'frobnicate'/);
  });
});
