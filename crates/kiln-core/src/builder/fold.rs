//! Constant folding: layers whose inputs are all constants are evaluated once at build time (on the
//! host, with the backend's reference evaluator) and replaced by their values. Shape and Size of
//! tensors with static dims are constants too, so shape subgraphs (Shape → Gather → Concat →
//! Reshape…) disappear whenever the profile pins the shapes.

use super::BuildBackend;
use crate::error::Result;
use crate::infer::infer_concrete;
use crate::layer::LayerKind;
use crate::network::Network;
use crate::tensor::{Tensor, TensorData};

/// Values larger than this are not materialised by folding unless their inputs were already
/// constants of similar size (avoids turning an Expand of a scalar into megabytes of weights).
const MAX_FOLD_GROWTH_ELEMENTS: usize = 1 << 20;

/// Folds what it can; returns the number of layers folded. Folded layers are removed.
pub fn fold_constants(net: &mut Network, backend: &dyn BuildBackend) -> Result<usize> {
    let mut folded = vec![false; net.layers.len()];
    for i in 0..net.layers.len() {
        let layer = &net.layers[i];
        if let Some(values) = shape_value(net, i) {
            for (&out, v) in layer.outputs.clone().iter().zip(values) {
                net.tensors[out].value = Some(v);
            }
            folded[i] = true;
            continue;
        }
        if !layer.inputs.iter().flatten().all(|&id| net.tensors[id].value.is_some()) {
            continue;
        }
        let inputs: Vec<Option<&Tensor>> = layer.inputs.iter().map(|id| id.map(|id| net.tensors[id].value.as_ref().unwrap())).collect();
        let largest_input = inputs.iter().flatten().map(|t| t.numel()).max().unwrap_or(0);
        let shapes = infer_concrete(&layer.kind, &inputs).map_err(|e| e.context(format!("layer '{}' ({})", layer.name, layer.kind.type_name())))?;
        let total: usize = shapes.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
        let generator = matches!(layer.kind, LayerKind::Fill { .. } | LayerKind::Range | LayerKind::EyeLike { .. });
        if total > MAX_FOLD_GROWTH_ELEMENTS && total > largest_input.saturating_mul(2) && !generator {
            continue;
        }
        let mut outputs = shapes.iter().map(|(dt, s)| Tensor::zeros(*dt, s)).collect::<Result<Vec<_>>>()?;
        backend
            .evaluate(&layer.kind, &inputs, &mut outputs)
            .map_err(|e| e.context(format!("folding constant layer '{}' ({})", layer.name, layer.kind.type_name())))?;
        for (&out, v) in layer.outputs.clone().iter().zip(outputs) {
            net.tensors[out].value = Some(v);
        }
        folded[i] = true;
    }
    let count = folded.iter().filter(|&&f| f).count();
    let layers = std::mem::take(&mut net.layers);
    net.layers = layers.into_iter().zip(folded).filter(|(_, f)| !f).map(|(l, _)| l).collect();
    Ok(count)
}

/// Shape/Size of a statically shaped tensor, computed without evaluating anything.
fn shape_value(net: &Network, i: usize) -> Option<Vec<Tensor>> {
    let layer = &net.layers[i];
    let input = net.tensors[(*layer.inputs.first()?)?].dims.clone();
    if input.iter().any(|&d| d < 0) {
        return None;
    }
    match &layer.kind {
        LayerKind::Shape { start, end } => Some(vec![super::graph::shape_of(&input, *start, *end)?]),
        LayerKind::Size => Some(vec![Tensor { shape: vec![], data: TensorData::I64(vec![input.iter().product()]) }]),
        _ => None,
    }
}
