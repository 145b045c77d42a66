/**
 * The one place in @kiln/calibrate that loads onnx-proto (a CommonJS pbjs bundle whose `onnx` namespace sits on
 * the module object; under ESM interop it may be under `default`).
 */
import * as onnxProtoModule from 'onnx-proto';

type OnnxNamespace = typeof onnxProtoModule.onnx;
const mod = onnxProtoModule as unknown as { onnx?: OnnxNamespace; default?: { onnx?: OnnxNamespace } };
export const onnx: OnnxNamespace = (mod.onnx ?? mod.default?.onnx)!;

export type ITensorProto = onnxProtoModule.onnx.ITensorProto;
export type IAttributeProto = onnxProtoModule.onnx.IAttributeProto;
export type INodeProto = onnxProtoModule.onnx.INodeProto;
export type IGraphProto = onnxProtoModule.onnx.IGraphProto;
export type IModelProto = onnxProtoModule.onnx.IModelProto;
export type IValueInfoProto = onnxProtoModule.onnx.IValueInfoProto;

/** proto3 presence: scalar defaults live on the prototype, so a field was set iff it is an own property. */
export function has(msg: object | null | undefined, field: string): boolean {
  return msg != null && Object.prototype.hasOwnProperty.call(msg, field) && (msg as Record<string, unknown>)[field] != null;
}
