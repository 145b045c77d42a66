//! Host tensors: a shape plus typed, contiguous, row-major data.
//!
//! Used for constants/weights in the network and plan, for shape-tensor values during inference,
//! and as the CPU backend's activation type.

use crate::dtype::DType;
use crate::error::Result;
use crate::{kiln_bail, kiln_err};
use half::f16;
use serde::{Deserialize, Serialize};

/// Most elements a single tensor may hold (2^32). Mutated or hostile models with absurd dims get a
/// coded error instead of an allocation that would abort the process.
pub const MAX_ELEMENTS: usize = 1 << 32;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TensorData {
    F32(Vec<f32>),
    F16(Vec<f16>),
    F64(Vec<f64>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    Bool(Vec<bool>),
}

/// Runs `$body` with `$v` bound to the inner `Vec` of a `TensorData`, whatever its type.
#[macro_export]
macro_rules! with_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::tensor::TensorData::F32($v) => $body,
            $crate::tensor::TensorData::F16($v) => $body,
            $crate::tensor::TensorData::F64($v) => $body,
            $crate::tensor::TensorData::I8($v) => $body,
            $crate::tensor::TensorData::U8($v) => $body,
            $crate::tensor::TensorData::I16($v) => $body,
            $crate::tensor::TensorData::U16($v) => $body,
            $crate::tensor::TensorData::I32($v) => $body,
            $crate::tensor::TensorData::U32($v) => $body,
            $crate::tensor::TensorData::I64($v) => $body,
            $crate::tensor::TensorData::U64($v) => $body,
            $crate::tensor::TensorData::Bool($v) => $body,
        }
    };
}

