//! Shape and dtype inference for every layer kind.
//!
//! One function serves three moments: when a layer is added (dims may be -1, shape-tensor values
//! may be unknown), at build time with optimization-profile shapes, and at run time where every
//! input value is known and the result must be fully concrete.

use crate::dtype::DType;
use crate::error::Result;
use crate::layer::LayerKind;
use crate::tensor::Tensor;
#[allow(unused_imports)]
use crate::{kiln_bail, kiln_err};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TensorInfo {
    pub dtype: DType,
    /// -1 = unknown.
    pub dims: Vec<i64>,
}

impl TensorInfo {
    pub fn new(dtype: DType, dims: Vec<i64>) -> TensorInfo {
        TensorInfo { dtype, dims }
    }

    pub fn is_static(&self) -> bool {
        self.dims.iter().all(|&d| d >= 0)
    }

    pub fn rank(&self) -> usize {
        self.dims.len()
    }
}

/// What inference knows about one layer input.
#[derive(Debug, Clone)]
pub struct InferInput<'a> {
    pub info: TensorInfo,
    /// The value, when it is a constant (or, at run time, always).
    pub value: Option<&'a Tensor>,
}

pub mod compute;
pub mod data;
pub mod quant;

/// Infers the outputs of `kind` given its inputs (`None` = absent optional input).
pub fn infer(kind: &LayerKind, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    match kind {
        LayerKind::Convolution { .. }
        | LayerKind::Deconvolution { .. }
        | LayerKind::Pooling { .. }
        | LayerKind::MatrixMultiply { .. }
        | LayerKind::Normalization { .. }
        | LayerKind::Reduce { .. }
        | LayerKind::ArgMinMax { .. }
        | LayerKind::CumSum { .. }
        | LayerKind::TopK { .. }
        | LayerKind::Resize { .. }
        | LayerKind::Softmax { .. } => compute::infer(kind, inputs),
        LayerKind::QuantizeLinear { .. } | LayerKind::DequantizeLinear { .. } => quant::infer(kind, inputs),
        _ => data::infer(kind, inputs),
    }
}

/// Run-time form: every input is a concrete tensor; returns concrete (dtype, shape) per output.
pub fn infer_concrete(kind: &LayerKind, inputs: &[Option<&Tensor>]) -> Result<Vec<(DType, Vec<usize>)>> {
    let infer_inputs: Vec<Option<InferInput>> = inputs
        .iter()
        .map(|t| {
            t.map(|t| InferInput {
                info: TensorInfo::new(t.dtype(), t.shape.iter().map(|&d| d as i64).collect()),
                value: Some(t),
            })
        })
        .collect();
    let infos = infer(kind, &infer_inputs)?;
    infos
        .into_iter()
        .map(|info| {
            if !info.is_static() {
                kiln_bail!(Internal, "'{}' output shape {:?} is not concrete at run time", kind.type_name(), info.dims);
            }
            Ok((info.dtype, info.dims.iter().map(|&d| d as usize).collect()))
        })
        .collect()
}
