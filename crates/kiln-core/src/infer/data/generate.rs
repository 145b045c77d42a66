//! Inference for layers that generate tensors from shapes or scalars: shape, size, range, fill,
//! eye-like.

use super::params::{range_len, range_len_i64, shape_bounds, to_usize_dims};
use super::{input, int_values, known_len};
use crate::dtype::DType;
use crate::error::Result;
use crate::infer::{InferInput, TensorInfo};
use crate::kiln_bail;
use crate::tensor::checked_numel;

pub fn infer_shape(start: Option<i64>, end: Option<i64>, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    let (s, e) = shape_bounds(x.info.rank(), start, end);
    Ok(vec![TensorInfo::new(DType::Int64, vec![(e - s) as i64])])
}

pub fn infer_size(inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    input(inputs, 0, "x")?;
    Ok(vec![TensorInfo::new(DType::Int64, vec![])])
}

/// Number of Range elements for scalar tensors of one dtype (exact integer maths for ints).
pub fn range_count(start: &crate::tensor::Tensor, limit: &crate::tensor::Tensor, delta: &crate::tensor::Tensor) -> Result<usize> {
    for (t, n) in [(start, "start"), (limit, "limit"), (delta, "delta")] {
        if t.numel() != 1 {
            kiln_bail!(InvalidNetwork, "range {n} must be a scalar, got dims {:?}", t.shape);
        }
    }
    if start.dtype().is_float() {
        range_len(start.data.to_f64_vec()[0], limit.data.to_f64_vec()[0], delta.data.to_f64_vec()[0])
    } else {
        range_len_i64(start.data.to_i64_vec()[0], limit.data.to_i64_vec()[0], delta.data.to_i64_vec()[0])
    }
}

pub fn infer_range(inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let s = input(inputs, 0, "start")?;
    let l = input(inputs, 1, "limit")?;
    let d = input(inputs, 2, "delta")?;
    let dt = s.info.dtype;
    if l.info.dtype != dt || d.info.dtype != dt {
        kiln_bail!(UnsupportedDtype, "range start, limit and delta must share a dtype, got {dt}, {}, {}", l.info.dtype, d.info.dtype);
    }
    if dt == DType::Bool || dt == DType::Float16 {
        kiln_bail!(UnsupportedDtype, "range does not accept {dt}");
    }
    let n = match (s.value, l.value, d.value) {
        (Some(s), Some(l), Some(d)) => range_count(s, l, d)? as i64,
        _ => -1,
    };
    Ok(vec![TensorInfo::new(dt, vec![n])])
}

pub fn infer_fill(dtype: DType, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let s = input(inputs, 0, "shape")?;
    let dims = match int_values(s, "fill shape")? {
        Some(v) => {
            let u = to_usize_dims(&v, "fill shape")?;
            checked_numel(&u)?;
            v
        }
        None => match known_len(s) {
            Some(n) => vec![-1; n],
            None => kiln_bail!(InvalidNetwork, "fill needs the length of its shape input to be known (got dims {:?})", s.info.dims),
        },
    };
    Ok(vec![TensorInfo::new(dtype, dims)])
}

pub fn infer_eye_like(dtype: Option<DType>, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    if x.info.rank() != 2 {
        kiln_bail!(InvalidNetwork, "eyeLike needs a 2-D input, got dims {:?}", x.info.dims);
    }
    Ok(vec![TensorInfo::new(dtype.unwrap_or(x.info.dtype), x.info.dims.clone())])
}