impl TensorData {
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::Float32,
            TensorData::F16(_) => DType::Float16,
            TensorData::F64(_) => DType::Float64,
            TensorData::I8(_) => DType::Int8,
            TensorData::U8(_) => DType::Uint8,
            TensorData::I16(_) => DType::Int16,
            TensorData::U16(_) => DType::Uint16,
            TensorData::I32(_) => DType::Int32,
            TensorData::U32(_) => DType::Uint32,
            TensorData::I64(_) => DType::Int64,
            TensorData::U64(_) => DType::Uint64,
            TensorData::Bool(_) => DType::Bool,
        }
    }

    pub fn len(&self) -> usize {
        with_data!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `n` zeros (false for bool).
    pub fn zeros(dtype: DType, n: usize) -> TensorData {
        match dtype {
            DType::Float32 => TensorData::F32(vec![0.0; n]),
            DType::Float16 => TensorData::F16(vec![f16::ZERO; n]),
            DType::Float64 => TensorData::F64(vec![0.0; n]),
            DType::Int8 => TensorData::I8(vec![0; n]),
            DType::Uint8 => TensorData::U8(vec![0; n]),
            DType::Int16 => TensorData::I16(vec![0; n]),
            DType::Uint16 => TensorData::U16(vec![0; n]),
            DType::Int32 => TensorData::I32(vec![0; n]),
            DType::Uint32 => TensorData::U32(vec![0; n]),
            DType::Int64 => TensorData::I64(vec![0; n]),
            DType::Uint64 => TensorData::U64(vec![0; n]),
            DType::Bool => TensorData::Bool(vec![false; n]),
        }
    }

    /// Decodes little-endian bytes (ONNX `raw_data`, `.npy` bodies, JS typed-array bytes).
    pub fn from_le_bytes(dtype: DType, bytes: &[u8]) -> Result<TensorData> {
        let size = dtype.size();
        if bytes.len() % size != 0 {
            kiln_bail!(InvalidValue, "{} bytes is not a whole number of {} elements ({} bytes each)", bytes.len(), dtype, size);
        }
        macro_rules! decode {
            ($variant:ident, $t:ty) => {
                TensorData::$variant(bytes.chunks_exact(size).map(|c| <$t>::from_le_bytes(c.try_into().unwrap())).collect())
            };
        }
        Ok(match dtype {
            DType::Float32 => decode!(F32, f32),
            DType::Float16 => TensorData::F16(bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]])).collect()),
            DType::Float64 => decode!(F64, f64),
            DType::Int8 => decode!(I8, i8),
            DType::Uint8 => TensorData::U8(bytes.to_vec()),
            DType::Int16 => decode!(I16, i16),
            DType::Uint16 => decode!(U16, u16),
            DType::Int32 => decode!(I32, i32),
            DType::Uint32 => decode!(U32, u32),
            DType::Int64 => decode!(I64, i64),
            DType::Uint64 => decode!(U64, u64),
            DType::Bool => TensorData::Bool(bytes.iter().map(|&b| b != 0).collect()),
        })
    }

    /// Encodes as little-endian bytes (bool as one byte 0/1).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            TensorData::Bool(v) => v.iter().map(|&b| b as u8).collect(),
            TensorData::U8(v) => v.clone(),
            TensorData::F16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::F64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::I8(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::U16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::U64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    /// Values as i64 (shape tensors, indices, axes). Floats are truncated toward zero.
    pub fn to_i64_vec(&self) -> Vec<i64> {
        match self {
            TensorData::F32(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::F16(v) => v.iter().map(|&x| x.to_f32() as i64).collect(),
            TensorData::F64(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::I8(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::U8(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::I16(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::U16(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::I32(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::U32(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::I64(v) => v.clone(),
            TensorData::U64(v) => v.iter().map(|&x| x as i64).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| x as i64).collect(),
        }
    }

    /// Values as f64 (scalars such as pad values, clip bounds, range start/limit/delta).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            TensorData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::F16(v) => v.iter().map(|&x| x.to_f64()).collect(),
            TensorData::F64(v) => v.clone(),
            TensorData::I8(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::U8(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I16(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::U16(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::U32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::U64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| x as u8 as f64).collect(),
        }
    }

    /// Builds data of `dtype` from f64 values (saturating/truncating like a C cast).
    pub fn from_f64_vec(dtype: DType, values: &[f64]) -> TensorData {
        match dtype {
            DType::Float32 => TensorData::F32(values.iter().map(|&x| x as f32).collect()),
            DType::Float16 => TensorData::F16(values.iter().map(|&x| f16::from_f64(x)).collect()),
            DType::Float64 => TensorData::F64(values.to_vec()),
            DType::Int8 => TensorData::I8(values.iter().map(|&x| x as i8).collect()),
            DType::Uint8 => TensorData::U8(values.iter().map(|&x| x as u8).collect()),
            DType::Int16 => TensorData::I16(values.iter().map(|&x| x as i16).collect()),
            DType::Uint16 => TensorData::U16(values.iter().map(|&x| x as u16).collect()),
            DType::Int32 => TensorData::I32(values.iter().map(|&x| x as i32).collect()),
            DType::Uint32 => TensorData::U32(values.iter().map(|&x| x as u32).collect()),
            DType::Int64 => TensorData::I64(values.iter().map(|&x| x as i64).collect()),
            DType::Uint64 => TensorData::U64(values.iter().map(|&x| x as u64).collect()),
            DType::Bool => TensorData::Bool(values.iter().map(|&x| x != 0.0).collect()),
        }
    }
}

/// A host tensor. `data.len()` always equals the product of `shape` (checked by `new`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: TensorData,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Tensor> {
        let n = checked_numel(&shape)?;
        if n != data.len() {
            kiln_bail!(ShapeMismatch, "tensor of shape {:?} needs {} elements, got {}", shape, n, data.len());
        }
        Ok(Tensor { shape, data })
    }

    /// A tensor of zeros; fails (rather than aborting) when the shape is absurdly large.
    pub fn zeros(dtype: DType, shape: &[usize]) -> Result<Tensor> {
        let n = checked_numel(shape)?;
        Ok(Tensor { shape: shape.to_vec(), data: TensorData::zeros(dtype, n) })
    }

    pub fn scalar_f32(v: f32) -> Tensor {
        Tensor { shape: vec![], data: TensorData::F32(vec![v]) }
    }

    pub fn from_i64(shape: Vec<usize>, values: Vec<i64>) -> Result<Tensor> {
        Tensor::new(shape, TensorData::I64(values))
    }

    pub fn from_f32(shape: Vec<usize>, values: Vec<f32>) -> Result<Tensor> {
        Tensor::new(shape, TensorData::F32(values))
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    pub fn numel(&self) -> usize {
        self.data.len()
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_f32_mut(&mut self) -> Option<&mut [f32]> {
        match &mut self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    pub fn byte_len(&self) -> usize {
        self.numel() * self.dtype().size()
    }
}

/// Product of dims, refusing results above `MAX_ELEMENTS`.
pub fn checked_numel(shape: &[usize]) -> Result<usize> {
    let mut n: usize = 1;
    for &d in shape {
        n = n.checked_mul(d).ok_or_else(|| kiln_err!(TensorTooLarge, "shape {:?} overflows", shape))?;
    }
    if n > MAX_ELEMENTS {
        kiln_bail!(TensorTooLarge, "shape {:?} has {} elements; Kiln's limit is {} per tensor", shape, n, MAX_ELEMENTS);
    }
    Ok(n)
}

/// Row-major strides for `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}
