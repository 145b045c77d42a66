/**
 * `Network`: build a Kiln network layer by layer. A typed, documented wrapper over the native
 * `NativeNetwork`; each method emits the serde JSON of one `LayerKind` (see ./layers.ts) and
 * returns handles to the layer's outputs. Shape and dtype inference happen natively when a layer
 * is added, so mistakes surface at once as coded `KilnError`s (KILN_E_SHAPE_MISMATCH, …).
 */
import { NativeNetwork } from '@kiln/binding';
import { Tensor, type DataType } from './tensor';
import { KilnError, toKilnError } from './errors';
import type {
  ActivationKind, ConvolutionOptions, DeconvolutionOptions, DepthToSpaceMode, ElementWiseOp, LayerKindJson, LayerOptions,
  MatrixMultiplyOptions, NormalizationKind, PadMode, PoolingKind, PoolingOptions, QuantizeOptions, ReduceOp, ReduceOptions,
  ResizeOptions, ScatterReduction, SoftmaxKind, UnaryOp,
} from './layers';

export type * from './layers';

/** A handle to a tensor of a {@link Network}. `dims` uses -1 for sizes known only at run time. */
export interface NetworkTensor {
  readonly id: number;
  readonly name: string;
  readonly dtype: DataType;
  readonly dims: readonly number[];
}

/** The subset of `NativeNetwork` this class uses (lets tests substitute a fake). */
export type NativeNetworkLike = Pick<
  NativeNetwork,
  'addInput' | 'addConstant' | 'addLayer' | 'tensorInfo' | 'constantValue' | 'setTensorName' | 'markOutput' | 'numLayers' | 'numTensors'
>;

/** An optional layer input (ONNX's empty input names). */
export type OptionalInput = NetworkTensor | null | undefined;

/** The native error's `code` survives; anything else becomes KILN_E_INTERNAL. */
function rethrow(e: unknown, where: string): never {
  const k = toKilnError(e);
  throw new KilnError(k.code, `${where}: ${k.message}`, { cause: e });
}

function assertFinite(value: number, what: string): void {
  if (!Number.isFinite(value)) {
    throw new KilnError('KILN_E_UNSUPPORTED', `${what} must be a finite number, got ${value} (JSON cannot carry it)`);
  }
}

export class Network {
  /** The native network (for the builder and for advanced use). */
  readonly native: NativeNetworkLike;
  private readonly counters = new Map<string, number>();

  /** @param native for tests: a substitute native network; by default a new `NativeNetwork`. */
  constructor(native?: NativeNetworkLike) {
    this.native = native ?? new NativeNetwork();
  }

  get numLayers(): number { return this.native.numLayers; }
  get numTensors(): number { return this.native.numTensors; }

  /** The handle of tensor `id` (fresh name/dtype/dims from the native network). */
  tensor(id: number): NetworkTensor {
    const info = this.native.tensorInfo(id);
    return { id, name: info.name, dtype: info.dtype as DataType, dims: [...info.dims] };
  }

  /** A runtime input. `dims` uses -1 for dynamic sizes (fixed later by optimization profiles). */
  addInput(name: string, dtype: DataType, dims: readonly number[]): NetworkTensor {
    let id: number;
    try {
      id = this.native.addInput(name, dtype, [...dims]);
    } catch (e) {
      rethrow(e, `input '${name}'`);
    }
    return this.tensor(id);
  }

  /** A build-time constant (weights, shape vectors, scalars). The data is copied. */
  addConstant(tensor: Tensor, name?: string): NetworkTensor {
    const n = name ?? this.autoName('constant');
    const d = tensor.data;
    const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    let id: number;
    try {
      id = this.native.addConstant(n, tensor.type, [...tensor.dims], bytes);
    } catch (e) {
      rethrow(e, `constant '${n}'`);
    }
    return this.tensor(id);
  }

  /** The value of `t` if it is known at build time (a constant, or folded from constants), else null. */
  constantValue(t: NetworkTensor): Tensor | null {
    const v = this.native.constantValue(t.id);
    if (!v) return null;
    return Tensor.fromBytes(v.dtype as DataType, v.data, v.dims);
  }

