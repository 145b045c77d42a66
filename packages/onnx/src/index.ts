/**
 * @kiln/onnx — the ONNX front end: reads `.onnx` files (onnx-proto) and maps every node onto the
 * public `Network` API of @kiln/core.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KilnError, type DataType, type Network, type Tensor } from '@kiln/core';
import { errorMessage, InvalidNodeError, OnnxError, UnsupportedNodeError } from './errors';
import { importModel } from './importer';
import { decodeModel } from './model';
import { onnx } from './proto';
import { decodeTensorProto } from './tensor-proto';

export { OnnxError, type OnnxErrorCode, type UnsupportedNode } from './errors';
export { supportedOps } from './ops/index';
/** onnx-proto's namespace and message types, loaded once (for tools that write ONNX, e.g. Q/DQ export). */
export { onnx, has, type ITensorProto, type IAttributeProto, type INodeProto, type IGraphProto, type IModelProto, type IValueInfoProto } from './proto';

export interface ParseOptions {
  /** Folder that external data locations are relative to; default: the model file's folder. */
  baseDir?: string;
  /** Advanced: build into this network (e.g. one over a substitute native network in tests). */
  network?: Network;
}

export interface OnnxModel {
  network: Network;
  /** Runtime inputs (graph inputs that are not initializers); -1 marks dynamic dims. */
  inputs: Array<{ name: string; dtype: DataType; dims: number[] }>;
  /** Graph outputs with their inferred dtypes and dims (-1 where known only at run time). */
  outputs: Array<{ name: string; dtype: DataType; dims: number[] }>;
  opsetVersion: number;
  irVersion: number;
  producer: string;
}

/** Turns any unexpected exception into a coded error: malformed input must never escape as a TypeError. */
function coded(e: unknown, source: string): KilnError {
  if (e instanceof KilnError) return e;
  if (e instanceof InvalidNodeError) return new OnnxError('KILN_E_ONNX_INVALID', `${source}: ${e.message}`, { cause: e });
  if (e instanceof UnsupportedNodeError) {
    return OnnxError.unsupported([{ name: source, opType: '(model)', domain: '', opset: 0, reason: e.message }], source);
  }
  // A native error with a Kiln code keeps it; anything else (TypeError, RangeError…) means a malformed file.
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string' && /^KILN_E_[A-Z0-9_]+$/.test(code)) return new KilnError(code, `${source}: ${errorMessage(e)}`, { cause: e });
  return new OnnxError('KILN_E_ONNX_INVALID', `${source}: malformed model (${errorMessage(e)})`, { cause: e });
}

function parseBytes(bytes: Uint8Array, source: string, options: ParseOptions, baseDir: string | undefined): OnnxModel {
  try {
    const decoded = decodeModel(bytes, source);
    const imported = importModel(decoded, { source, baseDir, network: options.network });
    return {
      network: imported.network,
      inputs: imported.inputs,
      outputs: imported.outputs,
      opsetVersion: decoded.opsetVersion,
      irVersion: decoded.irVersion,
      producer: decoded.producer,
    };
  } catch (e) {
    throw coded(e, source);
  }
}

function readError(file: string, e: unknown): OnnxError {
  const err = e as NodeJS.ErrnoException;
  const why = err?.code === 'ENOENT' ? 'file not found' : err?.code === 'ERR_FS_FILE_TOO_LARGE' ? 'file larger than 2 GiB (store weights as external data)' : err?.message;
  return new OnnxError('KILN_E_ONNX_INVALID', `${file}: cannot read the model: ${why}`, { cause: e });
}

/** Parses an ONNX model (a path, or the file's bytes) into a Kiln `Network`, synchronously. */
export function parseOnnxSync(model: string | Uint8Array, options: ParseOptions = {}): OnnxModel {
  if (typeof model === 'string') {
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(model);
    } catch (e) {
      throw readError(model, e);
    }
    return parseBytes(bytes, model, options, options.baseDir ?? path.dirname(path.resolve(model)));
  }
  if (!(model instanceof Uint8Array)) throw new OnnxError('KILN_E_ONNX_INVALID', 'parseOnnx needs a file path or a Uint8Array of the model bytes');
  return parseBytes(model, '<bytes>', options, options.baseDir);
}

/** Parses an ONNX model (a path, or the file's bytes) into a Kiln `Network`. The file is read asynchronously. */
export async function parseOnnx(model: string | Uint8Array, options: ParseOptions = {}): Promise<OnnxModel> {
  if (typeof model === 'string') {
    let bytes: Uint8Array;
    try {
      bytes = await fs.promises.readFile(model);
    } catch (e) {
      throw readError(model, e);
    }
    return parseBytes(bytes, model, options, options.baseDir ?? path.dirname(path.resolve(model)));
  }
  return parseOnnxSync(model, options);
}

/** Decodes a serialized TensorProto (e.g. the `input_0.pb` files of the ONNX test corpus). */
export function readTensorProto(bytes: Uint8Array, options: { baseDir?: string } = {}): { name: string; tensor: Tensor } {
  const source = '<TensorProto>';
  try {
    let tp: ReturnType<typeof onnx.TensorProto.decode>;
    try {
      tp = onnx.TensorProto.decode(bytes);
    } catch (e) {
      throw new OnnxError('KILN_E_ONNX_INVALID', `not a readable TensorProto (protobuf decode failed: ${(e as Error).message})`, { cause: e });
    }
    const name = tp.name ?? '';
    return { name, tensor: decodeTensorProto(tp, `tensor '${name}'`, { baseDir: options.baseDir }) };
  } catch (e) {
    throw coded(e, source);
  }
}
