/**
 * onnx-proto as loaded by @kiln/onnx (one loader for the ESM/CJS interop of its pbjs bundle).
 */
export { onnx, has, type ITensorProto, type IAttributeProto, type INodeProto, type IGraphProto, type IModelProto, type IValueInfoProto } from '@kiln/onnx';