  /** Renames a tensor (names appear in plan info, errors and as output names). */
  setTensorName(t: NetworkTensor, name: string): NetworkTensor {
    try {
      this.native.setTensorName(t.id, name);
    } catch (e) {
      rethrow(e, `renaming tensor '${t.name}' to '${name}'`);
    }
    return this.tensor(t.id);
  }

  /** Marks `t` as a network output, optionally renaming it first. */
  markOutput(t: NetworkTensor, name?: string): NetworkTensor {
    const named = name !== undefined && name !== t.name ? this.setTensorName(t, name) : t;
    try {
      this.native.markOutput(named.id);
    } catch (e) {
      rethrow(e, `output '${named.name}'`);
    }
    return named;
  }

  /**
   * Adds any layer from its JSON kind. The typed methods below are preferred; this is the escape
   * hatch for layer kinds newer than this class.
   */
  addLayer(kind: LayerKindJson, inputs: readonly OptionalInput[], name?: string): NetworkTensor[] {
    const n = name ?? this.autoName(kind.type);
    let ids: number[];
    try {
      ids = this.native.addLayer(n, JSON.stringify(kind), inputs.map((t) => (t ? t.id : null)));
    } catch (e) {
      // The native network already names the layer in its messages; add it only where it is missing.
      const where = `layer '${n}' (${kind.type})`;
      const k = toKilnError(e);
      throw k.message.includes(where) ? new KilnError(k.code, k.message, { cause: e }) : new KilnError(k.code, `${where}: ${k.message}`, { cause: e });
    }
    return ids.map((id) => this.tensor(id));
  }

  private one(kind: LayerKindJson, inputs: readonly OptionalInput[], opts?: LayerOptions): NetworkTensor {
    return this.addLayer(kind, inputs, opts?.name)[0]!;
  }

  private autoName(type: string): string {
    const n = (this.counters.get(type) ?? 0) + 1;
    this.counters.set(type, n);
    return `${type}_${n}`;
  }

  /**
   * N-D convolution (ONNX Conv). Inputs: x [N, C, spatial…], weights [M, C/groups, k…], bias [M] (optional).
   * Output [N, M, out…]. Defaults: strides/dilations 1, pads 0, groups 1, paddingMode 'explicit'.
   */
  addConvolution(x: NetworkTensor, weights: NetworkTensor, bias?: OptionalInput, opts: ConvolutionOptions = {}): NetworkTensor {
    return this.one({
      type: 'convolution', strides: opts.strides ?? [], pads: opts.pads ?? [], dilations: opts.dilations ?? [],
      groups: opts.groups ?? 1, paddingMode: opts.paddingMode ?? 'explicit',
    }, [x, weights, bias ?? null], opts);
  }

  /**
   * Transposed convolution (ONNX ConvTranspose). Inputs: x [N, C, spatial…], weights [C, M/groups, k…],
   * bias [M] (optional). Defaults as {@link addConvolution}, outputPadding 0, no outputShape.
   */
  addDeconvolution(x: NetworkTensor, weights: NetworkTensor, bias?: OptionalInput, opts: DeconvolutionOptions = {}): NetworkTensor {
    return this.one({
      type: 'deconvolution', strides: opts.strides ?? [], pads: opts.pads ?? [], dilations: opts.dilations ?? [],
      groups: opts.groups ?? 1, outputPadding: opts.outputPadding ?? [], outputShape: opts.outputShape ?? [],
      paddingMode: opts.paddingMode ?? 'explicit',
    }, [x, weights, bias ?? null], opts);
  }

