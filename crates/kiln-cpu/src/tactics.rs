//! The CPU backend's tactic library: which kernel alternatives apply to a layer, and timing them.
//!
//! Convolution: `im2col_gemm`, `direct_1x1`, `winograd_f2x3`, `depthwise_direct`
//! (`kernels::conv::ConvTactic`). MatrixMultiply with more than one batch item: `gemm_rayon`,
//! `gemm_single` (`kernels::matmul::MatmulTactic`).

use crate::kernels::conv::{ConvShape, ConvTactic};
use crate::kernels::matmul::MatmulTactic;
use crate::kernels::execute_with_tactic;
use kiln_core::builder::tune::time_runs;
use kiln_core::error::Result;
use kiln_core::infer::compute::window_geometry;
use kiln_core::infer::infer_concrete;
use kiln_core::kiln_bail;
use kiln_core::layer::LayerKind;
use kiln_core::tactic::{TensorSig, TimingSample};
use kiln_core::tensor::Tensor;
use kiln_core::DType;

/// Bump whenever a kernel changes in a way that can change its speed or eligibility: timing-cache
/// entries of other versions stop matching (the version is part of every key).
pub const TACTIC_LIBRARY_VERSION: u32 = 1;

fn is_float(d: DType) -> bool {
    matches!(d, DType::Float32 | DType::Float16 | DType::Float64)
}

/// Tactic ids eligible for `kind` with inputs of these concrete shapes (empty: not tunable).
pub fn eligible(kind: &LayerKind, inputs: &[Option<TensorSig>]) -> Vec<String> {
    match kind {
        LayerKind::Convolution { strides, pads, dilations, groups, padding_mode, .. } => {
            let (Some(Some(x)), Some(Some(w))) = (inputs.first(), inputs.get(1)) else { return vec![] };
            if !is_float(x.dtype) || x.shape.len() < 3 || w.shape.len() != x.shape.len() || *groups == 0 || x.shape[1] % groups != 0 {
                return vec![];
            }
            let Ok(geo) = window_geometry(&x.shape[2..], &w.shape[2..], strides, pads, dilations, *padding_mode, false) else { return vec![] };
            let shape = ConvShape {
                cg: x.shape[1] / groups,
                groups: *groups,
                kernel: &geo.kernel,
                strides: &geo.strides,
                dilations: &geo.dilations,
                pads_begin: &geo.pads_begin,
                pads_end: &geo.pads_end,
                f32_compute: x.dtype != DType::Float64,
            };
            ConvTactic::ALL.into_iter().filter(|&t| shape.eligible(t)).map(|t| t.id().to_string()).collect()
        }
        LayerKind::MatrixMultiply { .. } => {
            let (Some(Some(a)), Some(Some(b))) = (inputs.first(), inputs.get(1)) else { return vec![] };
            if !is_float(a.dtype) || batch_items(&a.shape, &b.shape) <= 1 {
                return vec![];
            }
            MatmulTactic::ALL.into_iter().map(|t| t.id().to_string()).collect()
        }
        _ => vec![],
    }
}

/// Number of matrices in a broadcast batched matmul (1 for plain 2-D products).
fn batch_items(a: &[usize], b: &[usize]) -> usize {
    let batch = |s: &[usize]| if s.len() > 2 { s[..s.len() - 2].to_vec() } else { vec![] };
    let (ab, bb) = (batch(a), batch(b));
    let r = ab.len().max(bb.len());
    (0..r)
        .map(|i| {
            let x = if i + ab.len() >= r { ab[i + ab.len() - r] } else { 1 };
            let y = if i + bb.len() >= r { bb[i + bb.len() - r] } else { 1 };
            x.max(y)
        })
        .product()
}

/// Times one tactic on concrete inputs: `warmup` untimed runs, then `samples` timed ones.
pub fn time(kind: &LayerKind, tactic: &str, inputs: &[Option<&Tensor>], warmup: usize, samples: usize) -> Result<TimingSample> {
    let sigs: Vec<Option<TensorSig>> = inputs.iter().map(|t| t.map(|t| TensorSig { dtype: t.dtype(), shape: t.shape.clone(), constant: false })).collect();
    if !eligible(kind, &sigs).iter().any(|t| t == tactic) {
        kiln_bail!(Unsupported, "tactic '{tactic}' does not apply to this {} layer", kind.type_name());
    }
    let shapes = infer_concrete(kind, inputs)?;
    let mut outs = shapes.iter().map(|(dt, s)| Tensor::zeros(*dt, s)).collect::<Result<Vec<_>>>()?;
    time_runs(warmup, samples, || execute_with_tactic(kind, Some(tactic), inputs, &mut outs))
}
