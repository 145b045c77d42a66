//! What a CUDA plan carries besides the network (`PlanBody::backend_data`): the cubin compiled for
//! the build GPU's compute capability, and per layer how it executes.

use crate::codegen;
use kiln_core::dtype::DType;
use kiln_core::error::Result;
use kiln_core::layer::{ActivationKind, ElementWiseOp, LayerKind, NormalizationKind, PointwiseStep};
use kiln_core::network::{Layer, Network};
use kiln_core::plan::PlanBody;
use kiln_core::{kiln_bail, kiln_err};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Exec {
    /// kiln-cpu's kernel on host copies of the inputs (no GPU kernel for this layer yet).
    Host,
    /// A generated pointwise kernel.
    Kernel(String),
    /// A kernel of the static library (data movement, pooling, softmax, reductions, normalization).
    Native,
    /// cuDNN; `algo` -1 = cuDNN's first heuristic choice. The epilogue kernel adds bias/activation.
    Conv { algo: i32, epilogue: Option<String> },
    /// cuBLASLt; `heuristic` indexes cuBLASLt's heuristic list. `fused`: bias/activation in
    /// cuBLASLt's epilogue, else `epilogue` kernel.
    Gemm { heuristic: u32, fused: bool, epilogue: Option<String> },
    /// INT8 convolution (see `int8`): reads the int8 tensor `q` that its input was dequantized
    /// from, accumulates in int32 (cuDNN algorithm `algo`), and the library epilogue applies
    /// alpha[k] = x_scale · s_w[k], the bias and the activation as a clamp to [lo, hi].
    ConvInt8 { q: usize, x_scale: f32, algo: i32, lo: f32, hi: f32 },
    /// Not run: a DequantizeLinear whose every reader is an INT8 convolution, or a QuantizeLinear
    /// whose every reader became a `FakeQuant`.
    Skip,
    /// A DequantizeLinear computed straight from its QuantizeLinear's input `x` (the generated
    /// `kernel` does both; see `int8::fuse_fake_quantization`).
    FakeQuant { kernel: String, x: usize },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Program {
    pub arch: String,
    /// The static kernel library and the plan's generated kernels (empty when it has none).
    pub cubins: Vec<Vec<u8>>,
    pub tf32: bool,
    pub layers: Vec<Exec>,
    /// Every kernel name the layers use (resolved at load).
    pub kernels: Vec<String>,
    /// Per tensor: stored channel-last (NHWC) on the GPU. Logical shapes stay NCHW; kernels index
    /// through strides. Chosen for float 4-D tensors between layers that all take any layout
    /// (convolutions, pointwise kernels, pooling), so cuDNN runs its tensor-core NHWC kernels.
    pub nhwc: Vec<bool>,
}

impl Program {
    pub fn decode(bytes: &[u8]) -> Result<Program> {
        bincode::deserialize(bytes).map_err(|e| kiln_err!(CorruptPlan, "the plan's CUDA program is corrupt: {e}"))
    }
    pub fn encode(&self) -> Result<Vec<u8>> {
        bincode::serialize(self).map_err(|e| kiln_err!(Internal, "encoding the CUDA program: {e}"))
    }
}

fn float(d: DType) -> bool {
    matches!(d, DType::Float32 | DType::Float16)
}

fn dtypes(net: &Network, layer: &Layer) -> Vec<Option<DType>> {
    layer.inputs.iter().map(|i| i.map(|i| net.tensors[i].dtype)).collect()
}

/// Layers with a static-library kernel (shape limits are checked at run time, with host fallback).
fn native(net: &Network, layer: &Layer) -> bool {
    let x = layer.inputs.first().copied().flatten().map(|i| net.tensors[i].dtype);
    let data_ok = x.is_some_and(|d| kernels_elem(d));
    match &layer.kind {
        LayerKind::Reshape { .. } | LayerKind::Flatten { .. } | LayerKind::Squeeze { .. } | LayerKind::Unsqueeze { .. } | LayerKind::Identity => data_ok,
        LayerKind::Transpose { .. } | LayerKind::Expand | LayerKind::Tile | LayerKind::Slice | LayerKind::Split { .. } | LayerKind::Gather { .. } => data_ok,
        LayerKind::Concatenation { .. } => layer.inputs.iter().flatten().all(|&i| kernels_elem(net.tensors[i].dtype)),
        LayerKind::Pooling { .. } | LayerKind::Softmax { .. } | LayerKind::Reduce { .. } => x.is_some_and(float),
        LayerKind::Normalization { normalization } => {
            x.is_some_and(float) && matches!(normalization, NormalizationKind::Instance { .. } | NormalizationKind::Group { .. } | NormalizationKind::Layer { .. } | NormalizationKind::Lrn { .. })
        }
        _ => false,
    }
}

fn kernels_elem(d: DType) -> bool {
    crate::kernels::bytes_suffix(d.size()).is_some()
}

/// The in-place bias + activation kernel run after a convolution or GEMM: input 0 is the output
/// itself, input 1 the bias (if any).
fn epilogue(name: &str, out: DType, bias: Option<DType>, act: Option<&ActivationKind>) -> Option<codegen::PointwiseKernel> {
    let mut steps = Vec::new();
    let mut ins = vec![Some(out)];
    if let Some(b) = bias {
        steps.push(PointwiseStep::Binary { op: ElementWiseOp::Add, operand: 1, swapped: false });
        ins.push(Some(b));
    }
    if let Some(a) = act {
        steps.push(PointwiseStep::Activation { activation: a.clone() });
    }
    if steps.is_empty() {
        return None;
    }
    codegen::pointwise_kernel(name, &LayerKind::PointwiseChain { steps }, &ins, out)
}

/// A Q/DQ layer whose scale (and zero point) is one value.
fn per_tensor_scale(net: &Network, layer: &Layer) -> bool {
    layer.inputs.iter().skip(1).flatten().all(|&id| net.tensors[id].dims.iter().product::<i64>() == 1)
}

/// Decides each layer's execution and generates the kernels; `tactic(i)` is the builder's choice.
pub fn plan_layers(body: &PlanBody) -> (Vec<Exec>, Vec<codegen::PointwiseKernel>) {
    let net = &body.network;
    let mut execs = Vec::with_capacity(net.layers.len());
    let mut gen = Vec::new();
    for (i, layer) in net.layers.iter().enumerate() {
        let ins = dtypes(net, layer);
        let out = layer.outputs.first().map(|&o| net.tensors[o].dtype);
        let exec = match (&layer.kind, out) {
            (LayerKind::Convolution { activation, .. }, Some(o)) if float(o) && ins.first().copied().flatten() == Some(o) && net.tensors[layer.inputs[1].unwrap_or(0)].value.is_some() => {
                let bias = ins.get(2).copied().flatten();
                let algo = body.tactic(i).and_then(|t| t.strip_prefix("cudnn:algo=")).and_then(|a| a.parse().ok()).unwrap_or(-1);
                let ep = epilogue(&format!("ep_{i}"), o, bias, activation.as_ref());
                let name = ep.as_ref().map(|k| k.name.clone());
                gen.extend(ep);
                Exec::Conv { algo, epilogue: name }
            }
            (LayerKind::MatrixMultiply { has_bias, activation, .. }, Some(o)) if float(o) && ins.iter().take(2).all(|d| *d == Some(o)) => {
                let bias_id = if *has_bias { layer.inputs.get(2).copied().flatten() } else { None };
                let n = net.tensors[layer.outputs[0]].dims.last().copied().unwrap_or(-1);
                let bias_numel = bias_id.and_then(|b| {
                    let d = &net.tensors[b].dims;
                    d.iter().all(|&x| x >= 0).then(|| d.iter().product::<i64>() as usize)
                });
                let bias_last = bias_id.is_none_or(|b| net.tensors[b].dims.last().copied() == Some(n) && net.tensors[b].dtype == o);
                let (bias_fused, act_fused) = crate::gemm::epilogue(&layer.kind, bias_numel, n.max(0) as u64);
                let fused = (bias_id.is_none() || (bias_fused && bias_last)) && (activation.is_none() || act_fused);
                let heuristic = body.tactic(i).and_then(|t| t.strip_prefix("cublaslt:h=")).and_then(|a| a.parse().ok()).unwrap_or(0);
                let ep = if fused { None } else { epilogue(&format!("ep_{i}"), o, bias_id.map(|b| net.tensors[b].dtype), activation.as_ref()) };
                let name = ep.as_ref().map(|k| k.name.clone());
                gen.extend(ep);
                Exec::Gemm { heuristic, fused, epilogue: name }
            }
            // Per-axis (de)quantization has no GPU kernel yet; per-tensor runs as a generated kernel.
            (LayerKind::QuantizeLinear { .. } | LayerKind::DequantizeLinear { .. }, _) if !per_tensor_scale(net, layer) => Exec::Host,
            (kind, Some(o)) if layer.outputs.len() == 1 => match codegen::pointwise_kernel(&format!("pw_{i}"), kind, &ins, o) {
                Some(k) => {
                    let name = k.name.clone();
                    gen.push(k);
                    Exec::Kernel(name)
                }
                None if native(net, layer) => Exec::Native,
                None => Exec::Host,
            },
            _ if native(net, layer) => Exec::Native,
            _ => Exec::Host,
        };
        execs.push(exec);
    }
    (execs, gen)
}

/// Compiles the plan's kernels for `arch` and packs the program. `choose_int8` decides, for each
/// convolution that can run in INT8 (its input channel-last, see `int8::candidates`), the cuDNN
/// algorithm to run it with, or `None` to keep it in float (the builder times both).
pub fn build_program(body: &PlanBody, arch: &str, tf32: bool, choose_int8: &mut dyn FnMut(&crate::int8::Candidate) -> Result<Option<i32>>) -> Result<Program> {
    let (mut layers, mut generated) = plan_layers(body);
    if layers.len() != body.network.layers.len() {
        kiln_bail!(Internal, "CUDA program has {} layers for {} network layers", layers.len(), body.network.layers.len());
    }
    let nhwc = channel_last(&body.network, &layers);
    for c in crate::int8::candidates(&body.network) {
        let y = body.network.layers[c.layer].outputs[0];
        if !nhwc[c.q] || !nhwc[y] || !matches!(layers[c.layer], Exec::Conv { .. }) {
            continue;
        }
        if let Some(algo) = choose_int8(&c)? {
            layers[c.layer] = Exec::ConvInt8 { q: c.q, x_scale: c.x_scale, algo, lo: c.lo, hi: c.hi };
        }
    }
    crate::int8::skip_dead_dequantize(&body.network, &mut layers);
    generated.extend(crate::int8::fuse_fake_quantization(&body.network, &mut layers));
    let mut cubins = vec![crate::kernels::library_cubin(arch)?];
    if !generated.is_empty() {
        cubins.push(crate::nvrtc::compile(&crate::kernels::generated_source(&generated), arch)?);
    }
    let mut kernels: Vec<String> = crate::kernels::LIBRARY_KERNELS.iter().map(|s| s.to_string()).collect();
    kernels.extend(generated.iter().flat_map(|k| [k.name.clone(), format!("{}_i32", k.name)]));
    kernels.extend(generated.iter().filter(|k| k.vectorized).map(|k| format!("{}_v", k.name)));
    Ok(Program { arch: arch.to_string(), cubins, tf32, layers, kernels, nhwc })
}

/// Whether layer `exec` reads input slot `slot` / writes its output in either layout.
fn layout_free(net: &Network, layer: &Layer, exec: &Exec, slot: Option<usize>) -> bool {
    match (exec, &layer.kind) {
        (Exec::Conv { .. } | Exec::ConvInt8 { .. }, _) => slot.is_none() || slot == Some(0),
        (Exec::Skip | Exec::FakeQuant { .. }, _) => true,
        (Exec::Kernel(_), _) => true,
        (Exec::Native, LayerKind::Pooling { .. }) => slot.is_none() || slot == Some(0),
        _ => {
            let _ = net;
            false
        }
    }
}

/// Decides which tensors are stored NHWC (see `Program::nhwc`).
pub fn channel_last(net: &Network, execs: &[Exec]) -> Vec<bool> {
    // Int8 activations too: the quantized inputs of INT8 convolutions (cuDNN takes them NHWC only).
    let mut ok: Vec<bool> = net.tensors.iter().map(|t| matches!(t.dtype, DType::Float16 | DType::Float32 | DType::Int8) && t.dims.len() == 4 && t.value.is_none()).collect();
    for &io in net.inputs.iter().chain(net.outputs.iter()) {
        ok[io] = false;
    }
    let mut produced = vec![false; net.tensors.len()];
    for (layer, exec) in net.layers.iter().zip(execs) {
        for &o in &layer.outputs {
            produced[o] = true;
            if !layout_free(net, layer, exec, None) || layer.outputs.len() != 1 {
                ok[o] = false;
            }
        }
        for (slot, id) in layer.inputs.iter().enumerate() {
            if let Some(id) = id {
                if !layout_free(net, layer, exec, Some(slot)) {
                    ok[*id] = false;
                }
            }
        }
    }
    for (i, p) in produced.iter().enumerate() {
        ok[i] &= *p;
    }
    // cuDNN has no kernels for a convolution whose input and output differ in layout: such a pair
    // falls back to NCHW (always valid), repeated until no convolution mixes layouts.
    loop {
        let mut changed = false;
        for (layer, exec) in net.layers.iter().zip(execs) {
            if let (Exec::Conv { .. }, Some(Some(x)), Some(&y)) = (exec, layer.inputs.first(), layer.outputs.first()) {
                if ok[*x] != ok[y] {
                    ok[*x] = false;
                    ok[y] = false;
                    changed = true;
                }
            }
        }
        if !changed {
            return ok;
        }
    }
}

/// The tactic name `kiln inspect` shows for layers the builder did not time.
pub fn describe(exec: &Exec) -> &'static str {
    match exec {
        Exec::Host => "host",
        Exec::Kernel(_) => "nvrtc:pointwise",
        Exec::Native => "kiln:kernel",
        Exec::Conv { .. } => "cudnn:heuristic",
        Exec::Gemm { .. } => "cublaslt:heuristic",
        Exec::ConvInt8 { .. } => "cudnn:int8",
        Exec::Skip => "skipped (fused into its readers)",
        Exec::FakeQuant { .. } => "nvrtc:quantize-dequantize",
    }
}