  /**
   * Max / average / Lp pooling over the spatial axes of x [N, C, spatial…] (ONNX MaxPool, AveragePool,
   * LpPool and their Global forms). Defaults: type 'max', strides/dilations 1, pads 0, floor rounding,
   * countIncludePad false, p 2.
   */
  addPooling(x: NetworkTensor, opts: PoolingOptions = {}): NetworkTensor {
    const type = opts.type ?? 'max';
    let pooling: PoolingKind;
    if (type === 'average') pooling = { kind: 'average', countIncludePad: opts.countIncludePad ?? false };
    else if (type === 'lp') {
      assertFinite(opts.p ?? 2, 'Lp pooling p');
      pooling = { kind: 'lp', p: opts.p ?? 2 };
    } else pooling = { kind: 'max' };
    const global = opts.global ?? false;
    if (!global && !opts.kernelShape) {
      throw new KilnError('KILN_E_INVALID_NETWORK', `pooling '${opts.name ?? '(unnamed)'}' needs kernelShape (or global: true)`);
    }
    return this.one({
      type: 'pooling', pooling, global, kernelShape: opts.kernelShape ?? [], strides: opts.strides ?? [],
      pads: opts.pads ?? [], dilations: opts.dilations ?? [], ceilMode: opts.ceilMode ?? false,
      paddingMode: opts.paddingMode ?? 'explicit',
    }, [x], opts);
  }

  /** Matrix product with numpy matmul broadcasting (ONNX MatMul; Gemm with transposes). */
  addMatrixMultiply(a: NetworkTensor, b: NetworkTensor, opts: MatrixMultiplyOptions = {}): NetworkTensor {
    return this.one({ type: 'matrixMultiply', transposeA: opts.transposeA ?? false, transposeB: opts.transposeB ?? false }, [a, b], opts);
  }

  /**
   * Binary elementwise op with multidirectional broadcasting (Add, Sub, Mul, Div, Pow, Max, Min, Mod,
   * Fmod, logical and comparison ops (bool output), bit shifts, bitwise ops, PRelu(x, slope)).
   */
  addElementWise(a: NetworkTensor, b: NetworkTensor, op: ElementWiseOp, opts: LayerOptions = {}): NetworkTensor {
    return this.one({ type: 'elementWise', op }, [a, b], opts);
  }

  /** Pointwise activation (ReLU, sigmoid, tanh, leaky ReLU, clip, GELU, …: see {@link ActivationKind}). */
  addActivation(x: NetworkTensor, activation: ActivationKind, opts: LayerOptions = {}): NetworkTensor {
    for (const [k, v] of Object.entries(activation)) if (typeof v === 'number') assertFinite(v, `activation ${activation.kind} ${k}`);
    return this.one({ type: 'activation', activation }, [x], opts);
  }

  /**
   * Unary pointwise math (abs, exp, trig, erf, not, sign, isNan, isInf, bitwiseNot…). For 'isInf',
   * `detectPositive`/`detectNegative` (default true) choose which infinities count.
   */
  addUnary(x: NetworkTensor, op: UnaryOp, opts: LayerOptions & { detectPositive?: boolean; detectNegative?: boolean } = {}): NetworkTensor {
    return this.one({ type: 'unary', op, detectPositive: opts.detectPositive ?? true, detectNegative: opts.detectNegative ?? true }, [x], opts);
  }

  /** Reduction over `axes` (default all) with keepDims default true (ONNX Reduce*). */
  addReduce(x: NetworkTensor, op: ReduceOp, opts: ReduceOptions = {}): NetworkTensor {
    return this.one({
      type: 'reduce', op, axes: opts.axes ?? null, keepDims: opts.keepDims ?? true, noopWithEmptyAxes: opts.noopWithEmptyAxes ?? false,
    }, [x], opts);
  }

  /** Index (int64) of the max (`max: true`, default) or min along `axis` (default 0); keepDims default true. */
  addArgMinMax(x: NetworkTensor, opts: LayerOptions & { max?: boolean; axis?: number; keepDims?: boolean; selectLastIndex?: boolean } = {}): NetworkTensor {
    return this.one({
      type: 'argMinMax', max: opts.max ?? true, axis: opts.axis ?? 0, keepDims: opts.keepDims ?? true, selectLastIndex: opts.selectLastIndex ?? false,
    }, [x], opts);
  }

