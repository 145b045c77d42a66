//! Inference for index-driven layers: gather/scatter family, one-hot, non-zero, trilu.

use super::params::normalize_axis;
use super::{check_index_dtype, input, optional};
use crate::dtype::DType;
use crate::error::Result;
use crate::infer::{InferInput, TensorInfo};
use crate::kiln_bail;

/// Two dims that must agree (either may be unknown); returns the known one.
fn agree(a: i64, b: i64, what: &str) -> Result<i64> {
    if a >= 0 && b >= 0 && a != b {
        kiln_bail!(ShapeMismatch, "{what}: {a} vs {b}");
    }
    Ok(if a >= 0 { a } else { b })
}

pub fn infer_gather(axis: i64, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let data = input(inputs, 0, "data")?;
    let idx = input(inputs, 1, "indices")?;
    check_index_dtype(idx, "gather indices")?;
    if data.info.rank() == 0 {
        kiln_bail!(InvalidNetwork, "gather needs data of rank >= 1, got a scalar");
    }
    let ax = normalize_axis(axis, data.info.rank(), "gather")?;
    let mut dims = data.info.dims[..ax].to_vec();
    dims.extend_from_slice(&idx.info.dims);
    dims.extend_from_slice(&data.info.dims[ax + 1..]);
    Ok(vec![TensorInfo::new(data.info.dtype, dims)])
}

pub fn infer_gather_elements(axis: i64, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let data = input(inputs, 0, "data")?;
    let idx = input(inputs, 1, "indices")?;
    check_index_dtype(idx, "gatherElements indices")?;
    if data.info.rank() == 0 || idx.info.rank() != data.info.rank() {
        kiln_bail!(
            ShapeMismatch,
            "gatherElements needs indices of the same rank as data (>= 1), got {:?} and {:?}",
            idx.info.dims,
            data.info.dims
        );
    }
    normalize_axis(axis, data.info.rank(), "gatherElements")?;
    Ok(vec![TensorInfo::new(data.info.dtype, idx.info.dims.clone())])
}

pub fn infer_gather_nd(batch_dims: usize, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let data = input(inputs, 0, "data")?;
    let idx = input(inputs, 1, "indices")?;
    if idx.info.dtype != DType::Int64 {
        kiln_bail!(UnsupportedDtype, "gatherNd indices must be int64, got {}", idx.info.dtype);
    }
    let (r, q) = (data.info.rank(), idx.info.rank());
    if q < 1 || r < 1 || batch_dims >= q.min(r) {
        kiln_bail!(
            InvalidNetwork,
            "gatherNd batch_dims {batch_dims} must be smaller than the ranks of data {:?} and indices {:?}",
            data.info.dims,
            idx.info.dims
        );
    }
    let m = idx.info.dims[q - 1];
    if m < 0 {
        kiln_bail!(InvalidNetwork, "gatherNd needs the last dim of indices to be known, got {:?}", idx.info.dims);
    }
    let m = m as usize;
    if m < 1 || m > r - batch_dims {
        kiln_bail!(ShapeMismatch, "gatherNd: last indices dim {m} must be in 1..={} for data {:?}", r - batch_dims, data.info.dims);
    }
    let mut dims = Vec::new();
    for i in 0..q - 1 {
        let d = if i < batch_dims { agree(idx.info.dims[i], data.info.dims[i], "gatherNd batch dims differ")? } else { idx.info.dims[i] };
        dims.push(d);
    }
    dims.extend_from_slice(&data.info.dims[batch_dims + m..]);
    Ok(vec![TensorInfo::new(data.info.dtype, dims)])
}

pub fn infer_scatter_elements(axis: i64, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let data = input(inputs, 0, "data")?;
    let idx = input(inputs, 1, "indices")?;
    let upd = input(inputs, 2, "updates")?;
    check_index_dtype(idx, "scatterElements indices")?;
    if upd.info.dtype != data.info.dtype {
        kiln_bail!(UnsupportedDtype, "scatterElements updates are {} but data is {}", upd.info.dtype, data.info.dtype);
    }
    if data.info.rank() == 0 || idx.info.rank() != data.info.rank() || upd.info.rank() != idx.info.rank() {
        kiln_bail!(
            ShapeMismatch,
            "scatterElements needs data, indices and updates of one rank (>= 1), got {:?}, {:?}, {:?}",
            data.info.dims,
            idx.info.dims,
            upd.info.dims
        );
    }
    for i in 0..idx.info.rank() {
        agree(idx.info.dims[i], upd.info.dims[i], "scatterElements indices and updates dims differ")?;
    }
    normalize_axis(axis, data.info.rank(), "scatterElements")?;
    Ok(vec![data.info.clone()])
}

