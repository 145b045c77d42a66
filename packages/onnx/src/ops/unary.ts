/** Unary math ops (one Kiln `unary` layer each; Tanh is an activation). */
import type { UnaryOp } from '@kiln/core';
import type { OpContext, OpTable } from './context';

const UNARY: Record<string, UnaryOp> = {
  Abs: 'abs', Neg: 'neg', Exp: 'exp', Log: 'log', Sqrt: 'sqrt', Reciprocal: 'reciprocal', Floor: 'floor', Ceil: 'ceil',
  Round: 'round', Sin: 'sin', Cos: 'cos', Tan: 'tan', Asin: 'asin', Acos: 'acos', Atan: 'atan', Sinh: 'sinh', Cosh: 'cosh',
  Asinh: 'asinh', Acosh: 'acosh', Atanh: 'atanh', Erf: 'erf', Not: 'not', Sign: 'sign', IsNaN: 'isNan', BitwiseNot: 'bitwiseNot',
};

export const unaryOps: OpTable = {
  ...Object.fromEntries(
    Object.entries(UNARY).map(([onnxOp, op]) => [onnxOp, (ctx: OpContext) => [ctx.net.addUnary(ctx.input(0), op, ctx.main)]]),
  ),
  IsInf: (ctx) => [
    ctx.net.addUnary(ctx.input(0), 'isInf', {
      ...ctx.main,
      detectPositive: ctx.attrs.int('detect_positive', 1) !== 0,
      detectNegative: ctx.attrs.int('detect_negative', 1) !== 0,
    }),
  ],
  Tanh: (ctx) => [ctx.net.addActivation(ctx.input(0), { kind: 'tanh' }, ctx.main)],
};