  /** Softmax / log-softmax / hardmax along one axis (default -1; ONNX-13 semantics). */
  addSoftmax(x: NetworkTensor, opts: LayerOptions & { kind?: SoftmaxKind; axis?: number } = {}): NetworkTensor {
    return this.one({ type: 'softmax', kind: opts.kind ?? 'softmax', axis: opts.axis ?? -1 }, [x], opts);
  }

  /** Concatenates one or more tensors along `axis` (default 0). */
  addConcatenation(inputs: readonly NetworkTensor[], opts: LayerOptions & { axis?: number } = {}): NetworkTensor {
    return this.one({ type: 'concatenation', axis: opts.axis ?? 0 }, inputs, opts);
  }

  /**
   * Splits x along `axis` (default 0) into `numOutputs` parts: the sizes come from `split` (an int64
   * tensor) when given, else equal parts.
   */
  addSplit(x: NetworkTensor, numOutputs: number, opts: LayerOptions & { axis?: number; split?: OptionalInput } = {}): NetworkTensor[] {
    return this.addLayer({ type: 'split', axis: opts.axis ?? 0, numOutputs }, [x, opts.split ?? null], opts.name);
  }

  /** Permutes axes (`perm` default: reversed). Needs x's rank when perm is omitted. */
  addTranspose(x: NetworkTensor, perm?: readonly number[], opts: LayerOptions = {}): NetworkTensor {
    const p = perm ? [...perm] : x.dims.map((_, i) => x.dims.length - 1 - i);
    return this.one({ type: 'transpose', perm: p }, [x], opts);
  }

  /**
   * Reshape to `shape` (int64 tensor or a number list turned into a constant). 0 copies the input
   * dim unless `allowZero`; -1 is inferred.
   */
  addReshape(x: NetworkTensor, shape: NetworkTensor | readonly number[], opts: LayerOptions & { allowZero?: boolean } = {}): NetworkTensor {
    const s = Array.isArray(shape) ? this.addInt64Constant(shape as number[]) : (shape as NetworkTensor);
    return this.one({ type: 'reshape', allowZero: opts.allowZero ?? false }, [x, s], opts);
  }

  /**
   * Shuffle = optional first transpose, reshape, optional second transpose (TensorRT's IShuffleLayer),
   * built from transpose and reshape layers.
   */
  addShuffle(x: NetworkTensor, opts: LayerOptions & { firstTranspose?: number[]; reshape?: NetworkTensor | number[]; secondTranspose?: number[] } = {}): NetworkTensor {
    let t = x;
    const base = opts.name ?? this.autoName('shuffle');
    if (opts.firstTranspose) t = this.addTranspose(t, opts.firstTranspose, { name: `${base}/transpose1` });
    if (opts.reshape) t = this.addReshape(t, opts.reshape, { name: `${base}/reshape` });
    if (opts.secondTranspose) t = this.addTranspose(t, opts.secondTranspose, { name: `${base}/transpose2` });
    if (t === x) t = this.addIdentity(x, { name: base });
    return t;
  }

  /** Flattens to 2-D: [prod(dims[:axis]), prod(dims[axis:])]; axis default 1. */
  addFlatten(x: NetworkTensor, opts: LayerOptions & { axis?: number } = {}): NetworkTensor {
    return this.one({ type: 'flatten', axis: opts.axis ?? 1 }, [x], opts);
  }

  /** Removes size-1 axes (`axes`, default: all size-1 axes). */
  addSqueeze(x: NetworkTensor, axes?: readonly number[] | null, opts: LayerOptions = {}): NetworkTensor {
    return this.one({ type: 'squeeze', axes: axes ? [...axes] : null }, [x], opts);
  }

  /** Inserts size-1 axes at `axes` (positions in the output). */
  addUnsqueeze(x: NetworkTensor, axes: readonly number[], opts: LayerOptions = {}): NetworkTensor {
    return this.one({ type: 'unsqueeze', axes: [...axes] }, [x], opts);
  }

