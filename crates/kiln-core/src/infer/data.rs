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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::ElementWiseOp;
    use crate::tensor::Tensor;

    fn inp(dtype: DType, dims: &[i64]) -> Option<InferInput<'static>> {
        Some(InferInput { info: TensorInfo::new(dtype, dims.to_vec()), value: None })
    }

    #[test]
    fn unknown_dims_propagate() {
        let k = LayerKind::ElementWise { op: ElementWiseOp::Add };
        let o = infer(&k, &[inp(DType::Float32, &[-1, 3]), inp(DType::Float32, &[1, 3])]).unwrap();
        assert_eq!(o[0].dims, vec![-1, 3]);
        let o = infer(&k, &[inp(DType::Float32, &[-1, 1]), inp(DType::Float32, &[4, 5])]).unwrap();
        assert_eq!(o[0].dims, vec![4, 5]);
        let e = infer(&k, &[inp(DType::Float32, &[2, 3]), inp(DType::Float32, &[4])]).unwrap_err();
        assert_eq!(e.message, "cannot broadcast [2, 3] with [4]: dimension 1 is 3 vs 4 (dims must match or one must be 1)");
        let e = infer(&k, &[inp(DType::Float32, &[2]), inp(DType::Int64, &[2])]).unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::UnsupportedDtype);
        let cmp = LayerKind::ElementWise { op: ElementWiseOp::Less };
        assert_eq!(infer(&cmp, &[inp(DType::Int32, &[2]), inp(DType::Int32, &[])]).unwrap()[0].dtype, DType::Bool);
    }

    #[test]
    fn value_dependent_shapes() {
        let x = inp(DType::Float32, &[-1, 6]);
        let o = infer(&LayerKind::Reshape { allow_zero: false }, &[x.clone(), inp(DType::Int64, &[3])]).unwrap();
        assert_eq!(o[0].dims, vec![-1, -1, -1]);
        let shape = Tensor::from_i64(vec![2], vec![0, -1]).unwrap();
        let s = Some(InferInput { info: TensorInfo::new(DType::Int64, vec![2]), value: Some(&shape) });
        let o = infer(&LayerKind::Reshape { allow_zero: false }, &[x.clone(), s]).unwrap();
        assert_eq!(o[0].dims, vec![-1, -1]);
        let known = inp(DType::Float32, &[4, 6]);
        let s = Some(InferInput { info: TensorInfo::new(DType::Int64, vec![2]), value: Some(&shape) });
        assert_eq!(infer(&LayerKind::Reshape { allow_zero: false }, &[known, s]).unwrap()[0].dims, vec![4, 6]);
        assert_eq!(infer(&LayerKind::NonZero, &[x.clone()]).unwrap()[0].dims, vec![2, -1]);
        let r = infer(&LayerKind::Range, &[inp(DType::Int64, &[]), inp(DType::Int64, &[]), inp(DType::Int64, &[])]).unwrap();
        assert_eq!(r[0].dims, vec![-1]);
        let st = Tensor::from_i64(vec![1], vec![1]).unwrap();
        let en = Tensor::from_i64(vec![1], vec![i64::MAX]).unwrap();
        let ax = Tensor::from_i64(vec![1], vec![1]).unwrap();
        let v = |t: &'static Tensor| Some(InferInput { info: TensorInfo::new(DType::Int64, vec![1]), value: Some(t) });
        let (st, en, ax): (&'static Tensor, &'static Tensor, &'static Tensor) =
            (Box::leak(Box::new(st)), Box::leak(Box::new(en)), Box::leak(Box::new(ax)));
        let o = infer(&LayerKind::Slice, &[x, v(st), v(en), v(ax)]).unwrap();
        assert_eq!(o[0].dims, vec![-1, 5]);
    }

    #[test]
    fn param_helpers() {
        assert_eq!(split_sizes(7, 3, None).unwrap(), vec![3, 3, 1]);
        assert_eq!(split_sizes(6, 3, None).unwrap(), vec![2, 2, 2]);
        assert!(split_sizes(6, 2, Some(&[2, 3])).is_err());
        assert_eq!(slice_axis(10, -1, i64::MIN, -3).unwrap(), SliceAxis { start: 9, step: -3, len: 4 });
        assert_eq!(slice_axis(10, 0, i64::MAX, 1).unwrap().len, 10);
        assert_eq!(range_len_i64(10, 4, -3).unwrap(), 2);
        assert_eq!(shape_bounds(3, Some(-10), Some(10)), (0, 3));
        assert_eq!(reshape_dims(&[2, 3, 4], &[0, -1], false).unwrap(), vec![2, 12]);
        assert_eq!(reshape_dims(&[0, 3], &[0, 3], true).unwrap(), vec![0, 3]);
        assert!(reshape_dims(&[2, 3], &[-1, -1], false).is_err());
        assert_eq!(unsqueeze_axes(&[-1, 0], 1).unwrap(), vec![0, 2]);
    }
}
