/**
 * QuantizeLinear / DequantizeLinear (opset 10+; the `axis` attribute from 13, `saturate` from 19, `output_dtype` and
 * `block_size` from 21). Kiln supports int8/uint8 quantized values (and int32 inputs to DequantizeLinear),
 * per-tensor and per-axis scales; blocked quantization and 4-bit / 16-bit / float8 types are reported as unsupported.
 */
import type { NetworkTensor } from '@kiln/core';
import type { OpContext, OpTable } from './context';

/** ONNX TensorProto.DataType codes accepted for `output_dtype`. */
const ONNX_UINT8 = 2;
const ONNX_INT8 = 3;

function checkCommon(ctx: OpContext, scale: NetworkTensor): number {
  if (ctx.opset < 10) ctx.unsupported(`${ctx.node.opType} needs opset 10 or later (the model uses opset ${ctx.opset})`);
  const blockSize = ctx.attrs.int('block_size', 0);
  if (blockSize !== 0) ctx.unsupported(`blocked quantization (block_size=${blockSize}) is not supported; use per-tensor or per-axis scales`);
  if (scale.dtype !== 'float32' && scale.dtype !== 'float16') ctx.unsupported(`a ${scale.dtype} scale is not supported (float32 or float16)`);
  // Opsets 10-12 allow only scalar scales; a 1-D scale there is read with opset 13's default (axis 1), and the
  // native shape inference rejects one that does not fit, so no check on possibly unknown dims is made here.
  if (scale.dims.length > 1) ctx.unsupported(`a scale of dims [${scale.dims.join(', ')}] means blocked quantization, which is not supported`);
  return ctx.opset >= 13 ? ctx.attrs.int('axis', 1) : 1;
}

function quantizeLinear(ctx: OpContext): Array<NetworkTensor | null> {
  const x = ctx.input(0);
  const scale = ctx.input(1);
  let zeroPoint = ctx.optInput(2);
  const axis = checkCommon(ctx, scale);
  if (zeroPoint && zeroPoint.dtype !== 'int8' && zeroPoint.dtype !== 'uint8') {
    ctx.unsupported(`${zeroPoint.dtype} quantized outputs are not supported (int8 or uint8)`);
  }
  const outputDtype = ctx.opset >= 21 ? ctx.attrs.int('output_dtype', 0) : 0;
  if (outputDtype !== 0) {
    if (outputDtype !== ONNX_INT8 && outputDtype !== ONNX_UINT8) {
      ctx.unsupported(`output_dtype ${outputDtype} is not supported (only INT8 = 3 and UINT8 = 2)`);
    }
    const wanted = outputDtype === ONNX_INT8 ? 'int8' : 'uint8';
    if (zeroPoint && zeroPoint.dtype !== wanted) ctx.invalid(`output_dtype ${wanted} does not match the ${zeroPoint.dtype} zero point`);
    // Without a zero point Kiln's output type is uint8; an explicit int8 zero point of 0 gives int8.
    if (!zeroPoint && wanted === 'int8') zeroPoint = ctx.scalar(0, 'int8', 'zero_point', [...scale.dims]);
  }
  const saturate = ctx.opset >= 19 ? ctx.attrs.int('saturate', 1) !== 0 : true;
  return [ctx.net.addQuantizeLinear(x, scale, zeroPoint, { ...ctx.main, axis, saturate })];
}

function dequantizeLinear(ctx: OpContext): Array<NetworkTensor | null> {
  const x = ctx.input(0);
  const scale = ctx.input(1);
  const zeroPoint = ctx.optInput(2);
  const axis = checkCommon(ctx, scale);
  if (x.dtype !== 'int8' && x.dtype !== 'uint8' && x.dtype !== 'int32') {
    ctx.unsupported(`dequantizing ${x.dtype} is not supported (int8, uint8 or int32)`);
  }
  return [ctx.net.addDequantizeLinear(x, scale, zeroPoint, { ...ctx.main, axis })];
}

export const quantizeOps: OpTable = {
  QuantizeLinear: quantizeLinear,
  DequantizeLinear: dequantizeLinear,
};