  /** Broadcasts x to `shape` (int64 tensor; bidirectional broadcast, ONNX Expand). */
  addExpand(x: NetworkTensor, shape: NetworkTensor, opts: LayerOptions = {}): NetworkTensor {
    return this.one({ type: 'expand' }, [x, shape], opts);
  }

  /** Repeats x `repeats[i]` times along each axis (int64 tensor, ONNX Tile). */
  addTile(x: NetworkTensor, repeats: NetworkTensor, opts: LayerOptions = {}): NetworkTensor {
    return this.one({ type: 'tile' }, [x, repeats], opts);
  }

  /** ONNX Slice: int64 tensors starts, ends, axes (optional, default all), steps (optional, default 1). */
  addSlice(x: NetworkTensor, starts: NetworkTensor, ends: NetworkTensor, axes?: OptionalInput, steps?: OptionalInput, opts: LayerOptions = {}): NetworkTensor {
    return this.one({ type: 'slice' }, [x, starts, ends, axes ?? null, steps ?? null], opts);
  }

  /** ONNX Gather along `axis` (default 0); indices int32/int64, negative indices count from the end. */
  addGather(data: NetworkTensor, indices: NetworkTensor, opts: LayerOptions & { axis?: number } = {}): NetworkTensor {
    return this.one({ type: 'gather', axis: opts.axis ?? 0 }, [data, indices], opts);
  }

  /** ONNX GatherElements along `axis` (default 0). */
  addGatherElements(data: NetworkTensor, indices: NetworkTensor, opts: LayerOptions & { axis?: number } = {}): NetworkTensor {
    return this.one({ type: 'gatherElements', axis: opts.axis ?? 0 }, [data, indices], opts);
  }

  /** ONNX GatherND with `batchDims` (default 0). */
  addGatherNd(data: NetworkTensor, indices: NetworkTensor, opts: LayerOptions & { batchDims?: number } = {}): NetworkTensor {
    return this.one({ type: 'gatherNd', batchDims: opts.batchDims ?? 0 }, [data, indices], opts);
  }

  /** ONNX ScatterElements along `axis` (default 0), `reduction` default 'none'. */
  addScatterElements(data: NetworkTensor, indices: NetworkTensor, updates: NetworkTensor, opts: LayerOptions & { axis?: number; reduction?: ScatterReduction } = {}): NetworkTensor {
    return this.one({ type: 'scatterElements', axis: opts.axis ?? 0, reduction: opts.reduction ?? 'none' }, [data, indices, updates], opts);
  }

  /** ONNX ScatterND, `reduction` default 'none'. */
  addScatterNd(data: NetworkTensor, indices: NetworkTensor, updates: NetworkTensor, opts: LayerOptions & { reduction?: ScatterReduction } = {}): NetworkTensor {
    return this.one({ type: 'scatterNd', reduction: opts.reduction ?? 'none' }, [data, indices, updates], opts);
  }

  /** Converts to dtype `to` (ONNX Cast: float→int truncates, to bool is x != 0). */
  addCast(x: NetworkTensor, to: DataType, opts: LayerOptions = {}): NetworkTensor {
    return this.one({ type: 'cast', to }, [x], opts);
  }

  /**
   * ONNX Pad. `pads` int64 [begin…, end…] (negative crops); `value` scalar for 'constant' mode
   * (default 0); `axes` optional int64 (the axes `pads` refers to). Mode default 'constant'.
   */
  addPad(x: NetworkTensor, pads: NetworkTensor, opts: LayerOptions & { mode?: PadMode; value?: OptionalInput; axes?: OptionalInput } = {}): NetworkTensor {
    return this.one({ type: 'pad', mode: opts.mode ?? 'constant' }, [x, pads, opts.value ?? null, opts.axes ?? null], opts);
  }

