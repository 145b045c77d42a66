//! Fusions: BatchNorm folded into the preceding convolution; bias adds and activations merged into
//! convolutions and matrix multiplies; chains of pointwise layers merged into one layer.
//!
//! Each pass rewrites the producer layer in place, reroutes the consumer's readers to the
//! producer's output, and removes the consumer. `fused_from` records the parts for `inspect`.

use super::graph::{consumers, replace_uses, single_use};
use crate::dtype::DType;
use crate::layer::{ElementWiseOp, LayerKind, NormalizationKind, PointwiseStep, UnaryOp};
use crate::network::{Network, TensorId};
use crate::tensor::{Tensor, TensorData};

/// Merges layer `consumer` into layer `producer`: readers of the consumer's output now read the
/// producer's (renamed) output. The consumer is left for `drop_marked` to remove.
fn absorb(net: &mut Network, producer: usize, consumer: usize) {
    let from = net.layers[consumer].outputs[0];
    let to = net.layers[producer].outputs[0];
    // The fused layer takes over the consumer's output tensor so network outputs keep their names.
    let name = net.tensors[from].name.clone();
    replace_uses(net, from, to);
    net.tensors[to].name = name;
    net.tensors[from].name = format!("{}:fused", net.tensors[from].name);
    let consumer_name = net.layers[consumer].name.clone();
    let mut parts = std::mem::take(&mut net.layers[consumer].fused_from);
    if parts.is_empty() {
        parts.push(consumer_name);
    }
    let p = &mut net.layers[producer];
    if p.fused_from.is_empty() {
        p.fused_from.push(p.name.clone());
    }
    p.fused_from.extend(parts);
    net.layers[consumer].inputs.clear();
    net.layers[consumer].outputs.clear();
}

fn drop_marked(net: &mut Network) {
    net.layers.retain(|l| !l.outputs.is_empty());
}

fn const_f32<'a>(net: &'a Network, id: Option<TensorId>) -> Option<&'a [f32]> {
    id.and_then(|id| net.tensors[id].value.as_ref()).and_then(|t| t.as_f32())
}

/// Folds inference BatchNorm into a convolution with constant float32 weights:
/// W' = W·s, b' = (b − mean)·s + β with s = γ / sqrt(var + ε).
pub fn fold_batchnorm(net: &mut Network) -> usize {
    let mut count = 0;
    let uses = consumers(net);
    for bn in 0..net.layers.len() {
        let LayerKind::Normalization { normalization: NormalizationKind::Batch { epsilon } } = net.layers[bn].kind else { continue };
        let Some(x) = net.layers[bn].inputs[0] else { continue };
        let Some(conv) = net.layers.iter().position(|l| l.outputs.first() == Some(&x)) else { continue };
        let LayerKind::Convolution { activation: None, .. } = net.layers[conv].kind else { continue };
        if !single_use(net, &uses, x) || net.layers[bn].inputs.len() < 5 {
            continue;
        }
        let p: Vec<Option<TensorId>> = net.layers[bn].inputs[1..5].to_vec();
        let (Some(gamma), Some(beta), Some(mean), Some(var)) = (const_f32(net, p[0]), const_f32(net, p[1]), const_f32(net, p[2]), const_f32(net, p[3])) else { continue };
        let Some(w) = net.layers[conv].inputs.get(1).copied().flatten() else { continue };
        let Some(weights) = net.tensors[w].value.as_ref().filter(|t| t.dtype() == DType::Float32) else { continue };
        let m = weights.shape[0];
        if [gamma.len(), beta.len(), mean.len(), var.len()].iter().any(|&n| n != m) {
            continue;
        }
        let bias_old: Vec<f32> = match net.layers[conv].inputs.get(2).copied().flatten() {
            Some(b) => match const_f32(net, Some(b)) {
                Some(v) if v.len() == m => v.to_vec(),
                _ => continue,
            },
            None => vec![0.0; m],
        };
        let scale: Vec<f32> = (0..m).map(|c| gamma[c] / (var[c] + epsilon).sqrt()).collect();
        let bias: Vec<f32> = (0..m).map(|c| (bias_old[c] - mean[c]) * scale[c] + beta[c]).collect();
        let per_out = weights.numel() / m.max(1);
        let mut wv = weights.as_f32().unwrap().to_vec();
        for (c, chunk) in wv.chunks_mut(per_out.max(1)).enumerate() {
            chunk.iter_mut().for_each(|v| *v *= scale[c]);
        }
        let wshape = weights.shape.clone();
        let wname = format!("{}:bn_folded_weights", net.layers[conv].name);
        let bname = format!("{}:bn_folded_bias", net.layers[conv].name);
        let new_w = net.add_constant(&wname, Tensor { shape: wshape, data: TensorData::F32(wv) }).unwrap();
        let new_b = net.add_constant(&bname, Tensor { shape: vec![m], data: TensorData::F32(bias) }).unwrap();
        let inputs = &mut net.layers[conv].inputs;
        inputs.resize(3, None);
        inputs[1] = Some(new_w);
        inputs[2] = Some(new_b);
        absorb(net, conv, bn);
        count += 1;
    }
    drop_marked(net);
    count
}

