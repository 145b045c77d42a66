//! INT8 convolutions from quantized networks.
//!
//! An INT8 build (`--int8` ranges, or a Q/DQ ONNX model) reaches the backend as float layers with
//! QuantizeLinear→DequantizeLinear in front of each weighted layer and fake-quantized weights (the
//! builder folded the weights' Q/DQ pairs). A convolution whose input is such a DequantizeLinear of
//! an int8 tensor (per-tensor scale, zero point 0) and whose weights are exactly per-channel INT8
//! values times a scale can skip the dequantization: cuDNN convolves the int8 tensor with the int8
//! filter in int32, and the epilogue multiplies by x_scale · s_w[k]. That is the same arithmetic
//! the fake-quantized network describes (exact integer sums, one float scaling), which is how
//! TensorRT runs Q/DQ networks.
//!
//! Whether a candidate runs in INT8 is measured, not assumed: the builder times the INT8 kernel
//! and epilogue against the float convolution and keeps the faster (`build.rs`), as TensorRT falls
//! back to FP16/FP32 where INT8 is slower.

use crate::conv::{quantize_filter, Int8Filter};
use crate::program::Exec;
use kiln_core::dtype::DType;
use kiln_core::layer::{ActivationKind, LayerKind};
use kiln_core::network::Network;
use kiln_core::tensor::Tensor;

/// A convolution that can run in INT8.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The convolution layer.
    pub layer: usize,
    /// The int8 tensor its input was dequantized from.
    pub q: usize,
    /// The dequantization's (per-tensor) scale.
    pub x_scale: f32,
    /// The fused activation as a clamp (ReLU = [0, inf), Clip = [min, max], none = everything).
    pub lo: f32,
    pub hi: f32,
}

/// The fused activations the INT8 epilogue applies (as a clamp).
fn clamp_of(activation: &Option<ActivationKind>) -> Option<(f32, f32)> {
    match activation {
        None => Some((f32::NEG_INFINITY, f32::INFINITY)),
        Some(ActivationKind::Relu) => Some((0.0, f32::INFINITY)),
        Some(ActivationKind::Clip { min, max }) => Some((*min, *max)),
        Some(_) => None,
    }
}

fn scalar(t: &Tensor) -> Option<f32> {
    let v = t.data.to_f64_vec();
    (v.len() == 1).then(|| v[0] as f32)
}

/// How far fake-quantized weights of this dtype may sit from q · s (relative to the channel's max).
fn weight_tolerance(dtype: DType) -> f32 {
    if dtype == DType::Float16 {
        1.0 / 512.0
    } else {
        1e-6
    }
}

/// The INT8 form of a convolution's constant filter (`None`: not per-channel INT8 values).
pub fn filter(w: &Tensor, dtype: DType) -> Option<Int8Filter> {
    let k = *w.shape.first()?;
    let values: Vec<f32> = w.data.to_f64_vec().into_iter().map(|v| v as f32).collect();
    quantize_filter(&values, k, weight_tolerance(dtype))
}

/// The convolutions of `net` that can run in INT8 (layout permitting, see `program::build_program`).
pub fn candidates(net: &Network) -> Vec<Candidate> {
    let mut producer = vec![None; net.tensors.len()];
    for (i, l) in net.layers.iter().enumerate() {
        for &o in &l.outputs {
            producer[o] = Some(i);
        }
    }
    let mut out = Vec::new();
    for (i, layer) in net.layers.iter().enumerate() {
        let LayerKind::Convolution { activation, groups, .. } = &layer.kind else { continue };
        let (Some(Some(x)), Some(Some(w)), Some(&y)) = (layer.inputs.first(), layer.inputs.get(1), layer.outputs.first()) else { continue };
        let out_dtype = net.tensors[y].dtype;
        if *groups > 1 || !matches!(out_dtype, DType::Float32 | DType::Float16) || net.outputs.contains(x) {
            continue;
        }
        let Some((lo, hi)) = clamp_of(activation) else { continue };
        let Some(d) = producer[*x].map(|d| &net.layers[d]) else { continue };
        if !matches!(d.kind, LayerKind::DequantizeLinear { .. }) {
            continue;
        }
        let (Some(Some(q)), Some(Some(scale))) = (d.inputs.first(), d.inputs.get(1)) else { continue };
        if net.tensors[*q].dtype != DType::Int8 {
            continue;
        }
        let Some(x_scale) = net.tensors[*scale].value.as_ref().and_then(scalar) else { continue };
        let zero_ok = match d.inputs.get(2).copied().flatten() {
            None => true,
            Some(z) => net.tensors[z].value.as_ref().is_some_and(|v| v.data.to_f64_vec().iter().all(|&z| z == 0.0)),
        };
        if !zero_ok || !(x_scale.is_finite() && x_scale > 0.0) {
            continue;
        }
        let wt = &net.tensors[*w];
        let Some(wv) = wt.value.as_ref() else { continue };
        if wv.shape.len() != 4 || wv.shape[0] % 4 != 0 || wv.shape[1] % 4 != 0 {
            continue;
        }
        let bias_ok = match layer.inputs.get(2).copied().flatten() {
            None => true,
            Some(b) => net.tensors[b].dtype == out_dtype && net.tensors[b].value.as_ref().is_some_and(|v| v.numel() == wv.shape[0]),
        };
        if !bias_ok || filter(wv, wt.dtype).is_none() {
            continue;
        }
        out.push(Candidate { layer: i, q: *q, x_scale, lo, hi });
    }
    out
}

