//! Inference for QuantizeLinear / DequantizeLinear (ONNX semantics, per-tensor and per-axis).
//!
//! `quant_axis` is public: the CPU kernel uses it so both sides agree on what "per-axis" means.

use super::data::{input, optional};
use super::{InferInput, TensorInfo};
use crate::dtype::DType;
use crate::error::Result;
use crate::kiln_bail;
use crate::layer::LayerKind;

/// How a scale (and zero point) of dims `scale_dims` applies to a tensor of rank `rank`:
/// `None` = per-tensor (scalar or one element), `Some(axis)` = per-axis along the normalised `axis`.
/// Blocked quantization (scale of the input's rank, ONNX-21 `block_size`) is rejected.
pub fn quant_axis(scale_dims: &[i64], rank: usize, axis: i64) -> Result<Option<usize>> {
    match scale_dims {
        [] => Ok(None),
        [1] if rank == 0 => Ok(None),
        [n] => {
            let r = rank as i64;
            if axis < -r || axis >= r {
                kiln_bail!(InvalidNetwork, "axis {axis} is out of range for a rank-{rank} input (valid: {}..{})", -r, r - 1);
            }
            let a = if axis < 0 { axis + r } else { axis } as usize;
            // A [1] scale on a length-1 axis is both per-tensor and per-axis; they compute the same thing.
            if *n == 1 {
                return Ok(None);
            }
            Ok(Some(a))
        }
        _ => kiln_bail!(
            Unsupported,
            "a scale of dims {scale_dims:?} means blocked quantization (ONNX-21 block_size), which Kiln does not support; use a per-tensor (scalar) or per-axis (1-D) scale"
        ),
    }
}

pub fn infer(kind: &LayerKind, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    match kind {
        LayerKind::QuantizeLinear { axis, .. } => infer_quantize(*axis, inputs),
        LayerKind::DequantizeLinear { axis } => infer_dequantize(*axis, inputs),
        _ => kiln_bail!(Internal, "'{}' is not a quantization layer", kind.type_name()),
    }
}

/// Checks scale/zero-point shapes against x; returns nothing, errors name what is wrong.
fn check_params(x: &InferInput, scale: &InferInput, zero_point: Option<&InferInput>, axis: i64) -> Result<()> {
    if !matches!(scale.info.dtype, DType::Float32 | DType::Float16) {
        kiln_bail!(UnsupportedDtype, "the scale must be float32 or float16, got {}", scale.info.dtype);
    }
    let per_axis = quant_axis(&scale.info.dims, x.info.rank(), axis)?;
    if let (Some(a), [n]) = (per_axis, scale.info.dims.as_slice()) {
        let d = x.info.dims[a];
        if d >= 0 && *n >= 0 && d != *n {
            kiln_bail!(ShapeMismatch, "a per-axis scale of length {n} does not match input dims {:?} on axis {a} (size {d})", x.info.dims);
        }
    }
    if let Some(zp) = zero_point {
        if zp.info.dims != scale.info.dims && !(zp.info.dims.iter().product::<i64>() == 1 && scale.info.dims.iter().product::<i64>() == 1) {
            kiln_bail!(ShapeMismatch, "the zero point has dims {:?} but the scale has {:?}; they must match", zp.info.dims, scale.info.dims);
        }
    }
    Ok(())
}

fn infer_quantize(axis: i64, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    let scale = input(inputs, 1, "y_scale")?;
    let zp = optional(inputs, 2);
    if !matches!(x.info.dtype, DType::Float32 | DType::Float16 | DType::Int32) {
        kiln_bail!(UnsupportedDtype, "QuantizeLinear input x must be float32, float16 or int32, got {}", x.info.dtype);
    }
    let out = match zp {
        None => DType::Uint8,
        Some(z) if matches!(z.info.dtype, DType::Int8 | DType::Uint8) => z.info.dtype,
        Some(z) => kiln_bail!(UnsupportedDtype, "QuantizeLinear output (zero point) dtype {} is not supported; use int8 or uint8", z.info.dtype),
    };
    check_params(x, scale, zp, axis)?;
    Ok(vec![TensorInfo::new(out, x.info.dims.clone())])
}

fn infer_dequantize(axis: i64, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    let scale = input(inputs, 1, "x_scale")?;
    let zp = optional(inputs, 2);
    if !matches!(x.info.dtype, DType::Int8 | DType::Uint8 | DType::Int32) {
        kiln_bail!(UnsupportedDtype, "DequantizeLinear input x must be int8, uint8 or int32, got {}", x.info.dtype);
    }
    if let Some(z) = zp {
        if z.info.dtype != x.info.dtype {
            kiln_bail!(UnsupportedDtype, "the zero point is {} but x is {}; they must have the same dtype", z.info.dtype, x.info.dtype);
        }
    }
    check_params(x, scale, zp, axis)?;
    Ok(vec![TensorInfo::new(scale.info.dtype, x.info.dims.clone())])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inp(dtype: DType, dims: &[i64]) -> Option<InferInput<'static>> {
        Some(InferInput { info: TensorInfo::new(dtype, dims.to_vec()), value: None })
    }

    #[test]
    fn quantize_output_dtype_follows_zero_point() {
        let q = LayerKind::QuantizeLinear { axis: 1, saturate: true };
        let out = infer(&q, &[inp(DType::Float32, &[2, 3]), inp(DType::Float32, &[])]).unwrap();
        assert_eq!(out[0], TensorInfo::new(DType::Uint8, vec![2, 3]));
        let out = infer(&q, &[inp(DType::Float32, &[2, 3]), inp(DType::Float32, &[3]), inp(DType::Int8, &[3])]).unwrap();
        assert_eq!(out[0], TensorInfo::new(DType::Int8, vec![2, 3]));
        let e = infer(&q, &[inp(DType::Float32, &[2, 3]), inp(DType::Float32, &[2])]).unwrap_err();
        assert_eq!(e.code.as_str(), "KILN_E_SHAPE_MISMATCH");
        let e = infer(&q, &[inp(DType::Float32, &[2, 3]), inp(DType::Float32, &[2, 3])]).unwrap_err();
        assert_eq!(e.code.as_str(), "KILN_E_UNSUPPORTED");
    }

    #[test]
    fn dequantize_output_dtype_follows_scale() {
        let dq = LayerKind::DequantizeLinear { axis: 0 };
        let out = infer(&dq, &[inp(DType::Int8, &[4, 2]), inp(DType::Float16, &[4]), inp(DType::Int8, &[4])]).unwrap();
        assert_eq!(out[0], TensorInfo::new(DType::Float16, vec![4, 2]));
        let e = infer(&dq, &[inp(DType::Int8, &[4]), inp(DType::Float32, &[]), inp(DType::Uint8, &[])]).unwrap_err();
        assert_eq!(e.code.as_str(), "KILN_E_UNSUPPORTED_DTYPE");
        let e = infer(&dq, &[inp(DType::Float32, &[4]), inp(DType::Float32, &[])]).unwrap_err();
        assert_eq!(e.code.as_str(), "KILN_E_UNSUPPORTED_DTYPE");
    }
}