/// Merges `conv → Add(per-channel constant)` into the convolution's bias and
/// `matmul → Add(constant over the last axis)` into the matrix multiply's bias input.
pub fn fuse_bias(net: &mut Network) -> usize {
    let mut count = 0;
    let uses = consumers(net);
    for i in 0..net.layers.len() {
        if net.layers[i].outputs.is_empty() {
            continue;
        }
        let out = net.layers[i].outputs[0];
        if !single_use(net, &uses, out) || net.tensors[out].dtype != DType::Float32 {
            continue;
        }
        let add = uses[out][0];
        let LayerKind::ElementWise { op: ElementWiseOp::Add } = net.layers[add].kind else { continue };
        let other = match net.layers[add].inputs.as_slice() {
            [Some(a), Some(b)] if *a == out => *b,
            [Some(a), Some(b)] if *b == out => *a,
            _ => continue,
        };
        let Some(c) = net.tensors[other].value.clone().filter(|t| t.dtype() == DType::Float32) else { continue };
        let out_dims = net.tensors[out].dims.clone();
        if net.tensors[net.layers[add].outputs[0]].dims != out_dims {
            continue; // the add broadcasts the producer's output up: not a bias
        }
        match net.layers[i].kind.clone() {
            LayerKind::Convolution { activation: None, .. } => {
                let m = out_dims.get(1).copied().unwrap_or(-1);
                // Per-channel shapes: [M,1,..,1] aligned to axis 1 of the output.
                let spatial = out_dims.len().saturating_sub(2);
                let ok = m > 0 && c.numel() == m as usize && {
                    let s = &c.shape;
                    (s.len() == spatial + 1 || s.len() == spatial + 2 && s[0] == 1) && s[s.len() - spatial - 1] == m as usize
                };
                if !ok {
                    continue;
                }
                let mut bias = c.as_f32().unwrap().to_vec();
                if let Some(old) = net.layers[i].inputs.get(2).copied().flatten() {
                    let Some(ob) = const_f32(net, Some(old)) else { continue };
                    bias.iter_mut().zip(ob).for_each(|(b, o)| *b += o);
                }
                let name = format!("{}:bias", net.layers[i].name);
                let b = net.add_constant(&name, Tensor { shape: vec![m as usize], data: TensorData::F32(bias) }).unwrap();
                net.layers[i].inputs.resize(3, None);
                net.layers[i].inputs[2] = Some(b);
            }
            LayerKind::MatrixMultiply { transpose_a, transpose_b, has_bias: false, activation: None } => {
                let n = out_dims.last().copied().unwrap_or(-1);
                if n <= 0 || c.numel() != n as usize || c.shape.last() != Some(&(n as usize)) || c.shape.len() > out_dims.len() {
                    continue;
                }
                let name = format!("{}:bias", net.layers[i].name);
                let b = net.add_constant(&name, Tensor { shape: vec![n as usize], data: c.data.clone() }).unwrap();
                net.layers[i].kind = LayerKind::MatrixMultiply { transpose_a, transpose_b, has_bias: true, activation: None };
                net.layers[i].inputs.truncate(2);
                net.layers[i].inputs.push(Some(b));
            }
            _ => continue,
        }
        absorb(net, i, add);
        count += 1;
    }
    drop_marked(net);
    count
}

/// Merges an activation that follows a convolution or matrix multiply into it.
pub fn fuse_activation(net: &mut Network) -> usize {
    let mut count = 0;
    let uses = consumers(net);
    for i in 0..net.layers.len() {
        if net.layers[i].outputs.is_empty() {
            continue;
        }
        let out = net.layers[i].outputs[0];
        if !single_use(net, &uses, out) || net.tensors[out].dtype != DType::Float32 {
            continue;
        }
        let act_layer = uses[out][0];
        let LayerKind::Activation { activation } = net.layers[act_layer].kind else { continue };
        match &mut net.layers[i].kind {
            LayerKind::Convolution { activation: slot @ None, .. } | LayerKind::MatrixMultiply { activation: slot @ None, .. } => {
                *slot = Some(activation);
            }
            _ => continue,
        }
        absorb(net, i, act_layer);
        count += 1;
    }
    drop_marked(net);
    count
}