/// Marks DequantizeLinear layers whose output only INT8 convolutions read (they read `q` instead).
pub fn skip_dead_dequantize(net: &Network, layers: &mut [Exec]) {
    for d in 0..net.layers.len() {
        if !matches!(net.layers[d].kind, LayerKind::DequantizeLinear { .. }) {
            continue;
        }
        let Some(&x) = net.layers[d].outputs.first() else { continue };
        if net.outputs.contains(&x) {
            continue;
        }
        let readers: Vec<usize> = (0..net.layers.len()).filter(|&i| net.layers[i].inputs.contains(&Some(x))).collect();
        if !readers.is_empty() && readers.iter().all(|&i| matches!(layers[i], Exec::ConvInt8 { .. })) {
            layers[d] = Exec::Skip;
        }
    }
}

/// Quantize→dequantize pairs that no INT8 kernel reads in between (the reader runs in float) become
/// one kernel per DequantizeLinear computing both from the QuantizeLinear's input, and the
/// QuantizeLinear is skipped: one pass over the activation instead of two, with the same results.
/// Returns the kernels to compile.
pub fn fuse_fake_quantization(net: &Network, layers: &mut [Exec]) -> Vec<crate::codegen::PointwiseKernel> {
    let mut kernels = Vec::new();
    let read_by_int8: Vec<usize> = layers.iter().filter_map(|e| if let Exec::ConvInt8 { q, .. } = e { Some(*q) } else { None }).collect();
    for j in 0..net.layers.len() {
        let qlayer = &net.layers[j];
        if !matches!(qlayer.kind, LayerKind::QuantizeLinear { .. }) || !matches!(layers[j], Exec::Kernel(_)) {
            continue;
        }
        let (Some(Some(x)), Some(&q)) = (qlayer.inputs.first(), qlayer.outputs.first()) else { continue };
        if net.outputs.contains(&q) || read_by_int8.contains(&q) {
            continue;
        }
        let Some(quant) = per_tensor(net, qlayer.inputs.get(1), qlayer.inputs.get(2)) else { continue };
        let (lo, hi) = match net.tensors[q].dtype {
            DType::Int8 => (-128.0, 127.0),
            DType::Uint8 => (0.0, 255.0),
            _ => continue,
        };
        let readers: Vec<usize> = (0..net.layers.len()).filter(|&i| net.layers[i].inputs.contains(&Some(q))).collect();
        let mut fused = Vec::new();
        for &d in &readers {
            let dl = &net.layers[d];
            let ok = matches!(dl.kind, LayerKind::DequantizeLinear { .. }) && matches!(layers[d], Exec::Kernel(_)) && dl.inputs.first() == Some(&Some(q));
            let dequant = if ok { per_tensor(net, dl.inputs.get(1), dl.inputs.get(2)) } else { None };
            let kernel = dequant.and_then(|dq| crate::codegen::fake_quant_kernel(&format!("fq_{d}"), net.tensors[*x].dtype, net.tensors[dl.outputs[0]].dtype, (quant.0, quant.1, lo, hi), dq));
            match kernel {
                Some(k) => fused.push((d, k)),
                None => break,
            }
        }
        if readers.is_empty() || fused.len() != readers.len() {
            continue;
        }
        layers[j] = Exec::Skip;
        for (d, k) in fused {
            layers[d] = Exec::FakeQuant { kernel: k.name.clone(), x: *x };
            kernels.push(k);
        }
    }
    kernels
}

/// (scale, zero point) of a per-tensor Q/DQ whose scale and zero point are constants.
fn per_tensor(net: &Network, scale: Option<&Option<usize>>, zero: Option<&Option<usize>>) -> Option<(f32, f32)> {
    let s = net.tensors[(*scale?)?].value.as_ref().and_then(scalar)?;
    let z = match zero.copied().flatten() {
        None => 0.0,
        Some(z) => net.tensors[z].value.as_ref().and_then(scalar)?,
    };
    Some((s, z))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_per_channel_int8_filters_exactly() {
        // Two channels of q · s with s = max / 127, as the INT8 pass writes them.
        let (s0, s1) = (0.02f32, 0.5f32);
        let q0 = [127i8, -3, 0, 64];
        let q1 = [-127i8, 1, 2, 100];
        let w: Vec<f32> = q0.iter().map(|&q| q as f32 * s0).chain(q1.iter().map(|&q| q as f32 * s1)).collect();
        let f = quantize_filter(&w, 2, weight_tolerance(DType::Float32)).expect("int8 weights");
        assert_eq!(f.values, q0.iter().chain(q1.iter()).copied().collect::<Vec<i8>>());
        assert!((f.scales[0] - s0).abs() <= s0 * 1e-6 && (f.scales[1] - s1).abs() <= s1 * 1e-6);
        // Float16-rounded fake-quantized weights still give the same integers.
        let h: Vec<f32> = w.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect();
        assert_eq!(quantize_filter(&h, 2, weight_tolerance(DType::Float16)).unwrap().values, f.values);
    }

    #[test]
    fn rejects_weights_that_are_not_int8_values() {
        let w = [1.0f32, 0.3337, -0.71, 0.123];
        assert!(quantize_filter(&w, 1, weight_tolerance(DType::Float32)).is_none());
        // An all-zero channel has scale 1 and integers 0.
        let z = quantize_filter(&[0.0f32; 4], 1, 1e-6).unwrap();
        assert_eq!((z.values, z.scales), (vec![0i8; 4], vec![1.0]));
    }
}
