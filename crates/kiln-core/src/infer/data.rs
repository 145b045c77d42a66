//! Inference for pointwise layers (elementwise, activation, unary, select, cast, pointwise chains) and data-movement layers (shuffle family, slice, gather/scatter, pad, concat, split, shape, fill, range…).
//!
//! The parameter helpers in `params` are public: the CPU kernels call them so both sides agree.

use super::{InferInput, TensorInfo};
use crate::dtype::DType;
use crate::error::Result;
use crate::kiln_bail;
use crate::layer::LayerKind;

mod generate;
mod indexing;
mod movement;
pub mod params;
pub mod pointwise;

pub use params::*;

pub fn infer(kind: &LayerKind, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    match kind {
        LayerKind::ElementWise { op } => pointwise::infer_elementwise(*op, inputs),
        LayerKind::Activation { activation } => pointwise::infer_activation(activation, inputs),
        LayerKind::Unary { op, .. } => pointwise::infer_unary(*op, inputs),
        LayerKind::Select => pointwise::infer_select(inputs),
        LayerKind::Cast { to } => pointwise::infer_cast(*to, inputs),
        LayerKind::PointwiseChain { steps } => pointwise::infer_chain(steps, inputs),
        LayerKind::Concatenation { axis } => movement::infer_concat(*axis, inputs),
        LayerKind::Split { axis, num_outputs } => movement::infer_split(*axis, *num_outputs, inputs),
        LayerKind::Transpose { perm } => movement::infer_transpose(perm, inputs),
        LayerKind::Reshape { allow_zero } => movement::infer_reshape(*allow_zero, inputs),
        LayerKind::Flatten { axis } => movement::infer_flatten(*axis, inputs),
        LayerKind::Squeeze { axes } => movement::infer_squeeze(axes.as_deref(), inputs),
        LayerKind::Unsqueeze { axes } => movement::infer_unsqueeze(axes, inputs),
        LayerKind::Expand => movement::infer_expand(inputs),
        LayerKind::Tile => movement::infer_tile(inputs),
        LayerKind::Slice => movement::infer_slice(inputs),
        LayerKind::Pad { .. } => movement::infer_pad(inputs),
        LayerKind::DepthToSpace { block_size, .. } => movement::infer_depth_to_space(*block_size, inputs),
        LayerKind::SpaceToDepth { block_size } => movement::infer_space_to_depth(*block_size, inputs),
        LayerKind::Identity => Ok(vec![input(inputs, 0, "x")?.info.clone()]),
        LayerKind::Gather { axis } => indexing::infer_gather(*axis, inputs),
        LayerKind::GatherElements { axis } => indexing::infer_gather_elements(*axis, inputs),
        LayerKind::GatherNd { batch_dims } => indexing::infer_gather_nd(*batch_dims, inputs),
        LayerKind::ScatterElements { axis, .. } => indexing::infer_scatter_elements(*axis, inputs),
        LayerKind::ScatterNd { .. } => indexing::infer_scatter_nd(inputs),
        LayerKind::OneHot { axis } => indexing::infer_one_hot(*axis, inputs),
        LayerKind::NonZero => indexing::infer_non_zero(inputs),
        LayerKind::Trilu { .. } => indexing::infer_trilu(inputs),
        LayerKind::Shape { start, end } => generate::infer_shape(*start, *end, inputs),
        LayerKind::Size => generate::infer_size(inputs),
        LayerKind::Range => generate::infer_range(inputs),
        LayerKind::Fill { dtype, .. } => generate::infer_fill(*dtype, inputs),
        LayerKind::EyeLike { dtype, .. } => generate::infer_eye_like(*dtype, inputs),
        _ => kiln_bail!(Internal, "'{}' is not a pointwise or data-movement layer", kind.type_name()),
    }
}

/// Required input `i`.
pub(crate) fn input<'a, 'b>(inputs: &'b [Option<InferInput<'a>>], i: usize, what: &str) -> Result<&'b InferInput<'a>> {
    match inputs.get(i) {
        Some(Some(x)) => Ok(x),
        _ => kiln_bail!(InvalidNetwork, "missing required input {i} ({what})"),
    }
}

/// Optional input `i` (absent or beyond the list = None).
pub(crate) fn optional<'a, 'b>(inputs: &'b [Option<InferInput<'a>>], i: usize) -> Option<&'b InferInput<'a>> {
    inputs.get(i).and_then(|x| x.as_ref())
}

/// Checks an integer index/shape input's dtype (int64, or int32 which ONNX allows for indices).
pub(crate) fn check_index_dtype(x: &InferInput, what: &str) -> Result<()> {
    if !matches!(x.info.dtype, DType::Int64 | DType::Int32) {
        kiln_bail!(UnsupportedDtype, "{what} must be int64 (or int32), got {}", x.info.dtype);
    }
    Ok(())
}

/// The values of an integer shape-like input when known, after checking it is 0-D or 1-D.
pub(crate) fn int_values(x: &InferInput, what: &str) -> Result<Option<Vec<i64>>> {
    check_index_dtype(x, what)?;
    if x.info.rank() > 1 {
        kiln_bail!(InvalidNetwork, "{what} must be a 1-D tensor, got dims {:?}", x.info.dims);
    }
    Ok(x.value.map(|t| t.data.to_i64_vec()))
}

/// Length of a 1-D input when its dim is known.
pub(crate) fn known_len(x: &InferInput) -> Option<usize> {
    match x.info.dims.as_slice() {
        [] => Some(1),
        [d] if *d >= 0 => Some(*d as usize),
        _ => None,
    }
}