pub fn infer_scatter_nd(inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let data = input(inputs, 0, "data")?;
    let idx = input(inputs, 1, "indices")?;
    let upd = input(inputs, 2, "updates")?;
    if idx.info.dtype != DType::Int64 {
        kiln_bail!(UnsupportedDtype, "scatterNd indices must be int64, got {}", idx.info.dtype);
    }
    if upd.info.dtype != data.info.dtype {
        kiln_bail!(UnsupportedDtype, "scatterNd updates are {} but data is {}", upd.info.dtype, data.info.dtype);
    }
    let q = idx.info.rank();
    let r = data.info.rank();
    if q < 1 || r < 1 {
        kiln_bail!(InvalidNetwork, "scatterNd needs data and indices of rank >= 1");
    }
    let k = idx.info.dims[q - 1];
    if k >= 0 {
        let k = k as usize;
        if k > r {
            kiln_bail!(ShapeMismatch, "scatterNd: last indices dim {k} exceeds the data rank {r}");
        }
        let expect: Vec<i64> = idx.info.dims[..q - 1].iter().chain(&data.info.dims[k..]).copied().collect();
        if expect.len() != upd.info.rank() {
            kiln_bail!(ShapeMismatch, "scatterNd updates must have dims {:?}, got {:?}", expect, upd.info.dims);
        }
        for (i, &e) in expect.iter().enumerate() {
            agree(e, upd.info.dims[i], "scatterNd updates dims do not match indices[:-1] + data[k:]")?;
        }
    }
    Ok(vec![data.info.clone()])
}

pub fn infer_one_hot(axis: i64, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let idx = input(inputs, 0, "indices")?;
    let depth = input(inputs, 1, "depth")?;
    let values = input(inputs, 2, "values")?;
    if idx.info.dtype == DType::Bool || depth.info.dtype == DType::Bool {
        kiln_bail!(UnsupportedDtype, "oneHot indices and depth must be numeric");
    }
    if values.info.dims.iter().product::<i64>() != 2 && values.info.is_static() {
        kiln_bail!(ShapeMismatch, "oneHot values must hold exactly 2 elements [off, on], got dims {:?}", values.info.dims);
    }
    let r = idx.info.rank();
    let ax = normalize_axis(axis, r + 1, "oneHot")?;
    let d = match depth.value {
        Some(t) => {
            let v = t.data.to_f64_vec();
            if v.len() != 1 {
                kiln_bail!(InvalidNetwork, "oneHot depth must be a single value, got {} values", v.len());
            }
            if !(v[0] >= 1.0) || v[0] > crate::tensor::MAX_ELEMENTS as f64 {
                kiln_bail!(InvalidValue, "oneHot depth must be a positive count, got {}", v[0]);
            }
            v[0] as i64
        }
        None => -1,
    };
    let mut dims = idx.info.dims.clone();
    dims.insert(ax, d);
    Ok(vec![TensorInfo::new(values.info.dtype, dims)])
}

pub fn infer_non_zero(inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    let nnz = match x.value {
        Some(t) => match &t.data {
            crate::tensor::TensorData::Bool(v) => v.iter().filter(|&&b| b).count() as i64,
            d => d.to_f64_vec().iter().filter(|&&f| f != 0.0).count() as i64,
        },
        None => -1,
    };
    // ONNX NonZero on a scalar treats it as rank 1.
    let rank = x.info.rank().max(1) as i64;
    Ok(vec![TensorInfo::new(DType::Int64, vec![rank, nnz])])
}

pub fn infer_trilu(inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    if x.info.rank() < 2 {
        kiln_bail!(InvalidNetwork, "trilu needs an input of rank >= 2, got dims {:?}", x.info.dims);
    }
    if let Some(k) = optional(inputs, 1) {
        check_index_dtype(k, "trilu k")?;
    }
    Ok(vec![x.info.clone()])
}
