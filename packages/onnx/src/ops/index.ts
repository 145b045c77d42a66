/** The op registry: ONNX op type (default domain) → mapper. `supportedOps` is derived from it. */
import { activationOps } from './activation';
import type { OpTable } from './context';
import { convOps } from './conv';
import { elementwiseOps } from './elementwise';
import { generatorOps } from './generators';
import { indexingOps } from './indexing';
import { lossOps } from './loss';
import { mathOps } from './math';
import { normalizationOps } from './normalization';
import { quantizeOps } from './quantize';
import { resizeOps } from './resize';
import { shapeOps } from './shape';
import { unaryOps } from './unary';
import { windowOps } from './window';

export const OPS: OpTable = {
  ...unaryOps,
  ...elementwiseOps,
  ...activationOps,
  ...convOps,
  ...normalizationOps,
  ...mathOps,
  ...shapeOps,
  ...indexingOps,
  ...generatorOps,
  ...resizeOps,
  ...windowOps,
  ...lossOps,
  ...quantizeOps,
};

/** The ONNX op types (default domain) Kiln maps, sorted. */
export const supportedOps: readonly string[] = Object.freeze(Object.keys(OPS).sort());
