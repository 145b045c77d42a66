//! Layer kernels. `execute` is the single entry point: it receives the layer's inputs
//! (`None` = absent optional input) and output tensors that are already shaped and sized
//! (by `kiln_core::infer`), and fills the outputs.

use kiln_core::error::Result;
use kiln_core::layer::LayerKind;
use kiln_core::tensor::Tensor;
#[allow(unused_imports)]
use kiln_core::{kiln_bail, kiln_err};

// Compute-heavy kernels.
pub mod conv;
pub mod matmul;
pub mod normalization;
pub mod pooling;
pub mod reduce;
pub mod resize;
pub mod softmax;

// Quantization (Q/DQ) kernels.
pub mod quant;

// Pointwise and data-movement kernels.
pub mod data;
pub mod pointwise;

/// Runs one layer with a kernel tactic chosen by the builder (`None`: the default heuristic).
/// Layers without tactics ignore it.
pub fn execute_with_tactic(kind: &LayerKind, tactic: Option<&str>, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
    match (kind, tactic) {
        (_, None) => execute(kind, inputs, outputs),
        (LayerKind::Convolution { .. }, Some(t)) => conv::execute_tactic(kind, Some(t), inputs, outputs),
        (LayerKind::MatrixMultiply { .. }, Some(t)) => matmul::execute_tactic(kind, Some(t), inputs, outputs),
        (_, Some(_)) => execute(kind, inputs, outputs),
    }
}

/// Runs one layer on the host.
pub fn execute(kind: &LayerKind, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
    match kind {
        LayerKind::Convolution { .. } | LayerKind::Deconvolution { .. } => conv::execute(kind, inputs, outputs),
        LayerKind::MatrixMultiply { .. } => matmul::execute(kind, inputs, outputs),
        LayerKind::Pooling { .. } => pooling::execute(kind, inputs, outputs),
        LayerKind::Normalization { .. } => normalization::execute(kind, inputs, outputs),
        LayerKind::Reduce { .. } | LayerKind::ArgMinMax { .. } | LayerKind::CumSum { .. } | LayerKind::TopK { .. } => {
            reduce::execute(kind, inputs, outputs)
        }
        LayerKind::Resize { .. } => resize::execute(kind, inputs, outputs),
        LayerKind::Softmax { .. } => softmax::execute(kind, inputs, outputs),
        LayerKind::QuantizeLinear { .. } | LayerKind::DequantizeLinear { .. } => quant::execute(kind, inputs, outputs),
        LayerKind::ElementWise { .. }
        | LayerKind::Activation { .. }
        | LayerKind::Unary { .. }
        | LayerKind::Select
        | LayerKind::Cast { .. }
        | LayerKind::PointwiseChain { .. } => pointwise::execute(kind, inputs, outputs),
        _ => data::execute(kind, inputs, outputs),
    }
}
