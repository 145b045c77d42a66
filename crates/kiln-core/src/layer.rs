//! Layer kinds: the vocabulary of the Network API.
//!
//! Each variant documents its inputs (tensor operands, in order) and outputs. Parameters that ONNX
//! passes as tensors (reshape shapes, slice bounds, pads, resize scales…) are *inputs* here too, so a
//! layer works whether they are constants (folded at build time) or computed at run time.
//! The serde form of `LayerKind` (JSON, `{"type": "convolution", …}`) is the contract between the
//! TypeScript Network API and this crate. Optional inputs (ONNX's empty names) are `None` in the
//! layer's input list; trailing optional inputs may also simply be left out. Semantics follow the ONNX operator of the same name unless
//! a comment says otherwise.

use crate::dtype::DType;
use serde::{Deserialize, Serialize};

/// How convolution/pooling padding is determined (ONNX `auto_pad`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum PaddingMode {
    /// Use `pads` as given.
    #[default]
    Explicit,
    /// Output = ceil(input / stride); the extra pad goes at the end.
    SameUpper,
    /// Output = ceil(input / stride); the extra pad goes at the beginning.
    SameLower,
    /// No padding.
    Valid,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ActivationKind {
    Relu,
    Sigmoid,
    Tanh,
    LeakyRelu { alpha: f32 },
    Elu { alpha: f32 },
    Selu { alpha: f32, gamma: f32 },
    Celu { alpha: f32 },
    Softplus,
    Softsign,
    HardSigmoid { alpha: f32, beta: f32 },
    HardSwish,
    ThresholdedRelu { alpha: f32 },
    ScaledTanh { alpha: f32, beta: f32 },
    /// Clamp to [min, max]; use ±infinity for an open side.
    Clip { min: f32, max: f32 },
    /// `tanh: true` is ONNX Gelu's approximate="tanh".
    Gelu { tanh: bool },
    Mish,
    /// ONNX Shrink.
    Shrink { bias: f32, lambd: f32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UnaryOp {
    Abs,
    Neg,
    Exp,
    Log,
    Sqrt,
    Reciprocal,
    Floor,
    Ceil,
    /// Round half to even.
    Round,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Asinh,
    Acosh,
    Atanh,
    Erf,
    /// Logical not (bool).
    Not,
    Sign,
    /// Output bool.
    IsNan,
    /// Output bool: x == +inf (if `detect_positive`) or x == -inf (if `detect_negative`), see `Unary`.
    IsInf,
    BitwiseNot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ElementWiseOp {
    Add,
    Sub,
    Mul,
    /// Integer division truncates toward zero (C semantics, as ONNX Div).
    Div,
    Pow,
    Max,
    Min,
    /// ONNX Mod with fmod=0: result has the sign of the divisor (integers only, or floats via fmod rules).
    Mod,
    /// ONNX Mod with fmod=1: C fmod, sign of the dividend.
    Fmod,
    /// Logical ops: bool inputs, bool output.
    And,
    Or,
    Xor,
    /// Comparisons: bool output.
    Equal,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    BitShiftLeft,
    BitShiftRight,
    BitwiseAnd,
    BitwiseOr,
    BitwiseXor,
    /// ONNX PRelu: x if x >= 0 else slope * x (inputs: x, slope).
    PRelu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReduceOp {
    Sum,
    Prod,
    Max,
    Min,
    Mean,
    L1,
    L2,
    LogSum,
    LogSumExp,
    SumSquare,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum PoolingKind {
    Max,
    Average { count_include_pad: bool },
    /// Lp pooling: (sum |x|^p)^(1/p).
    Lp { p: f32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SoftmaxKind {
    Softmax,
    LogSoftmax,
    Hardmax,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PadMode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ResizeMode {
    Nearest,
    Linear,
    Cubic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CoordinateTransform {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfHalfPixelForNn,
    TfCropAndResize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KeepAspectRatioPolicy {
    Stretch,
    NotLarger,
    NotSmaller,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ScatterReduction {
    None,
    Add,
    Mul,
    Max,
    Min,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DepthToSpaceMode {
    Dcr,
    Crd,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum NormalizationKind {
    /// Inference-mode batch norm. Inputs: x, scale, bias, mean, var (each [C]); normalises axis 1.
    Batch { epsilon: f32 },
    /// Inputs: x, scale [C], bias [C]; statistics over the spatial axes of each (n, c).
    Instance { epsilon: f32 },
    /// Inputs: x, scale, bias? (broadcast over the normalised trailing axes); statistics over axes [axis, rank).
    Layer { axis: i64, epsilon: f32 },
    /// Inputs: x, scale [C], bias [C] (ONNX GroupNormalization-21 semantics: per-channel affine).
    Group { num_groups: usize, epsilon: f32 },
    /// Local response normalization across channels. Input: x.
    Lrn { size: usize, alpha: f32, beta: f32, bias: f32 },
    /// x / ||x||_p along `axis` (p = 1 or 2). Input: x.
    LpNorm { axis: i64, p: i64 },
    /// (x - mean) / sqrt(var) over `axes` (ONNX MeanVarianceNormalization, epsilon 1e-9). Input: x.
    MeanVariance { axes: Vec<i64> },
}

/// A step of a fused pointwise chain (built by the optimizer, not by front ends).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum PointwiseStep {
    Activation { activation: ActivationKind },
    Unary { op: UnaryOp },
    /// `acc = acc <op> inputs[operand]` (or `inputs[operand] <op> acc` when `swapped`), the operand
    /// broadcast to the chain's output shape.
    Binary { op: ElementWiseOp, operand: usize, swapped: bool },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum LayerKind {
    /// Inputs: x [N, C, spatial…], weights [M, C/groups, k…], bias [M]? Output [N, M, out…].
    /// `pads` = [begin…, end…] (length 2 × spatial rank); empty lists mean defaults (stride/dilation 1, pad 0).
    /// `activation` is set by the optimizer when it fuses a following activation.
    Convolution {
        strides: Vec<usize>,
        pads: Vec<usize>,
        dilations: Vec<usize>,
        groups: usize,
        padding_mode: PaddingMode,
        #[serde(default)]
        activation: Option<ActivationKind>,
    },
    /// Transposed convolution. Inputs: x, weights [C, M/groups, k…], bias [M]?
    /// `output_shape`, if non-empty, fixes the spatial output size (pads derived as ONNX does).
    Deconvolution {
        strides: Vec<usize>,
        pads: Vec<usize>,
        dilations: Vec<usize>,
        groups: usize,
        output_padding: Vec<usize>,
        output_shape: Vec<usize>,
        padding_mode: PaddingMode,
    },
    /// Input: x [N, C, spatial…]. `global: true` pools the whole spatial extent (other fields ignored).
    Pooling {
        pooling: PoolingKind,
        global: bool,
        kernel_shape: Vec<usize>,
        strides: Vec<usize>,
        pads: Vec<usize>,
        dilations: Vec<usize>,
        ceil_mode: bool,
        padding_mode: PaddingMode,
    },
    /// Inputs: a, b (numpy matmul semantics, batch dims broadcast, 1-D operands promoted).
    /// `transpose_a/b` swap the last two axes first (used by Gemm).
    /// The optimizer may add `bias` (a third input, broadcast to the output) and `activation`.
    MatrixMultiply {
        transpose_a: bool,
        transpose_b: bool,
        #[serde(default)]
        has_bias: bool,
        #[serde(default)]
        activation: Option<ActivationKind>,
    },
    /// Inputs: a, b with multidirectional broadcasting.
    ElementWise { op: ElementWiseOp },
    Activation { activation: ActivationKind },
    /// For `IsInf`, `detect_positive`/`detect_negative` choose which infinities count.
    Unary {
        op: UnaryOp,
        #[serde(default = "yes")]
        detect_positive: bool,
        #[serde(default = "yes")]
        detect_negative: bool,
    },
    /// `axes: None` reduces all axes (unless `noop_with_empty_axes`, then it is identity).
    Reduce { op: ReduceOp, axes: Option<Vec<i64>>, keep_dims: bool, noop_with_empty_axes: bool },
    /// ArgMax/ArgMin → int64 indices.
    ArgMinMax { max: bool, axis: i64, keep_dims: bool, select_last_index: bool },
    /// Along one axis (ONNX-13 semantics).
    Softmax { kind: SoftmaxKind, axis: i64 },
    /// Inputs: 1 or more tensors.
    Concatenation { axis: i64 },
    /// Inputs: x, split sizes (int64, optional). Outputs: `num_outputs` tensors.
    Split { axis: i64, num_outputs: usize },
    Transpose { perm: Vec<usize> },
    /// Inputs: x, shape (int64). 0 copies the input dim unless `allow_zero`; -1 is inferred.
    Reshape { allow_zero: bool },
    Flatten { axis: i64 },
    Squeeze { axes: Option<Vec<i64>> },
    Unsqueeze { axes: Vec<i64> },
    /// Inputs: x, shape (int64), bidirectional broadcast.
    Expand,
    /// Inputs: x, repeats (int64).
    Tile,
    /// Inputs: data, starts, ends, axes?, steps? (all int64).
    Slice,
    /// Inputs: data, indices.
    Gather { axis: i64 },
    GatherElements { axis: i64 },
    GatherNd { batch_dims: usize },
    /// Inputs: data, indices, updates.
    ScatterElements { axis: i64, reduction: ScatterReduction },
    ScatterNd { reduction: ScatterReduction },
    Cast { to: DType },
    /// Inputs: x, pads (int64, [begin…, end…]), constant value?, axes?.
    Pad { mode: PadMode },
    /// Inputs: x, roi?, scales?, sizes? (exactly one of scales/sizes present). `axes` lists the axes
    /// scales/sizes refer to (default: all).
    Resize {
        mode: ResizeMode,
        coordinate_transform: CoordinateTransform,
        nearest_mode: NearestMode,
        cubic_coeff_a: f32,
        exclude_outside: bool,
        extrapolation_value: f32,
        antialias: bool,
        axes: Option<Vec<i64>>,
        keep_aspect_ratio_policy: KeepAspectRatioPolicy,
    },
    Normalization { normalization: NormalizationKind },
    /// Inputs: condition (bool), a, b — ONNX Where.
    Select,
    /// Output int64 [end-start] — ONNX Shape with start/end.
    Shape { start: Option<i64>, end: Option<i64> },
    /// Output int64 scalar: element count.
    Size,
    /// Inputs: start, limit, delta (scalars).
    Range,
    /// Input: shape (int64). Output: `value` repeated (ONNX ConstantOfShape).
    Fill { value: f64, dtype: DType },
    /// Input: x (2-D). Output: identity-like matrix with ones on diagonal k.
    EyeLike { k: i64, dtype: Option<DType> },
    /// Inputs: x, k (int64 [1]). Outputs: values, indices (int64).
    TopK { axis: i64, largest: bool, sorted: bool },
    /// Inputs: x, axis (scalar int).
    CumSum { exclusive: bool, reverse: bool },
    /// Inputs: indices, depth (scalar), values ([off, on]). Output dtype = values' dtype.
    OneHot { axis: i64 },
    /// Output int64 [rank, nnz].
    NonZero,
    /// Inputs: x, k? (int64 scalar).
    Trilu { upper: bool },
    DepthToSpace { block_size: usize, mode: DepthToSpaceMode },
    SpaceToDepth { block_size: usize },
    Identity,
    /// ONNX QuantizeLinear (opsets 10/13/19/21, int8/uint8 outputs). Inputs: x (float32/float16/int32),
    /// y_scale (float32/float16; scalar or [1] = per-tensor, 1-D of length dims[axis] = per-axis),
    /// y_zero_point? (int8/uint8, the scale's shape; absent = uint8 zero). Output dtype = the zero
    /// point's (uint8 without one): saturate(round_half_even(x / scale) + zero_point).
    /// `saturate` only matters for float8 outputs (not supported); integer outputs always saturate.
    /// Blocked quantization (ONNX-21 `block_size`) is not representable.
    QuantizeLinear {
        #[serde(default = "one")]
        axis: i64,
        #[serde(default = "yes")]
        saturate: bool,
    },
    /// ONNX DequantizeLinear. Inputs: x (int8/uint8/int32), x_scale (float32/float16, shaped as for
    /// QuantizeLinear), x_zero_point? (x's dtype; must be 0 for int32). Output = (x - zp) * scale in the
    /// scale's dtype.
    DequantizeLinear {
        #[serde(default = "one")]
        axis: i64,
    },
    /// A chain of pointwise steps fused by the optimizer. Input 0 is the chain's starting value;
    /// the others are operands of `Binary` steps. Output dtype = input 0's dtype.
    PointwiseChain { steps: Vec<PointwiseStep> },
}

fn yes() -> bool {
    true
}

fn one() -> i64 {
    1
}

impl LayerKind {
    /// The layer type name as it appears in JSON, errors and `kiln inspect`.
    pub fn type_name(&self) -> &'static str {
        match self {
            LayerKind::Convolution { .. } => "convolution",
            LayerKind::Deconvolution { .. } => "deconvolution",
            LayerKind::Pooling { .. } => "pooling",
            LayerKind::MatrixMultiply { .. } => "matrixMultiply",
            LayerKind::ElementWise { .. } => "elementWise",
            LayerKind::Activation { .. } => "activation",
            LayerKind::Unary { .. } => "unary",
            LayerKind::Reduce { .. } => "reduce",
            LayerKind::ArgMinMax { .. } => "argMinMax",
            LayerKind::Softmax { .. } => "softmax",
            LayerKind::Concatenation { .. } => "concatenation",
            LayerKind::Split { .. } => "split",
            LayerKind::Transpose { .. } => "transpose",
            LayerKind::Reshape { .. } => "reshape",
            LayerKind::Flatten { .. } => "flatten",
            LayerKind::Squeeze { .. } => "squeeze",
            LayerKind::Unsqueeze { .. } => "unsqueeze",
            LayerKind::Expand => "expand",
            LayerKind::Tile => "tile",
            LayerKind::Slice => "slice",
            LayerKind::Gather { .. } => "gather",
            LayerKind::GatherElements { .. } => "gatherElements",
            LayerKind::GatherNd { .. } => "gatherNd",
            LayerKind::ScatterElements { .. } => "scatterElements",
            LayerKind::ScatterNd { .. } => "scatterNd",
            LayerKind::Cast { .. } => "cast",
            LayerKind::Pad { .. } => "pad",
            LayerKind::Resize { .. } => "resize",
            LayerKind::Normalization { .. } => "normalization",
            LayerKind::Select => "select",
            LayerKind::Shape { .. } => "shape",
            LayerKind::Size => "size",
            LayerKind::Range => "range",
            LayerKind::Fill { .. } => "fill",
            LayerKind::EyeLike { .. } => "eyeLike",
            LayerKind::TopK { .. } => "topK",
            LayerKind::CumSum { .. } => "cumSum",
            LayerKind::OneHot { .. } => "oneHot",
            LayerKind::NonZero => "nonZero",
            LayerKind::Trilu { .. } => "trilu",
            LayerKind::DepthToSpace { .. } => "depthToSpace",
            LayerKind::SpaceToDepth { .. } => "spaceToDepth",
            LayerKind::Identity => "identity",
            LayerKind::PointwiseChain { .. } => "pointwiseChain",
            LayerKind::QuantizeLinear { .. } => "quantizeLinear",
            LayerKind::DequantizeLinear { .. } => "dequantizeLinear",
        }
    }

    /// Number of outputs the layer produces.
    pub fn num_outputs(&self) -> usize {
        match self {
            LayerKind::Split { num_outputs, .. } => *num_outputs,
            LayerKind::TopK { .. } => 2,
            _ => 1,
        }
    }

    /// Input indices whose *values* (not just shapes) determine output shapes. These must be
    /// build-time constants for static shapes, and are read on the host at run time otherwise.
    pub fn shape_inputs(&self) -> &'static [usize] {
        match self {
            LayerKind::Split { .. } => &[1],
            LayerKind::Reshape { .. } | LayerKind::Expand | LayerKind::Tile => &[1],
            LayerKind::Slice => &[1, 2, 3, 4],
            LayerKind::Pad { .. } => &[1, 3],
            LayerKind::Resize { .. } => &[1, 2, 3],
            LayerKind::Range => &[0, 1, 2],
            LayerKind::Fill { .. } => &[0],
            LayerKind::TopK { .. } => &[1],
            LayerKind::OneHot { .. } => &[1],
            LayerKind::NonZero => &[0],
            _ => &[],
        }
    }
}
