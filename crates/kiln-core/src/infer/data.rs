//! Inference for pointwise layers (elementwise, activation, unary, select, cast, pointwise chains) and data-movement layers (shuffle family, slice, gather/scatter, pad, concat, split, shape, fill, range…).

use super::{InferInput, TensorInfo};
use crate::error::Result;
use crate::kiln_bail;
use crate::layer::LayerKind;

pub fn infer(kind: &LayerKind, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let _ = inputs;
    kiln_bail!(Unsupported, "shape inference for '{}' is not implemented", kind.type_name())
}
