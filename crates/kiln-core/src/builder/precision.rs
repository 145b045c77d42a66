//! Reduced precision and I/O formats, as network rewrites (so every backend runs them the same way).
//!
//! FP16 (`--fp16`): after fusion, each layer whose kind is safe in half precision (convolutions,
//! matrix multiplies, pooling, activations, add/mul-style element-wise ops and chains without
//! exp/log/pow) computes in FP16: its float inputs are cast to float16 (constants converted once,
//! activations through inserted Cast layers shared by all readers) and its outputs become float16.
//! Data-movement layers follow their input's precision. Everything else (softmax, reductions,
//! normalizations, exp/log, …) stays in FP32, as TensorRT keeps numerically sensitive layers.
//! `layerPrecisions` overrides per layer (by the layer's name or a fused part's name).
//! Network inputs and outputs keep their dtypes unless `inputIoFormats`/`outputIoFormats` say
//! otherwise (`fp16` changes the binding dtype, `hwc` moves the channel axis last).

use crate::dtype::DType;
use crate::error::Result;
use crate::kiln_bail;
use crate::layer::{ElementWiseOp, LayerKind, PointwiseStep, PoolingKind, UnaryOp};
use crate::network::{Layer, Network, TensorDesc, TensorId};
use crate::tensor::{Tensor, TensorData};
use half::f16;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Fp32,
    Fp16,
}

/// One binding's format, parsed from "fp32:chw" | "fp16:chw" | "fp32:hwc" | "fp16:hwc".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoFormat {
    pub half: bool,
    pub hwc: bool,
}

pub fn parse_io_format(s: &str) -> Result<IoFormat> {
    let (t, l) = s.split_once(':').unwrap_or((s, "chw"));
    let half = match t {
        "fp32" => false,
        "fp16" => true,
        _ => kiln_bail!(InvalidValue, "I/O format '{s}': the type must be fp32 or fp16 (e.g. fp16:chw)"),
    };
    let hwc = match l {
        "chw" => false,
        "hwc" => true,
        _ => kiln_bail!(InvalidValue, "I/O format '{s}': the layout must be chw or hwc (e.g. fp32:hwc)"),
    };
    Ok(IoFormat { half, hwc })
}

/// How a layer kind relates to precision.
enum Role {
    /// Computes; FP16-safe.
    Compute,
    /// Moves or selects data: runs in whatever precision its data inputs have.
    PassThrough,
    /// Stays FP32.
    Fp32Only,
}

fn chain_is_fp16_safe(steps: &[PointwiseStep]) -> bool {
    steps.iter().all(|s| match s {
        PointwiseStep::Unary { op } => !matches!(op, UnaryOp::Exp | UnaryOp::Log | UnaryOp::Reciprocal | UnaryOp::Sqrt),
        PointwiseStep::Binary { op, .. } => matches!(op, ElementWiseOp::Add | ElementWiseOp::Sub | ElementWiseOp::Mul | ElementWiseOp::Max | ElementWiseOp::Min | ElementWiseOp::PRelu),
        PointwiseStep::Activation { .. } => true,
    })
}

fn role(kind: &LayerKind) -> Role {
    match kind {
        LayerKind::Convolution { .. } | LayerKind::MatrixMultiply { .. } | LayerKind::Activation { .. } => Role::Compute,
        // INT8 with FP16 (`--int8 --fp16`): dequantization produces FP16 directly (its scale becomes
        // float16, rounded once), and quantization reads FP16 activations as they are (widening them
        // to float32 first is exact, so this is the same result without a Cast pass).
        LayerKind::DequantizeLinear { .. } => Role::Compute,
        LayerKind::QuantizeLinear { .. } => Role::PassThrough,
        LayerKind::Pooling { pooling, .. } if !matches!(pooling, PoolingKind::Lp { .. }) => Role::Compute,
        LayerKind::ElementWise { op } if matches!(op, ElementWiseOp::Add | ElementWiseOp::Sub | ElementWiseOp::Mul | ElementWiseOp::Max | ElementWiseOp::Min | ElementWiseOp::PRelu) => Role::Compute,
        LayerKind::PointwiseChain { steps } if chain_is_fp16_safe(steps) => Role::Compute,
        LayerKind::Concatenation { .. }
        | LayerKind::Transpose { .. }
        | LayerKind::Reshape { .. }
        | LayerKind::Flatten { .. }
        | LayerKind::Squeeze { .. }
        | LayerKind::Unsqueeze { .. }
        | LayerKind::Identity
        | LayerKind::Slice
        | LayerKind::Split { .. }
        | LayerKind::Gather { .. }
        | LayerKind::Expand
        | LayerKind::Tile
        | LayerKind::Pad { .. }
        | LayerKind::DepthToSpace { .. }
        | LayerKind::SpaceToDepth { .. } => Role::PassThrough,
        _ => Role::Fp32Only,
    }
}

