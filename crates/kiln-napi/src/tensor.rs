//! `NativeTensor` (name, dtype name, dims, little-endian bytes) ⇄ kiln `Tensor`.

use crate::error::invalid_arg;
use kiln_core::dtype::DType;
use kiln_core::error::{ErrorCode, KilnError};
use kiln_core::tensor::{checked_numel, Tensor, TensorData};
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

/// A named tensor crossing the boundary. `data` holds the little-endian element bytes (bool: one byte 0/1,
/// float16: IEEE half bits).
#[napi(object)]
pub struct NativeTensor {
    pub name: String,
    pub dtype: String,
    pub dims: Vec<i64>,
    pub data: Buffer,
}

/// Parses a dtype name (`float32`, `int64`, …).
pub fn parse_dtype(name: &str) -> kiln_core::Result<DType> {
    DType::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
        invalid_arg(ErrorCode::UnsupportedDtype, format!("unknown dtype '{name}'; expected one of {}", known.join(", ")))
    })
}

/// Concrete dims (no -1) as a shape, with `what` naming the tensor in errors.
pub fn parse_shape(dims: &[i64], what: &str) -> kiln_core::Result<Vec<usize>> {
    dims.iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                invalid_arg(
                    ErrorCode::InvalidInput,
                    format!("{what}: dimension {d} in {dims:?} is invalid; tensor dims must be non-negative integers"),
                )
            })
        })
        .collect()
}

/// Builds a kiln tensor from dtype, dims and bytes, checking that the byte length matches the shape.
pub fn tensor_from_bytes(dtype: &str, dims: &[i64], bytes: &[u8], what: &str) -> kiln_core::Result<Tensor> {
    let dtype = parse_dtype(dtype).map_err(|e| e.context(what))?;
    let shape = parse_shape(dims, what)?;
    let numel = checked_numel(&shape).map_err(|e| e.context(what))?;
    let expected = numel.checked_mul(dtype.size()).ok_or_else(|| {
        KilnError::new(ErrorCode::TensorTooLarge, format!("{what}: shape {shape:?} is too large"))
    })?;
    if bytes.len() != expected {
        return Err(invalid_arg(
            ErrorCode::InvalidInput,
            format!(
                "{what}: a {dtype} tensor of shape {shape:?} needs {expected} bytes ({numel} elements × {}), got {}",
                dtype.size(),
                bytes.len()
            ),
        ));
    }
    let data = TensorData::from_le_bytes(dtype, bytes).map_err(|e| e.context(what))?;
    Tensor::new(shape, data).map_err(|e| e.context(what))
}

/// Reads a `NativeTensor` into a named kiln tensor (copies the bytes: the kernels own their buffers).
pub fn from_native(t: &NativeTensor) -> kiln_core::Result<(String, Tensor)> {
    let what = format!("input '{}'", t.name);
    let tensor = tensor_from_bytes(&t.dtype, &t.dims, &t.data, &what)?;
    Ok((t.name.clone(), tensor))
}

/// Dims as JS numbers.
pub fn dims_to_js(shape: &[usize]) -> Vec<i64> {
    // Shapes are bounded by `checked_numel`'s limit, far below i64::MAX.
    shape.iter().map(|&d| d as i64).collect()
}

/// A named kiln tensor as a `NativeTensor`; the byte vector becomes the Buffer's memory without a copy.
pub fn to_native(name: String, t: Tensor) -> NativeTensor {
    NativeTensor { name, dtype: t.dtype().name().to_string(), dims: dims_to_js(&t.shape), data: t.data.to_le_bytes().into() }
}
