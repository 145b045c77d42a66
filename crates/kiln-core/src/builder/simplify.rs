//! Removes layers that do nothing: Identity, casts to the same dtype, and reshapes/flattens/
//! squeezes that keep a static shape unchanged.

use super::graph::replace_uses;
use crate::layer::LayerKind;
use crate::network::Network;

/// Returns the number of layers removed.
pub fn remove_identities(net: &mut Network) -> usize {
    let mut removed = vec![false; net.layers.len()];
    for i in 0..net.layers.len() {
        let layer = &net.layers[i];
        let Some(Some(input)) = layer.inputs.first().copied() else { continue };
        let output = layer.outputs[0];
        let (tin, tout) = (&net.tensors[input], &net.tensors[output]);
        let no_op = match &layer.kind {
            LayerKind::Identity => true,
            LayerKind::Cast { to } => *to == tin.dtype,
            LayerKind::Reshape { .. } | LayerKind::Flatten { .. } | LayerKind::Squeeze { .. } | LayerKind::Unsqueeze { .. } => {
                tin.dims == tout.dims && tin.dims.iter().all(|&d| d >= 0)
            }
            _ => false,
        };
        if !no_op || tin.dtype != tout.dtype {
            continue;
        }
        // A network output must stay a distinct tensor when its source is an input or constant,
        // or another output (the runtime returns each output under its own name).
        let out_is_output = net.outputs.contains(&output);
        let in_is_source = net.inputs.contains(&input) || tin.value.is_some() || net.outputs.contains(&input);
        if out_is_output && in_is_source {
            continue;
        }
        if out_is_output {
            // Keep the user's output name: the producer of `input` now writes the output tensor.
            let name = net.tensors[output].name.clone();
            replace_uses(net, input, output);
            for l in net.layers.iter_mut() {
                for o in l.outputs.iter_mut() {
                    if *o == input {
                        *o = output;
                    }
                }
            }
            net.tensors[output].name = name;
        } else {
            replace_uses(net, output, input);
        }
        removed[i] = true;
    }
    let count = removed.iter().filter(|&&r| r).count();
    let layers = std::mem::take(&mut net.layers);
    net.layers = layers.into_iter().zip(removed).filter(|(_, r)| !r).map(|(l, _)| l).collect();
    count
}