/// Input slots holding the data a pass-through layer moves (the others are indices, shapes…).
fn data_slots(kind: &LayerKind, n: usize) -> Vec<usize> {
    match kind {
        LayerKind::Concatenation { .. } => (0..n).collect(),
        LayerKind::Pad { .. } => vec![0, 2],
        _ => vec![0],
    }
}

struct Rewriter<'a> {
    net: &'a mut Network,
    layers: Vec<Layer>,
    /// (tensor, target dtype) → tensor holding it in that dtype.
    casts: HashMap<(TensorId, DType), TensorId>,
    /// Cast layers inserted: output → source (so a cast back reuses the source).
    cast_source: HashMap<TensorId, TensorId>,
    inserted: usize,
}

impl Rewriter<'_> {
    fn new_tensor(&mut self, name: String, dtype: DType, dims: Vec<i64>, value: Option<Tensor>) -> TensorId {
        let mut unique = name.clone();
        let mut k = 1;
        while self.net.tensors.iter().any(|t| t.name == unique) {
            unique = format!("{name}_{k}");
            k += 1;
        }
        self.net.tensors.push(TensorDesc { name: unique, dtype, dims, value });
        self.net.tensors.len() - 1
    }

    /// `id` in dtype `to` (float32 <-> float16): a converted constant or a shared Cast layer.
    fn cast(&mut self, id: TensorId, to: DType) -> TensorId {
        if self.net.tensors[id].dtype == to {
            return id;
        }
        if let Some(&c) = self.casts.get(&(id, to)) {
            return c;
        }
        if let Some(&src) = self.cast_source.get(&id) {
            if self.net.tensors[src].dtype == to {
                return src;
            }
        }
        let t = self.net.tensors[id].clone();
        let suffix = if to == DType::Float16 { "fp16" } else { "fp32" };
        let out = if let Some(v) = &t.value {
            let data = match (&v.data, to) {
                (TensorData::F32(x), DType::Float16) => TensorData::F16(x.iter().map(|&v| f16::from_f32(v)).collect()),
                (TensorData::F16(x), DType::Float32) => TensorData::F32(x.iter().map(|v| v.to_f32()).collect()),
                _ => v.data.clone(),
            };
            self.new_tensor(format!("{}:{suffix}", t.name), to, t.dims.clone(), Some(Tensor { shape: v.shape.clone(), data }))
        } else {
            let out = self.new_tensor(format!("{}:{suffix}", t.name), to, t.dims.clone(), None);
            self.layers.push(Layer { name: format!("{}:cast_{suffix}", t.name), kind: LayerKind::Cast { to }, inputs: vec![Some(id)], outputs: vec![out], fused_from: Vec::new() });
            self.cast_source.insert(out, id);
            self.inserted += 1;
            out
        };
        self.casts.insert((id, to), out);
        out
    }
}

fn is_float(d: DType) -> bool {
    matches!(d, DType::Float32 | DType::Float16)
}