/// The pointwise steps a layer contributes to a chain, given which input carries the chain value.
fn as_step(net: &Network, layer: usize, acc: TensorId) -> Option<(PointwiseStep, Option<TensorId>)> {
    let l = &net.layers[layer];
    match &l.kind {
        LayerKind::Activation { activation } => Some((PointwiseStep::Activation { activation: *activation }, None)),
        LayerKind::Unary { op, .. } if float_unary(*op) => Some((PointwiseStep::Unary { op: *op }, None)),
        LayerKind::ElementWise { op } if float_binary(*op) => {
            let (a, b) = (l.inputs.first().copied().flatten()?, l.inputs.get(1).copied().flatten()?);
            let out_dims = &net.tensors[l.outputs[0]].dims;
            let (other, swapped) = if a == acc { (b, false) } else { (a, true) };
            // The chain value must already have the output's shape (operands broadcast into it).
            if &net.tensors[acc].dims != out_dims || (a == acc && b == acc) {
                return None;
            }
            if net.tensors[other].dtype != DType::Float32 {
                return None;
            }
            Some((PointwiseStep::Binary { op: *op, operand: usize::MAX, swapped }, Some(other)))
        }
        _ => None,
    }
}

fn float_unary(op: UnaryOp) -> bool {
    !matches!(op, UnaryOp::Not | UnaryOp::IsNan | UnaryOp::IsInf | UnaryOp::BitwiseNot)
}

fn float_binary(op: ElementWiseOp) -> bool {
    matches!(
        op,
        ElementWiseOp::Add | ElementWiseOp::Sub | ElementWiseOp::Mul | ElementWiseOp::Div | ElementWiseOp::Pow | ElementWiseOp::Max | ElementWiseOp::Min | ElementWiseOp::PRelu
    )
}

/// Merges runs of ≥ 2 float32 pointwise layers (each intermediate read once) into one
/// `PointwiseChain` layer, so the data is traversed once instead of once per layer.
pub fn fuse_pointwise_chains(net: &mut Network) -> usize {
    let mut count = 0;
    let uses = consumers(net);
    let mut taken = vec![false; net.layers.len()];
    for start in 0..net.layers.len() {
        if taken[start] || net.layers[start].outputs.len() != 1 {
            continue;
        }
        let out0 = net.layers[start].outputs[0];
        if net.tensors[out0].dtype != DType::Float32 {
            continue;
        }
        // The chain value entering the first layer: its first input of the output's shape.
        let Some(first_acc) = net.layers[start].inputs.iter().flatten().copied().find(|&id| net.tensors[id].dims == net.tensors[out0].dims && net.tensors[id].dtype == DType::Float32) else { continue };
        let Some(first) = as_step(net, start, first_acc) else { continue };
        let mut members = vec![(start, first)];
        let mut acc = out0;
        loop {
            if !single_use(net, &uses, acc) {
                break;
            }
            let next = uses[acc][0];
            if taken[next] || net.layers[next].outputs.len() != 1 {
                break;
            }
            match as_step(net, next, acc) {
                Some(step) => {
                    members.push((next, step));
                    acc = net.layers[next].outputs[0];
                }
                None => break,
            }
        }
        if members.len() < 2 {
            continue;
        }
        let mut inputs = vec![Some(first_acc)];
        let mut steps = Vec::new();
        let mut parts = Vec::new();
        for (layer, (step, operand)) in &members {
            parts.push(net.layers[*layer].name.clone());
            let step = match (step.clone(), operand) {
                (PointwiseStep::Binary { op, swapped, .. }, Some(id)) => {
                    inputs.push(Some(*id));
                    PointwiseStep::Binary { op, operand: inputs.len() - 1, swapped }
                }
                (s, _) => s,
            };
            steps.push(step);
        }
        let last = members.last().unwrap().0;
        for (layer, _) in &members {
            taken[*layer] = true;
        }
        // The chain replaces the last member in place (so later layers still follow it in order);
        // the other members are dropped.
        let final_out = net.layers[last].outputs[0];
        let chain_name = format!("{}+{}", net.layers[start].name, members.len() - 1);
        let l = &mut net.layers[last];
        l.kind = LayerKind::PointwiseChain { steps };
        l.inputs = inputs;
        l.fused_from = parts;
        l.name = chain_name;
        debug_assert_eq!(net.layers[last].outputs[0], final_out);
        for (layer, _) in &members[..members.len() - 1] {
            net.layers[*layer].outputs.clear();
            net.layers[*layer].inputs.clear();
        }
        count += 1;
    }
    drop_marked(net);
    count
}
