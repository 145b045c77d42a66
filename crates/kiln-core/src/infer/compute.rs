//! Inference for compute layers: convolution, deconvolution, pooling, matrix multiply, normalization, reductions, arg-min/max, cumsum, top-k, resize, softmax.

use super::{InferInput, TensorInfo};
use crate::error::Result;
use crate::kiln_bail;
use crate::layer::LayerKind;

pub fn infer(kind: &LayerKind, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let _ = inputs;
    kiln_bail!(Unsupported, "shape inference for '{}' is not implemented", kind.type_name())
}