/// Applies FP16 per layer; returns how many layers compute in FP16.
pub fn apply_fp16(net: &mut Network, fp16: bool, overrides: &BTreeMap<String, Precision>) -> Result<usize> {
    for name in overrides.keys() {
        if !net.layers.iter().any(|l| &l.name == name || l.fused_from.iter().any(|f| f == name)) {
            kiln_bail!(InvalidValue, "layerPrecisions names layer '{name}', which is not in the optimized network (see `kiln inspect` for layer names)");
        }
    }
    if !fp16 && !overrides.values().any(|p| *p == Precision::Fp16) {
        return Ok(0);
    }
    let old_layers = std::mem::take(&mut net.layers);
    let outputs = net.outputs.clone();
    let mut rw = Rewriter { net, layers: Vec::with_capacity(old_layers.len()), casts: HashMap::new(), cast_source: HashMap::new(), inserted: 0 };
    let mut in_fp16 = 0;
    for mut layer in old_layers {
        let asked = overrides.get(&layer.name).or_else(|| layer.fused_from.iter().find_map(|f| overrides.get(f))).copied();
        let slots: Vec<usize> = match role(&layer.kind) {
            Role::Compute => (0..layer.inputs.len()).collect(),
            Role::PassThrough => data_slots(&layer.kind, layer.inputs.len()),
            Role::Fp32Only => (0..layer.inputs.len()).collect(),
        };
        let want16 = match role(&layer.kind) {
            Role::Compute => asked.map(|p| p == Precision::Fp16).unwrap_or(fp16),
            Role::PassThrough => {
                asked != Some(Precision::Fp32) && slots.iter().any(|&s| layer.inputs.get(s).copied().flatten().is_some_and(|id| rw.net.tensors[id].dtype == DType::Float16))
            }
            Role::Fp32Only => false,
        };
        let target = if want16 { DType::Float16 } else { DType::Float32 };
        for &s in &slots {
            let Some(Some(id)) = layer.inputs.get(s).copied() else { continue };
            if is_float(rw.net.tensors[id].dtype) && rw.net.tensors[id].dtype != target {
                layer.inputs[s] = Some(rw.cast(id, target));
            }
        }
        if want16 {
            in_fp16 += 1;
            let mut restore = Vec::new();
            for o in layer.outputs.iter_mut() {
                if rw.net.tensors[*o].dtype != DType::Float32 {
                    continue;
                }
                if outputs.contains(o) {
                    // The binding keeps its dtype: compute into a float16 tensor, cast back into it.
                    let t = rw.net.tensors[*o].clone();
                    let half = rw.new_tensor(format!("{}:fp16", t.name), DType::Float16, t.dims.clone(), None);
                    restore.push((half, *o));
                    *o = half;
                } else {
                    rw.net.tensors[*o].dtype = DType::Float16;
                }
            }
            rw.layers.push(layer);
            for (half, out) in restore {
                let name = format!("{}:cast_fp32", rw.net.tensors[out].name);
                rw.layers.push(Layer { name, kind: LayerKind::Cast { to: DType::Float32 }, inputs: vec![Some(half)], outputs: vec![out], fused_from: Vec::new() });
                rw.cast_source.insert(out, half);
            }
        } else {
            rw.layers.push(layer);
        }
    }
    let layers = std::mem::take(&mut rw.layers);
    net.layers = layers;
    Ok(in_fp16)
}