  /**
   * ONNX Resize. Exactly one of `scales` (float32) and `sizes` (int64); `roi` only for 'tfCropAndResize'.
   * Defaults: nearest, halfPixel, roundPreferFloor, cubicCoeffA -0.75, stretch.
   */
  addResize(x: NetworkTensor, inputs: { roi?: OptionalInput; scales?: OptionalInput; sizes?: OptionalInput }, opts: ResizeOptions = {}): NetworkTensor {
    assertFinite(opts.cubicCoeffA ?? -0.75, 'resize cubicCoeffA');
    assertFinite(opts.extrapolationValue ?? 0, 'resize extrapolationValue');
    return this.one({
      type: 'resize', mode: opts.mode ?? 'nearest', coordinateTransform: opts.coordinateTransform ?? 'halfPixel',
      nearestMode: opts.nearestMode ?? 'roundPreferFloor', cubicCoeffA: opts.cubicCoeffA ?? -0.75,
      excludeOutside: opts.excludeOutside ?? false, extrapolationValue: opts.extrapolationValue ?? 0,
      antialias: opts.antialias ?? false, axes: opts.axes ?? null, keepAspectRatioPolicy: opts.keepAspectRatioPolicy ?? 'stretch',
    }, [x, inputs.roi ?? null, inputs.scales ?? null, inputs.sizes ?? null], opts);
  }

  /**
   * Normalization layers (batch (inference), instance, layer, group, LRN, Lp, mean-variance); the
   * tensor operands per kind are documented on {@link NormalizationKind}: pass them in `params`.
   */
  addNormalization(x: NetworkTensor, normalization: NormalizationKind, params: readonly OptionalInput[] = [], opts: LayerOptions = {}): NetworkTensor {
    for (const [k, v] of Object.entries(normalization)) if (typeof v === 'number') assertFinite(v, `normalization ${normalization.kind} ${k}`);
    return this.one({ type: 'normalization', normalization }, [x, ...params], opts);
  }

  /** ONNX Where: condition (bool) ? a : b with broadcasting. */
  addSelect(condition: NetworkTensor, a: NetworkTensor, b: NetworkTensor, opts: LayerOptions = {}): NetworkTensor {
    return this.one({ type: 'select' }, [condition, a, b], opts);
  }

  /** The shape of x as int64 [end-start] (ONNX Shape with optional start/end). */
  addShape(x: NetworkTensor, opts: LayerOptions & { start?: number; end?: number } = {}): NetworkTensor {
    return this.one({ type: 'shape', start: opts.start ?? null, end: opts.end ?? null }, [x], opts);
  }

  /** The element count of x as an int64 scalar. */
  addSize(x: NetworkTensor, opts: LayerOptions = {}): NetworkTensor {
    return this.one({ type: 'size' }, [x], opts);
  }

  /** ONNX Range: scalars start, limit, delta (same dtype). */
  addRange(start: NetworkTensor, limit: NetworkTensor, delta: NetworkTensor, opts: LayerOptions = {}): NetworkTensor {
    return this.one({ type: 'range' }, [start, limit, delta], opts);
  }

  /** A tensor of shape `shape` (int64 1-D) filled with `value` of `dtype` (ONNX ConstantOfShape). */
  addFill(shape: NetworkTensor, value: number, dtype: DataType, opts: LayerOptions = {}): NetworkTensor {
    assertFinite(value, 'fill value');
    return this.one({ type: 'fill', value, dtype }, [shape], opts);
  }

  /** A 2-D tensor shaped like x with ones on diagonal `k` (default 0); dtype default x's. */
  addEyeLike(x: NetworkTensor, opts: LayerOptions & { k?: number; dtype?: DataType } = {}): NetworkTensor {
    return this.one({ type: 'eyeLike', k: opts.k ?? 0, dtype: opts.dtype ?? null }, [x], opts);
  }

  /** ONNX TopK: `k` int64 [1]; returns [values, indices (int64)]. Defaults: axis -1, largest, sorted. */
  addTopK(x: NetworkTensor, k: NetworkTensor, opts: LayerOptions & { axis?: number; largest?: boolean; sorted?: boolean } = {}): NetworkTensor[] {
    return this.addLayer({ type: 'topK', axis: opts.axis ?? -1, largest: opts.largest ?? true, sorted: opts.sorted ?? true }, [x, k], opts.name);
  }

