/**
 * Option types of the layer families of {@link Network}, and the serde JSON form of `LayerKind`
 * (crates/kiln-core/src/layer.rs) that the native network parses. Field names follow the Rust
 * `#[serde(rename_all_fields = "camelCase")]` form exactly: this file is the TypeScript side of
 * that contract, so keep both in step.
 */
import type { DataType } from './tensor';

/** How convolution/pooling padding is determined (ONNX `auto_pad`). */
export type PaddingMode = 'explicit' | 'sameUpper' | 'sameLower' | 'valid';

/** Pointwise activation functions (ONNX semantics of the op of the same name). */
export type ActivationKind =
  | { kind: 'relu' }
  | { kind: 'sigmoid' }
  | { kind: 'tanh' }
  | { kind: 'leakyRelu'; alpha: number }
  | { kind: 'elu'; alpha: number }
  | { kind: 'selu'; alpha: number; gamma: number }
  | { kind: 'celu'; alpha: number }
  | { kind: 'softplus' }
  | { kind: 'softsign' }
  | { kind: 'hardSigmoid'; alpha: number; beta: number }
  | { kind: 'hardSwish' }
  | { kind: 'thresholdedRelu'; alpha: number }
  | { kind: 'scaledTanh'; alpha: number; beta: number }
  /** Clamp to [min, max]; both must be finite (JSON has no infinity): use ±3.4028234663852886e38 for an open side. */
  | { kind: 'clip'; min: number; max: number }
  /** `tanh: true` is ONNX Gelu's approximate="tanh". */
  | { kind: 'gelu'; tanh: boolean }
  | { kind: 'mish' }
  | { kind: 'shrink'; bias: number; lambd: number };

export type UnaryOp =
  | 'abs' | 'neg' | 'exp' | 'log' | 'sqrt' | 'reciprocal' | 'floor' | 'ceil' | 'round'
  | 'sin' | 'cos' | 'tan' | 'asin' | 'acos' | 'atan' | 'sinh' | 'cosh' | 'asinh' | 'acosh' | 'atanh'
  | 'erf' | 'not' | 'sign' | 'isNan' | 'isInf' | 'bitwiseNot';

export type ElementWiseOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min' | 'mod' | 'fmod'
  | 'and' | 'or' | 'xor' | 'equal' | 'greater' | 'greaterOrEqual' | 'less' | 'lessOrEqual'
  | 'bitShiftLeft' | 'bitShiftRight' | 'bitwiseAnd' | 'bitwiseOr' | 'bitwiseXor' | 'pRelu';

export type ReduceOp = 'sum' | 'prod' | 'max' | 'min' | 'mean' | 'l1' | 'l2' | 'logSum' | 'logSumExp' | 'sumSquare';

export type PoolingKind = { kind: 'max' } | { kind: 'average'; countIncludePad: boolean } | { kind: 'lp'; p: number };

export type SoftmaxKind = 'softmax' | 'logSoftmax' | 'hardmax';
export type PadMode = 'constant' | 'reflect' | 'edge' | 'wrap';
export type ResizeMode = 'nearest' | 'linear' | 'cubic';
export type CoordinateTransform =
  | 'halfPixel' | 'halfPixelSymmetric' | 'pytorchHalfPixel' | 'alignCorners' | 'asymmetric' | 'tfHalfPixelForNn' | 'tfCropAndResize';
export type NearestMode = 'roundPreferFloor' | 'roundPreferCeil' | 'floor' | 'ceil';
export type KeepAspectRatioPolicy = 'stretch' | 'notLarger' | 'notSmaller';
export type ScatterReduction = 'none' | 'add' | 'mul' | 'max' | 'min';
export type DepthToSpaceMode = 'dcr' | 'crd';

export type NormalizationKind =
  /** Inference-mode batch norm. Inputs: x, scale, bias, mean, var (each [C]); normalises axis 1. */
  | { kind: 'batch'; epsilon: number }
  /** Inputs: x, scale [C], bias [C]; statistics over the spatial axes of each (n, c). */
  | { kind: 'instance'; epsilon: number }
  /** Inputs: x, scale, bias? broadcast over the normalised trailing axes [axis, rank). */
  | { kind: 'layer'; axis: number; epsilon: number }
  /** Inputs: x, scale [C], bias [C] (ONNX GroupNormalization-21: per-channel affine). */
  | { kind: 'group'; numGroups: number; epsilon: number }
  /** Local response normalization across channels. */
  | { kind: 'lrn'; size: number; alpha: number; beta: number; bias: number }
  /** x / ||x||_p along `axis` (p = 1 or 2). */
  | { kind: 'lpNorm'; axis: number; p: number }
  /** (x - mean) / sqrt(var) over `axes`. */
  | { kind: 'meanVariance'; axes: number[] };

