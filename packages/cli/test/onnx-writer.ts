/**
 * A minimal protobuf encoder for ONNX, so the CLI tests do not depend on the parser they exercise
 * (field numbers from onnx/onnx.proto).
 */
type Field = Uint8Array;

function varint(v: number | bigint): number[] {
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

const cat = (parts: Uint8Array[]) => {
  const r = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    r.set(p, o);
    o += p.length;
  }
  return r;
};

const int = (field: number, v: number | bigint): Field => Uint8Array.from([...varint(field << 3), ...varint(v)]);
const bytes = (field: number, b: Uint8Array): Field => cat([Uint8Array.from([...varint((field << 3) | 2), ...varint(b.length)]), b]);
const str = (field: number, s: string): Field => bytes(field, new TextEncoder().encode(s));
const msg = (field: number, parts: Field[]): Field => bytes(field, cat(parts));

export const FLOAT = 1;
export const INT64 = 7;

/** TensorProto body (no field tag): usable as a `.pb` input file. */
export function tensorProto(name: string, elemType: number, dims: number[], raw: Uint8Array): Uint8Array {
  return cat([...dims.map((d) => int(1, d)), int(2, elemType), str(8, name), bytes(9, raw)]);
}

function valueInfo(field: number, name: string, elemType: number, dims: Array<number | string>): Field {
  const dimMsgs = dims.map((d) => msg(1, [typeof d === 'number' ? int(1, d) : str(2, d)]));
  return msg(field, [str(1, name), msg(2, [msg(1, [int(1, elemType), msg(2, dimMsgs)])])]);
}

function node(name: string, op: string, inputs: string[], outputs: string[]): Field {
  return msg(1, [...inputs.map((i) => str(1, i)), ...outputs.map((o) => str(2, o)), str(3, name), str(4, op)]);
}

export const BIAS = [1, -2, 3, -4];

/**
 * x: float [N, 4] (N dynamic) → "y:0" = Relu(x + BIAS), "neg" = Neg(x).
 * The ':' in "y:0" exercises output file-name sanitizing.
 */
export function tinyModel(): Uint8Array {
  const bias = new Uint8Array(Float32Array.from(BIAS).buffer);
  const graph = msg(7, [
    node('add', 'Add', ['x', 'B'], ['t']),
    node('relu', 'Relu', ['t'], ['y:0']),
    node('neg', 'Neg', ['x'], ['neg']),
    str(2, 'tiny'),
    msg(5, [tensorProto('B', FLOAT, [4], bias)]),
    valueInfo(11, 'x', FLOAT, ['N', 4]),
    valueInfo(12, 'y:0', FLOAT, ['N', 4]),
    valueInfo(12, 'neg', FLOAT, ['N', 4]),
  ]);
  return cat([int(1, 8), str(2, 'kiln-cli-test'), graph, msg(8, [str(1, ''), int(2, 13)])]);
}