  /** ONNX CumSum along the scalar int `axis` tensor; exclusive/reverse default false. */
  addCumSum(x: NetworkTensor, axis: NetworkTensor, opts: LayerOptions & { exclusive?: boolean; reverse?: boolean } = {}): NetworkTensor {
    return this.one({ type: 'cumSum', exclusive: opts.exclusive ?? false, reverse: opts.reverse ?? false }, [x, axis], opts);
  }

  /** ONNX OneHot: indices, depth (scalar), values ([off, on]); new axis at `axis` (default -1). */
  addOneHot(indices: NetworkTensor, depth: NetworkTensor, values: NetworkTensor, opts: LayerOptions & { axis?: number } = {}): NetworkTensor {
    return this.one({ type: 'oneHot', axis: opts.axis ?? -1 }, [indices, depth, values], opts);
  }

  /** Indices of non-zero elements, int64 [rank, nnz]. */
  addNonZero(x: NetworkTensor, opts: LayerOptions = {}): NetworkTensor {
    return this.one({ type: 'nonZero' }, [x], opts);
  }

  /** Upper (default) or lower triangle of the last two axes; `k` int64 scalar diagonal offset (optional). */
  addTrilu(x: NetworkTensor, opts: LayerOptions & { upper?: boolean; k?: OptionalInput } = {}): NetworkTensor {
    return this.one({ type: 'trilu', upper: opts.upper ?? true }, [x, opts.k ?? null], opts);
  }

  /** ONNX DepthToSpace (mode default 'dcr'). */
  addDepthToSpace(x: NetworkTensor, blockSize: number, opts: LayerOptions & { mode?: DepthToSpaceMode } = {}): NetworkTensor {
    return this.one({ type: 'depthToSpace', blockSize, mode: opts.mode ?? 'dcr' }, [x], opts);
  }

  /** ONNX SpaceToDepth. */
  addSpaceToDepth(x: NetworkTensor, blockSize: number, opts: LayerOptions = {}): NetworkTensor {
    return this.one({ type: 'spaceToDepth', blockSize }, [x], opts);
  }

  /** A copy of x (removed by the optimizer; useful to give a value a second name). */
  addIdentity(x: NetworkTensor, opts: LayerOptions = {}): NetworkTensor {
    return this.one({ type: 'identity' }, [x], opts);
  }

  /**
   * ONNX QuantizeLinear: saturate(round_half_even(x / scale) + zeroPoint). `scale` float32/float16, a scalar
   * (per-tensor) or 1-D along `axis` (per-axis, default axis 1); `zeroPoint` int8/uint8 shaped like the
   * scale, its dtype is the output's (uint8 when absent).
   */
  addQuantizeLinear(x: NetworkTensor, scale: NetworkTensor, zeroPoint?: OptionalInput, opts: QuantizeOptions = {}): NetworkTensor {
    return this.one({ type: 'quantizeLinear', axis: opts.axis ?? 1, saturate: opts.saturate ?? true }, [x, scale, zeroPoint ?? null], opts);
  }

  /** ONNX DequantizeLinear: (x - zeroPoint) * scale; x int8/uint8/int32, output dtype = scale's. */
  addDequantizeLinear(x: NetworkTensor, scale: NetworkTensor, zeroPoint?: OptionalInput, opts: Omit<QuantizeOptions, 'saturate'> = {}): NetworkTensor {
    return this.one({ type: 'dequantizeLinear', axis: opts.axis ?? 1 }, [x, scale, zeroPoint ?? null], opts);
  }

  /** Convenience: an int64 1-D constant from numbers (shape vectors, axes, pads). */
  addInt64Constant(values: readonly number[], name?: string): NetworkTensor {
    return this.addConstant(new Tensor('int64', BigInt64Array.from(values, (v) => BigInt(Math.trunc(v))), [values.length]), name);
  }
}