/** The serde JSON form of `LayerKind`. */
export type LayerKindJson =
  | { type: 'convolution'; strides: number[]; pads: number[]; dilations: number[]; groups: number; paddingMode: PaddingMode }
  | { type: 'deconvolution'; strides: number[]; pads: number[]; dilations: number[]; groups: number; outputPadding: number[]; outputShape: number[]; paddingMode: PaddingMode }
  | { type: 'pooling'; pooling: PoolingKind; global: boolean; kernelShape: number[]; strides: number[]; pads: number[]; dilations: number[]; ceilMode: boolean; paddingMode: PaddingMode }
  | { type: 'matrixMultiply'; transposeA: boolean; transposeB: boolean }
  | { type: 'elementWise'; op: ElementWiseOp }
  | { type: 'activation'; activation: ActivationKind }
  | { type: 'unary'; op: UnaryOp; detectPositive: boolean; detectNegative: boolean }
  | { type: 'reduce'; op: ReduceOp; axes: number[] | null; keepDims: boolean; noopWithEmptyAxes: boolean }
  | { type: 'argMinMax'; max: boolean; axis: number; keepDims: boolean; selectLastIndex: boolean }
  | { type: 'softmax'; kind: SoftmaxKind; axis: number }
  | { type: 'concatenation'; axis: number }
  | { type: 'split'; axis: number; numOutputs: number }
  | { type: 'transpose'; perm: number[] }
  | { type: 'reshape'; allowZero: boolean }
  | { type: 'flatten'; axis: number }
  | { type: 'squeeze'; axes: number[] | null }
  | { type: 'unsqueeze'; axes: number[] }
  | { type: 'expand' } | { type: 'tile' } | { type: 'slice' }
  | { type: 'gather'; axis: number }
  | { type: 'gatherElements'; axis: number }
  | { type: 'gatherNd'; batchDims: number }
  | { type: 'scatterElements'; axis: number; reduction: ScatterReduction }
  | { type: 'scatterNd'; reduction: ScatterReduction }
  | { type: 'cast'; to: DataType }
  | { type: 'pad'; mode: PadMode }
  | { type: 'resize'; mode: ResizeMode; coordinateTransform: CoordinateTransform; nearestMode: NearestMode; cubicCoeffA: number; excludeOutside: boolean; extrapolationValue: number; antialias: boolean; axes: number[] | null; keepAspectRatioPolicy: KeepAspectRatioPolicy }
  | { type: 'normalization'; normalization: NormalizationKind }
  | { type: 'select' }
  | { type: 'shape'; start: number | null; end: number | null }
  | { type: 'size' } | { type: 'range' }
  | { type: 'fill'; value: number; dtype: DataType }
  | { type: 'eyeLike'; k: number; dtype: DataType | null }
  | { type: 'topK'; axis: number; largest: boolean; sorted: boolean }
  | { type: 'cumSum'; exclusive: boolean; reverse: boolean }
  | { type: 'oneHot'; axis: number }
  | { type: 'nonZero' }
  | { type: 'trilu'; upper: boolean }
  | { type: 'depthToSpace'; blockSize: number; mode: DepthToSpaceMode }
  | { type: 'spaceToDepth'; blockSize: number }
  | { type: 'identity' }
  | { type: 'quantizeLinear'; axis: number; saturate: boolean }
  | { type: 'dequantizeLinear'; axis: number };

/** Every layer method accepts an optional layer name (auto-generated `<type>_<n>` when absent). */
export interface LayerOptions {
  name?: string;
}

export interface ConvolutionOptions extends LayerOptions {
  /** Per spatial axis; default all 1. */
  strides?: number[];
  /** [begin…, end…], 2 × spatial rank; default all 0. Used when `paddingMode` is 'explicit'. */
  pads?: number[];
  /** Per spatial axis; default all 1. */
  dilations?: number[];
  /** Default 1. Input channels and output channels must both be divisible by it. */
  groups?: number;
  /** Default 'explicit'. */
  paddingMode?: PaddingMode;
}

export interface DeconvolutionOptions extends ConvolutionOptions {
  /** Extra size added at the end of each spatial output axis; default all 0. */
  outputPadding?: number[];
  /** If given, fixes the spatial output size (pads derived as ONNX ConvTranspose does). */
  outputShape?: number[];
}

export interface PoolingOptions extends LayerOptions {
  /** Default 'max'. */
  type?: 'max' | 'average' | 'lp';
  /** Average pooling: count padded cells in the divisor; default false. */
  countIncludePad?: boolean;
  /** Lp pooling exponent; default 2. */
  p?: number;
  /** Pool the whole spatial extent (the other fields are ignored); default false. */
  global?: boolean;
  /** Window size per spatial axis; required unless `global`. */
  kernelShape?: number[];
  strides?: number[];
  pads?: number[];
  dilations?: number[];
  /** Output size uses ceil instead of floor; default false. */
  ceilMode?: boolean;
  paddingMode?: PaddingMode;
}

export interface MatrixMultiplyOptions extends LayerOptions {
  /** Swap the last two axes of `a` first; default false. */
  transposeA?: boolean;
  /** Swap the last two axes of `b` first; default false. */
  transposeB?: boolean;
}

export interface ReduceOptions extends LayerOptions {
  /** Axes to reduce (negative counts from the end); default/undefined: all axes. */
  axes?: number[] | null;
  /** Keep reduced axes as size 1; default true. */
  keepDims?: boolean;
  /** With `axes` undefined/empty, return the input unchanged instead of reducing all; default false. */
  noopWithEmptyAxes?: boolean;
}

export interface ResizeOptions extends LayerOptions {
  /** Default 'nearest'. */
  mode?: ResizeMode;
  /** Default 'halfPixel'. */
  coordinateTransform?: CoordinateTransform;
  /** Default 'roundPreferFloor'. */
  nearestMode?: NearestMode;
  /** Default -0.75. */
  cubicCoeffA?: number;
  /** Default false. */
  excludeOutside?: boolean;
  /** Value for samples outside the input with 'tfCropAndResize'; default 0. */
  extrapolationValue?: number;
  /** Default false. */
  antialias?: boolean;
  /** Axes that scales/sizes refer to; default all. */
  axes?: number[] | null;
  /** Default 'stretch'. */
  keepAspectRatioPolicy?: KeepAspectRatioPolicy;
}

/** Options of QuantizeLinear / DequantizeLinear. */
export interface QuantizeOptions extends LayerOptions {
  /** The per-axis axis when the scale is 1-D with more than one element (ONNX default 1). */
  axis?: number;
  /** Float8 outputs only (unsupported); integer outputs always saturate. Default true. */
  saturate?: boolean;
}
