/** Constants and generators: Constant, ConstantOfShape, EyeLike, Range, Dropout (inference → identity). */
import { Tensor } from '@kiln/core';
import { dtypeFromOnnx, onnxTypeName } from '../dtypes';
import { decodeTensorProto } from '../tensor-proto';
import { halfToNumber, type OpContext, type OpMapper, type OpTable } from './context';

function constantTensor(ctx: OpContext): Tensor {
  const a = ctx.attrs;
  const set = a.names();
  if (set.length !== 1) ctx.invalid(`Constant needs exactly one value attribute, got [${set.join(', ')}]`);
  const name = set[0]!;
  switch (name) {
    case 'value': return decodeTensorProto(a.tensor('value')!, `Constant '${ctx.node.outputs[0] ?? ''}'`, { baseDir: ctx.baseDir });
    case 'value_float': return new Tensor('float32', [a.float(name, 0)], []);
    case 'value_floats': { const v = a.floats(name) ?? []; return new Tensor('float32', v, [v.length]); }
    case 'value_int': return new Tensor('int64', [BigInt(a.int(name, 0))], []);
    case 'value_ints': { const v = a.ints(name) ?? []; return new Tensor('int64', v.map(BigInt), [v.length]); }
    case 'value_string': case 'value_strings': return ctx.unsupported('string constants are not supported');
    case 'sparse_value': return ctx.unsupported('sparse constants are not supported');
    default: return ctx.invalid(`Constant has unknown attribute '${name}'`);
  }
}

const constantOfShape: OpMapper = (ctx) => {
  let value = 0;
  let dtype: Tensor['type'] = 'float32';
  const vt = ctx.attrs.has('value') ? ctx.attrs.tensor('value') : undefined;
  if (vt) {
    const t = decodeTensorProto(vt, "ConstantOfShape attribute 'value'", { baseDir: ctx.baseDir });
    if (t.size !== 1) ctx.invalid(`attribute 'value' must hold one element, got ${t.size}`);
    dtype = t.type;
    value = t.type === 'float16' ? halfToNumber((t.data as Uint16Array)[0]!) : Number(t.data[0]!);
  }
  if (!Number.isFinite(value)) ctx.unsupported(`a non-finite fill value (${value}) is not supported`);
  return [ctx.net.addFill(ctx.input(0), value, dtype, ctx.main)];
};

const dropout: OpMapper = (ctx) => {
  const x = ctx.input(0);
  if (ctx.opset >= 12 && ctx.optInput(2)) {
    const training = ctx.constNumbers(2);
    if (training === null) return ctx.unsupported('training_mode must be a build-time constant (Kiln runs inference only)');
    if (training[0]) ctx.unsupported('training_mode=true is not supported (Kiln runs inference only)');
  }
  const y = ctx.net.addIdentity(x, ctx.main);
  // The mask of an inference-mode Dropout keeps everything: all true, shaped like x.
  const mask = ctx.outputWanted(1)
    ? ctx.net.addFill(ctx.net.addShape(x, { name: ctx.sub('shape') }), 1, 'bool', { name: ctx.sub('mask') })
    : null;
  return [y, mask];
};

export const generatorOps: OpTable = {
  Constant: (ctx) => [ctx.net.addConstant(constantTensor(ctx), ctx.node.outputs[0] || ctx.name)],
  ConstantOfShape: constantOfShape,
  EyeLike: (ctx) => {
    const t = ctx.attrs.optInt('dtype');
    const dtype = t === undefined ? undefined : dtypeFromOnnx(t);
    if (dtype === null) ctx.unsupported(`dtype ${onnxTypeName(t!)} is not supported`);
    return [ctx.net.addEyeLike(ctx.input(0), { ...ctx.main, k: ctx.attrs.int('k', 0), ...(dtype ? { dtype } : {}) })];
  },
  Range: (ctx) => [ctx.net.addRange(ctx.input(0), ctx.input(1), ctx.input(2), ctx.main)],
  Dropout: dropout,
};
