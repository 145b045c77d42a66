//! Graph utilities shared by the optimizer passes: consumers, use replacement, re-inference, compaction.

use crate::error::Result;
use crate::infer::{infer, InferInput};
use crate::network::{Network, TensorId};

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
