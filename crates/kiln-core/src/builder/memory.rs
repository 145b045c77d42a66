//! The memory plan: one activation arena, with tensors whose lifetimes do not overlap sharing bytes.
//!
//! Sizes come from the largest shapes the optimization profiles allow. Lifetimes run from the
//! producing layer to the last reader (network outputs live to the end; a DequantizeLinear's input
//! as long as its output). Placement is the greedy
//! "largest first, lowest fitting offset" heuristic used by TFLite's arena planner.

use super::{graph, profile, BuildBackend, OptimizationProfile};
use crate::network::Network;
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

/// Upper-bound dims of every tensor over all profiles (-1 where data-dependent).
pub fn max_shapes(net: &Network, profiles: &[OptimizationProfile], backend: &dyn BuildBackend) -> Vec<Vec<i64>> {
    let mut best: Vec<Vec<i64>> = net.tensors.iter().map(|t| t.dims.clone()).collect();
    for p in profiles {
        let dims = graph::dims_at(net, |id| Some(profile::max_dims(net, p, id)), backend);
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
    // A quantized tensor lives as long as its dequantized copy, and a quantizer's input as long as
    // its quantized output: a backend may read either in place of the later one (the CUDA backend's
    // INT8 convolutions read the int8 tensor and skip the DequantizeLinear; a float reader's
    // quantize-dequantize runs as one kernel from the QuantizeLinear's input). Later layers first,
    // so that Q's input inherits the extended lifetime of Q's output.
    for layer in net.layers.iter().rev() {
        use crate::layer::LayerKind::{DequantizeLinear, QuantizeLinear};
        if let (DequantizeLinear { .. } | QuantizeLinear { .. }, Some(Some(src)), Some(&out)) = (&layer.kind, layer.inputs.first(), layer.outputs.first()) {
            if let (Some(last), Some(p)) = (placements[out].map(|p| p.last), placements[*src].as_mut()) {
                p.last = p.last.max(last);
            }
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
