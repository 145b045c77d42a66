//! The memory plan: one activation arena, with tensors whose lifetimes do not overlap sharing bytes.
//!
//! Sizes come from the largest shapes the optimization profiles allow. Lifetimes run from the
//! producing layer to the last reader (network outputs live to the end). Placement is the greedy
//! "largest first, lowest fitting offset" heuristic used by TFLite's arena planner.

use super::{profile, OptimizationProfile, BuildBackend};
use crate::infer::{infer, infer_concrete, InferInput, TensorInfo};
use crate::network::Network;
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Offsets are aligned so every tensor can be viewed as any element type (and for SIMD loads).
pub const ALIGNMENT: u64 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub offset: u64,
    pub size: u64,
    /// Index of the producing layer.
    pub first: usize,
    /// Index of the last layer that reads it (layers.len() for network outputs).
    pub last: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryPlan {
    /// Per tensor id: its arena placement; `None` for inputs, constants, and tensors whose size
    /// depends on data (allocated separately at run time).
    pub placements: Vec<Option<Placement>>,
    pub arena_bytes: u64,
    /// What the activations would take without sharing.
    pub unshared_bytes: u64,
}

/// Upper-bound dims of every tensor over all profiles (-1 where data-dependent). Small shape-like
/// tensors are evaluated on the host so that shape subgraphs of dynamic networks still give sizes.
pub fn max_shapes(net: &Network, profiles: &[OptimizationProfile], backend: &dyn BuildBackend) -> Vec<Vec<i64>> {
    let mut best: Vec<Vec<i64>> = net.tensors.iter().map(|t| t.dims.clone()).collect();
    for p in profiles {
        let mut dims: Vec<Vec<i64>> = net.tensors.iter().map(|t| t.dims.clone()).collect();
        let mut values: Vec<Option<Tensor>> = net.tensors.iter().map(|t| t.value.clone()).collect();
        for &id in &net.inputs {
            dims[id] = profile::max_dims(net, p, id);
        }
        for layer in &net.layers {
            let inputs: Vec<Option<InferInput>> = layer
                .inputs
                .iter()
                .map(|id| id.map(|id| InferInput { info: TensorInfo::new(net.tensors[id].dtype, dims[id].clone()), value: values[id].as_ref() }))
                .collect();
            let Ok(infos) = infer(&layer.kind, &inputs) else { break };
            for (&o, info) in layer.outputs.iter().zip(&infos) {
                dims[o] = info.dims.clone();
            }
            let small = infos.iter().all(|i| i.is_static() && i.dims.iter().product::<i64>() <= 64);
            let known = layer.inputs.iter().flatten().all(|&id| values[id].is_some());
            if small && known && !layer.outputs.is_empty() {
                let ins: Vec<Option<&Tensor>> = layer.inputs.iter().map(|id| id.map(|id| values[id].as_ref().unwrap())).collect();
                if let Ok(shapes) = infer_concrete(&layer.kind, &ins) {
                    if let Ok(mut outs) = shapes.iter().map(|(dt, s)| Tensor::zeros(*dt, s)).collect::<crate::Result<Vec<_>>>() {
                        if backend.evaluate(&layer.kind, &ins, &mut outs).is_ok() {
                            for (&o, v) in layer.outputs.iter().zip(outs) {
                                values[o] = Some(v);
                            }
                        }
                    }
                }
            } else if let Some(shape_of) = shape_layer_value(layer, &dims) {
                values[layer.outputs[0]] = Some(shape_of);
            }
        }
        for (b, d) in best.iter_mut().zip(dims) {
            if b.len() == d.len() {
                for (x, y) in b.iter_mut().zip(d) {
                    *x = if *x < 0 || y < 0 { if y < 0 { -1 } else { y.max(*x) } } else { (*x).max(y) };
                }
            }
        }
    }
    best
}

fn shape_layer_value(layer: &crate::network::Layer, dims: &[Vec<i64>]) -> Option<Tensor> {
    if let crate::layer::LayerKind::Shape { start, end } = &layer.kind {
        let input = &dims[(*layer.inputs.first()?)?];
        if input.iter().any(|&d| d < 0) {
            return None;
        }
        let rank = input.len() as i64;
        let clamp = |v: i64| if v < 0 { (v + rank).max(0) } else { v.min(rank) };
        let (s, e) = (clamp(start.unwrap_or(0)), clamp(end.unwrap_or(rank)));
        let v: Vec<i64> = if s < e { input[s as usize..e as usize].to_vec() } else { vec![] };
        return Tensor::from_i64(vec![v.len()], v).ok();
    }
    None
}

pub fn plan_memory(net: &Network, max_dims: &[Vec<i64>]) -> MemoryPlan {
    let n_layers = net.layers.len();
    let mut placements: Vec<Option<Placement>> = vec![None; net.tensors.len()];
    for (i, layer) in net.layers.iter().enumerate() {
        for &o in &layer.outputs {
            let dims = &max_dims[o];
            if dims.iter().any(|&d| d < 0) {
                continue;
            }
            let bytes = dims.iter().map(|&d| d as u64).product::<u64>() * net.tensors[o].dtype.size() as u64;
            let size = bytes.div_ceil(ALIGNMENT).max(1) * ALIGNMENT;
            placements[o] = Some(Placement { offset: 0, size, first: i, last: i });
        }
        for id in layer.inputs.iter().flatten() {
            if let Some(p) = placements[*id].as_mut() {
                p.last = p.last.max(i);
            }
        }
    }
    for &o in &net.outputs {
        if let Some(p) = placements[o].as_mut() {
            p.last = n_layers;
        }
    }
    let mut order: Vec<usize> = (0..placements.len()).filter(|&i| placements[i].is_some()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(placements[i].unwrap().size), i));
    let mut placed: Vec<Placement> = Vec::new();
    let mut arena = 0u64;
    for id in order {
        let mut p = placements[id].unwrap();
        let mut conflicts: Vec<&Placement> = placed.iter().filter(|q| q.first <= p.last && p.first <= q.last).collect();
        conflicts.sort_by_key(|q| q.offset);
        let mut offset = 0u64;
        for q in conflicts {
            if offset + p.size <= q.offset {
                break;
            }
            offset = offset.max(q.offset + q.size);
        }
        p.offset = offset;
        arena = arena.max(offset + p.size);
        placements[id] = Some(p);
        placed.push(p);
    }
    let unshared = placements.iter().flatten().map(|p| p.size).sum();
    MemoryPlan { placements, arena_bytes: arena, unshared_bytes: unshared }
}
