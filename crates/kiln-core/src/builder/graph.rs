//! Graph utilities shared by the optimizer passes: consumers, use replacement, re-inference, compaction.

use super::BuildBackend;
use crate::error::Result;
use crate::infer::{infer, infer_concrete, InferInput, TensorInfo};
use crate::layer::LayerKind;
use crate::network::{Network, TensorId};
use crate::tensor::Tensor;

/// For each tensor, the indices of the layers that read it.
pub fn consumers(net: &Network) -> Vec<Vec<usize>> {
    let mut uses = vec![Vec::new(); net.tensors.len()];
    for (i, layer) in net.layers.iter().enumerate() {
        for id in layer.inputs.iter().flatten() {
            if !uses[*id].contains(&i) {
                uses[*id].push(i);
            }
        }
    }
    uses
}

/// True when `id` is read by exactly one layer and is not a network output: the producer may then
/// be merged into that consumer.
pub fn single_use(net: &Network, uses: &[Vec<usize>], id: TensorId) -> bool {
    uses[id].len() == 1 && !net.outputs.contains(&id) && net.layers[uses[id][0]].inputs.iter().flatten().filter(|&&t| t == id).count() == 1
}

/// Makes every reader of `from` read `to` instead (layers and network outputs).
pub fn replace_uses(net: &mut Network, from: TensorId, to: TensorId) {
    for layer in &mut net.layers {
        for input in layer.inputs.iter_mut().flatten() {
            if *input == from {
                *input = to;
            }
        }
    }
    for out in &mut net.outputs {
        if *out == from {
            *out = to;
        }
    }
}

/// Recomputes every layer's output dtype/dims in order from the current inputs and constants, so
/// that profile shapes and folded values sharpen what was -1 when the layer was added.
pub fn reinfer(net: &mut Network) -> Result<()> {
    for i in 0..net.layers.len() {
        let layer = &net.layers[i];
        let inputs: Vec<Option<InferInput>> = layer
            .inputs
            .iter()
            .map(|id| id.map(|id| InferInput { info: net.tensors[id].info(), value: net.tensors[id].value.as_ref() }))
            .collect();
        let infos = infer(&layer.kind, &inputs).map_err(|e| e.context(format!("layer '{}' ({})", layer.name, layer.kind.type_name())))?;
        let outputs = layer.outputs.clone();
        for (id, info) in outputs.into_iter().zip(infos) {
            let t = &mut net.tensors[id];
            t.dtype = info.dtype;
            t.dims = info.dims;
        }
    }
    Ok(())
}

/// Drops layers that no network output depends on, then renumbers tensors so that only inputs,
/// live constants and live layer outputs remain (the plan carries no dead weights).
pub fn eliminate_dead_and_compact(net: &mut Network) {
    let mut live = vec![false; net.tensors.len()];
    for &o in &net.outputs {
        live[o] = true;
    }
    let mut keep = vec![false; net.layers.len()];
    for i in (0..net.layers.len()).rev() {
        if net.layers[i].outputs.iter().any(|&o| live[o]) {
            keep[i] = true;
            for id in net.layers[i].inputs.iter().flatten() {
                live[*id] = true;
            }
        }
    }
    for &i in &net.inputs {
        live[i] = true;
    }
    // Outputs of kept multi-output layers stay, even if unused.
    for (i, layer) in net.layers.iter().enumerate() {
        if keep[i] {
            for &o in &layer.outputs {
                live[o] = true;
            }
        }
    }
    let mut remap = vec![usize::MAX; net.tensors.len()];
    let mut tensors = Vec::new();
    for (old, t) in std::mem::take(&mut net.tensors).into_iter().enumerate() {
        if live[old] {
            remap[old] = tensors.len();
            tensors.push(t);
        }
    }
    net.tensors = tensors;
    let layers = std::mem::take(&mut net.layers);
    net.layers = layers
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(mut l, _)| {
            for id in l.inputs.iter_mut().flatten() {
                *id = remap[*id];
            }
            for id in l.outputs.iter_mut() {
                *id = remap[*id];
            }
            l
        })
        .collect();
    for id in net.inputs.iter_mut().chain(net.outputs.iter_mut()) {
        *id = remap[*id];
    }
}

/// The value of ONNX `Shape(start, end)` for an input with static `dims` (None if any dim is unknown).
pub fn shape_of(dims: &[i64], start: Option<i64>, end: Option<i64>) -> Option<Tensor> {
    if dims.iter().any(|&d| d < 0) {
        return None;
    }
    let rank = dims.len() as i64;
    let clamp = |v: i64| if v < 0 { (v + rank).max(0) } else { v.min(rank) };
    let (s, e) = (clamp(start.unwrap_or(0)), clamp(end.unwrap_or(rank)));
    let v: Vec<i64> = if s < e { dims[s as usize..e as usize].to_vec() } else { vec![] };
    Tensor::from_i64(vec![v.len()], v).ok()
}

/// Dims of every tensor when the network inputs take the dims `input_dims` gives (-1 where still
/// unknown). Shape layers and small shape-like layers whose inputs are known are evaluated on the
/// host, so shape subgraphs of dynamic networks resolve too. Used for memory planning (max shapes)
/// and tactic timing (opt shapes).
pub fn dims_at(net: &Network, input_dims: impl Fn(TensorId) -> Option<Vec<i64>>, backend: &dyn BuildBackend) -> Vec<Vec<i64>> {
    let mut dims: Vec<Vec<i64>> = net.tensors.iter().map(|t| t.dims.clone()).collect();
    let mut values: Vec<Option<Tensor>> = net.tensors.iter().map(|t| t.value.clone()).collect();
    for &id in &net.inputs {
        if let Some(d) = input_dims(id) {
            dims[id] = d;
        }
    }
    for layer in &net.layers {
        let inputs: Vec<Option<InferInput>> = layer
            .inputs
            .iter()
            .map(|id| id.map(|id| InferInput { info: TensorInfo::new(net.tensors[id].dtype, dims[id].clone()), value: values[id].as_ref() }))
            .collect();
        let Ok(infos) = infer(&layer.kind, &inputs) else { continue };
        for (&o, info) in layer.outputs.iter().zip(&infos) {
            dims[o] = info.dims.clone();
        }
        if let LayerKind::Shape { start, end } = &layer.kind {
            if let Some(v) = layer.inputs.first().copied().flatten().and_then(|id| shape_of(&dims[id], *start, *end)) {
                values[layer.outputs[0]] = Some(v);
            }
            continue;
        }
        let small = infos.iter().all(|i| i.is_static() && i.dims.iter().product::<i64>() <= 64);
        let known = layer.inputs.iter().flatten().all(|&id| values[id].is_some());
        if !(small && known) || layer.outputs.is_empty() {
            continue;
        }
        let ins: Vec<Option<&Tensor>> = layer.inputs.iter().map(|id| id.and_then(|id| values[id].as_ref())).collect();
        let Ok(shapes) = infer_concrete(&layer.kind, &ins) else { continue };
        let Ok(mut outs) = shapes.iter().map(|(dt, s)| Tensor::zeros(*dt, s)).collect::<Result<Vec<_>>>() else { continue };
        if backend.evaluate(&layer.kind, &ins, &mut outs).is_ok() {
            for (&o, v) in layer.outputs.iter().zip(outs) {
                values[o] = Some(v);
            }
        }
    }
    dims
}