/// Applies binding formats: `fp16` makes the binding float16 (a Cast converts at the boundary),
/// `hwc` makes it channel-last (a Transpose converts). Run before profile validation, so profile
/// shapes are given in the binding's layout.
pub fn apply_io_formats(net: &mut Network, inputs: &[String], outputs: &[String]) -> Result<()> {
    if !inputs.is_empty() && inputs.len() != net.inputs.len() {
        kiln_bail!(InvalidValue, "inputIOFormats has {} entries but the network has {} inputs (one format per input, in order)", inputs.len(), net.inputs.len());
    }
    if !outputs.is_empty() && outputs.len() != net.outputs.len() {
        kiln_bail!(InvalidValue, "outputIOFormats has {} entries but the network has {} outputs (one format per output, in order)", outputs.len(), net.outputs.len());
    }
    let mut front: Vec<Layer> = Vec::new();
    for (k, spec) in inputs.iter().enumerate() {
        let f = parse_io_format(spec)?;
        let id = net.inputs[k];
        let desc = net.tensors[id].clone();
        if !f.half && !f.hwc {
            continue;
        }
        if desc.dtype != DType::Float32 {
            kiln_bail!(InvalidValue, "inputIOFormats '{spec}' for input '{}': only float32 inputs take I/O formats (it is {})", desc.name, desc.dtype);
        }
        if f.hwc && desc.dims.len() < 3 {
            kiln_bail!(InvalidValue, "inputIOFormats '{spec}' for input '{}': hwc needs a rank >= 3 input (it has dims {:?})", desc.name, desc.dims);
        }
        // The binding keeps the name; the network reads an internal tensor.
        let internal = net.tensors.len();
        net.tensors.push(TensorDesc { name: format!("{}:chw_fp32", desc.name), ..desc.clone() });
        for l in net.layers.iter_mut() {
            for i in l.inputs.iter_mut().flatten() {
                if *i == id {
                    *i = internal;
                }
            }
        }
        for o in net.outputs.iter_mut() {
            if *o == id {
                *o = internal;
            }
        }
        let r = desc.dims.len();
        let mut cur = id;
        if f.half {
            net.tensors[id].dtype = DType::Float16;
        }
        if f.hwc {
            let mut d = vec![desc.dims[0]];
            d.extend_from_slice(&desc.dims[2..]);
            d.push(desc.dims[1]);
            net.tensors[id].dims = d;
            // NHWC → NCHW: perm [0, r-1, 1, …, r-2].
            let mut perm = vec![0, r - 1];
            perm.extend(1..r - 1);
            let dst = if f.half {
                net.tensors.push(TensorDesc { name: format!("{}:chw_fp16", desc.name), dtype: DType::Float16, dims: desc.dims.clone(), value: None });
                net.tensors.len() - 1
            } else {
                internal
            };
            front.push(Layer { name: format!("{}:to_chw", desc.name), kind: LayerKind::Transpose { perm }, inputs: vec![Some(cur)], outputs: vec![dst], fused_from: Vec::new() });
            cur = dst;
        }
        if f.half {
            front.push(Layer { name: format!("{}:to_fp32", desc.name), kind: LayerKind::Cast { to: DType::Float32 }, inputs: vec![Some(cur)], outputs: vec![internal], fused_from: Vec::new() });
        }
    }
    front.append(&mut net.layers);
    net.layers = front;
    for (k, spec) in outputs.iter().enumerate() {
        let f = parse_io_format(spec)?;
        if !f.half && !f.hwc {
            continue;
        }
        let id = net.outputs[k];
        let desc = net.tensors[id].clone();
        if desc.dtype != DType::Float32 {
            kiln_bail!(InvalidValue, "outputIOFormats '{spec}' for output '{}': only float32 outputs take I/O formats (it is {})", desc.name, desc.dtype);
        }
        if f.hwc && desc.dims.len() < 3 {
            kiln_bail!(InvalidValue, "outputIOFormats '{spec}' for output '{}': hwc needs a rank >= 3 output (it has dims {:?})", desc.name, desc.dims);
        }
        // The producer writes an internal tensor; the binding (same name) is converted from it.
        let internal = net.tensors.len();
        net.tensors.push(TensorDesc { name: format!("{}:chw_fp32", desc.name), ..desc.clone() });
        for l in net.layers.iter_mut() {
            for o in l.outputs.iter_mut() {
                if *o == id {
                    *o = internal;
                }
            }
            for i in l.inputs.iter_mut().flatten() {
                if *i == id {
                    *i = internal;
                }
            }
        }
        let r = desc.dims.len();
        let mut cur = internal;
        if f.half {
            let dst = if f.hwc {
                net.tensors.push(TensorDesc { name: format!("{}:chw_fp16", desc.name), dtype: DType::Float16, dims: desc.dims.clone(), value: None });
                net.tensors.len() - 1
            } else {
                id
            };
            net.layers.push(Layer { name: format!("{}:to_fp16", desc.name), kind: LayerKind::Cast { to: DType::Float16 }, inputs: vec![Some(cur)], outputs: vec![dst], fused_from: Vec::new() });
            cur = dst;
            net.tensors[id].dtype = DType::Float16;
        }
        if f.hwc {
            let mut perm = vec![0];
            perm.extend(2..r);
            perm.push(1);
            let mut d = vec![desc.dims[0]];
            d.extend_from_slice(&desc.dims[2..]);
            d.push(desc.dims[1]);
            net.tensors[id].dims = d;
            net.layers.push(Layer { name: format!("{}:to_hwc", desc.name), kind: LayerKind::Transpose { perm }, inputs: vec![Some(cur)], outputs: vec![id], fused_from: Vec::new() });
        }
    }
    Ok(())
}
