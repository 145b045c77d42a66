/**
 * Small distinct convolution models for the timing-cache tests (each has its own layer signatures), written
 * with a minimal protobuf encoder (field numbers from onnx/onnx.proto) so the tests need no ONNX writer.
 */
function varint(v: number): number[] {
  let x = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
  return out;
}
const cat = (parts: Uint8Array[]): Uint8Array => {
  const r = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    r.set(p, o);
    o += p.length;
  }
  return r;
};
const int = (f: number, v: number) => Uint8Array.from([...varint(f << 3), ...varint(v)]);
const bytes = (f: number, b: Uint8Array) => cat([Uint8Array.from([...varint((f << 3) | 2), ...varint(b.length)]), b]);
const str = (f: number, s: string) => bytes(f, new TextEncoder().encode(s));
const msg = (f: number, parts: Uint8Array[]) => bytes(f, cat(parts));

const FLOAT = 1;
const INTS = 7;

function tensor(name: string, dims: number[], seed: number): Uint8Array {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 0.37) * 0.2);
  return cat([...dims.map((d) => int(1, d)), int(2, FLOAT), str(8, name), bytes(9, new Uint8Array(data.buffer))]);
}
const ints = (name: string, v: number[]) => msg(5, [str(1, name), int(20, INTS), ...v.map((x) => int(8, x))]);
const valueInfo = (f: number, name: string, dims: number[]) =>
  msg(f, [str(1, name), msg(2, [msg(1, [int(1, FLOAT), msg(2, dims.map((d) => msg(1, [int(1, d)])))])])]);

/** Model `i` (0..): x[1,C,H,H] → Conv(K, k×k, pad k/2) → Relu → Conv(K, 1×1) → y, with C/K/k/H varied by i. */
export function convModel(i: number): Uint8Array {
  const c = 2 + (i % 4);
  const k = 3 + 2 * (i % 2);
  const kk = 4 + 2 * Math.floor(i / 2);
  const h = 12 + i;
  const pad = (k - 1) / 2;
  const graph = msg(7, [
    msg(1, [str(1, 'x'), str(1, 'W1'), str(1, 'B1'), str(2, 't'), str(3, 'conv1'), str(4, 'Conv'), ints('kernel_shape', [k, k]), ints('pads', [pad, pad, pad, pad])]),
    msg(1, [str(1, 't'), str(2, 'r'), str(3, 'relu'), str(4, 'Relu')]),
    msg(1, [str(1, 'r'), str(1, 'W2'), str(2, 'y'), str(3, 'conv2'), str(4, 'Conv'), ints('kernel_shape', [1, 1])]),
    str(2, `conv${i}`),
    msg(5, [tensor('W1', [kk, c, k, k], i)]),
    msg(5, [tensor('B1', [kk], i + 100)]),
    msg(5, [tensor('W2', [kk, kk, 1, 1], i + 200)]),
    valueInfo(11, 'x', [1, c, h, h]),
    valueInfo(12, 'y', [1, kk, h, h]),
  ]);
  return cat([int(1, 8), str(2, 'kiln-timing-cache-test'), graph, msg(8, [str(1, ''), int(2, 13)])]);
}
