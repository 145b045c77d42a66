//! Calibration mode and INT8 (fake-quantized) builds on the CPU backend.
//!
//! The INT8 result is checked against a reference computed here from scratch: activations and weights
//! quantized by hand (round half to even, saturate to [-128, 127], scale = amax / 127, per-channel
//! weight scales), then a direct f64 convolution.

use kiln_core::builder::{build_plan, build_plan_with_stats, BuilderConfig, Int8Config};
use kiln_core::layer::*;
use kiln_core::{DType, Network, Tensor, TensorData};
use kiln_cpu::{CpuBackend, CpuEngine};
use std::collections::BTreeMap;

mod common;
use common::seeded;

fn conv(pad: usize) -> LayerKind {
    LayerKind::Convolution { strides: vec![], pads: vec![pad; 4], dilations: vec![], groups: 1, padding_mode: PaddingMode::Explicit, activation: None }
}

struct Weights {
    w1: Vec<f32>, // [4, 2, 3, 3]
    b1: Vec<f32>, // [4]
    w2: Vec<f32>, // [3, 4, 1, 1]
}

fn weights() -> Weights {
    let mut w1 = seeded(72, 11);
    w1[5] = 0.0; // an exact zero and a large weight to exercise the per-channel max
    w1[20] = 1.75;
    Weights { w1, b1: vec![0.1, -0.05, 0.2, 0.0], w2: seeded(12, 12) }
}

/// x [1,2,5,5] → conv 3×3 pad 1 (+bias) → relu → conv 1×1 → y
fn net() -> Network {
    let w = weights();
    let mut net = Network::new();
    let x = net.add_input("x", DType::Float32, &[1, 2, 5, 5]).unwrap();
    let w1 = net.add_constant("w1", Tensor::from_f32(vec![4, 2, 3, 3], w.w1).unwrap()).unwrap();
    let b1 = net.add_constant("b1", Tensor::from_f32(vec![4], w.b1).unwrap()).unwrap();
    let c1 = net.add_layer("conv1", conv(1), &[Some(x), Some(w1), Some(b1)]).unwrap()[0];
    let r = net.add_layer("relu", LayerKind::Activation { activation: ActivationKind::Relu }, &[Some(c1)]).unwrap()[0];
    let w2 = net.add_constant("w2", Tensor::from_f32(vec![3, 4, 1, 1], w.w2).unwrap()).unwrap();
    let y = net.add_layer("conv2", conv(0), &[Some(r), Some(w2)]).unwrap()[0];
    net.set_tensor_name(y, "y").unwrap();
    net.mark_output(y).unwrap();
    net
}

fn input() -> Tensor {
    let mut v: Vec<f32> = seeded(50, 3).into_iter().map(|x| x * 2.0).collect();
    v[7] = 2.5; // the max |x|
    Tensor::from_f32(vec![1, 2, 5, 5], v).unwrap()
}

/// Per-tensor fake quantization in f32 exactly as QuantizeLinear/DequantizeLinear compute it.
fn fq_tensor(v: &[f32], amax: f32) -> Vec<f64> {
    let s = amax / 127.0;
    v.iter().map(|&x| ((x / s).round_ties_even().clamp(-128.0, 127.0) * s) as f64).collect()
}

/// Per-output-channel fake quantization of weights [M, …].
fn fq_weights(w: &[f32], m: usize) -> Vec<f64> {
    let per = w.len() / m;
    w.chunks(per)
        .flat_map(|c| {
            let amax = c.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            let s = if amax > 0.0 { amax / 127.0 } else { 1.0 };
            c.iter().map(move |&x| ((x / s).round_ties_even().clamp(-128.0, 127.0) * s) as f64).collect::<Vec<_>>()
        })
        .collect()
}

/// Direct 2-D convolution, stride 1, batch 1: x [c, h, w], w [m, c, k, k].
fn conv_ref(x: &[f64], c: usize, h: usize, wd: usize, w: &[f64], m: usize, k: usize, pad: usize, bias: &[f64]) -> Vec<f64> {
    let (oh, ow) = (h + 2 * pad - k + 1, wd + 2 * pad - k + 1);
    let mut out = vec![0.0; m * oh * ow];
    for o in 0..m {
        for i in 0..oh {
            for j in 0..ow {
                let mut acc = bias.get(o).copied().unwrap_or(0.0);
                for ci in 0..c {
                    for ki in 0..k {
                        for kj in 0..k {
                            let (y, x_) = (i + ki, j + kj);
                            if y < pad || x_ < pad || y - pad >= h || x_ - pad >= wd {
                                continue;
                            }
                            acc += x[ci * h * wd + (y - pad) * wd + (x_ - pad)] * w[((o * c + ci) * k + ki) * k + kj];
                        }
                    }
                }
                out[(o * oh + i) * ow + j] = acc;
            }
        }
    }
    out
}

fn run(plan: &[u8], x: &Tensor) -> Vec<f32> {
    let engine = CpuEngine::load(plan).unwrap();
    let mut ctx = engine.create_context(1).unwrap();
    let out = ctx.run(&[("x".to_string(), x.clone())]).unwrap();
    out[0].1.as_f32().unwrap().to_vec()
}

#[test]
fn calibration_collects_every_float_tensor_under_its_name() {
    let plan = build_plan(&net(), &BuilderConfig { calibration: true, ..Default::default() }, &CpuBackend).unwrap();
    let engine = CpuEngine::load(&plan).unwrap();
    let mut ctx = engine.create_context(2).unwrap();
    let x = input();
    ctx.calibrate(&[("x".to_string(), x.clone())]).unwrap();
    let stats = ctx.calibration_stats();
    let names: Vec<(&str, &str)> = stats.tensors.iter().map(|t| (t.name.as_str(), t.producer.as_str())).collect();
    // Unfused: conv1's output and the relu's output are distinct tensors.
    assert_eq!(names, vec![("x", "input"), ("conv1", "convolution"), ("relu", "activation"), ("y", "convolution")]);
    let sx = stats.get("x").unwrap();
    assert_eq!(sx.amax, 2.5);
    assert_eq!(sx.bin_width, 2.5 / 2048.0);
    assert_eq!(sx.counts.iter().sum::<u64>(), 50);
    // The relu output's histogram holds every element, at least the negatives of conv1 as zeros.
    let sr = stats.get("relu").unwrap();
    let sc = stats.get("conv1").unwrap();
    assert_eq!(sr.counts.iter().sum::<u64>(), 100);
    assert!(sr.counts[0] > 0 && sr.amax <= sc.amax);
    // A second batch accumulates; reset forgets.
    ctx.calibrate(&[("x".to_string(), x)]).unwrap();
    assert_eq!(ctx.calibration_stats().get("x").unwrap().counts.iter().sum::<u64>(), 100);
    ctx.reset_calibration();
    assert!(ctx.calibration_stats().tensors.is_empty());
    // Bad feeds are coded errors, as for run.
    let e = ctx.calibrate(&[]).unwrap_err();
    assert_eq!(e.code.as_str(), "KILN_E_INVALID_INPUT");
}

#[test]
fn int8_build_matches_hand_quantized_reference() {
    let x = input();
    let xv = x.as_f32().unwrap();
    // Ranges as a calibrator would give them: x's max and the relu output's max from a float run.
    let w = weights();
    let xf: Vec<f64> = xv.iter().map(|&v| v as f64).collect();
    let b1: Vec<f64> = w.b1.iter().map(|&v| v as f64).collect();
    let relu_float: Vec<f64> = conv_ref(&xf, 2, 5, 5, &w.w1.iter().map(|&v| v as f64).collect::<Vec<_>>(), 4, 3, 1, &b1).into_iter().map(|v| v.max(0.0)).collect();
    let amax_x = 2.0f32; // below the true max: 2.5 saturates to 127
    let amax_r = (relu_float.iter().fold(0.0f64, |a, &v| a.max(v)) * 0.8) as f32;
    let mut ranges = BTreeMap::new();
    ranges.insert("x".to_string(), amax_x);
    ranges.insert("relu".to_string(), amax_r);
    ranges.insert("not_in_the_network".to_string(), 1.0);
    let config = BuilderConfig { int8: Some(Int8Config { ranges }), ..Default::default() };
    let (plan, stats) = build_plan_with_stats(&net(), &config, &CpuBackend).unwrap();
    assert_eq!((stats.int8_layers, stats.int8_missing_range), (2, 0));
    let got = run(&plan, &x);

    // Reference: quantize x, weights per channel, conv1 + bias, relu, quantize, conv2.
    let xq = fq_tensor(xv, amax_x);
    assert_eq!(xq[7], (127.0f32 * (amax_x / 127.0)) as f64); // saturated
    let h = conv_ref(&xq, 2, 5, 5, &fq_weights(&w.w1, 4), 4, 3, 1, &b1);
    let r: Vec<f32> = h.iter().map(|&v| v.max(0.0) as f32).collect();
    let rq = fq_tensor(&r, amax_r);
    let want = conv_ref(&rq, 4, 5, 5, &fq_weights(&w.w2, 3), 3, 1, 0, &[]);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert!((*g as f64 - w).abs() < 1e-4, "int8 result {g} vs reference {w}");
    }
    // And it is not simply the float result: quantization changed something.
    let float = run(&build_plan(&net(), &BuilderConfig::default(), &CpuBackend).unwrap(), &x);
    assert!(float.iter().zip(&got).any(|(a, b)| (a - b).abs() > 1e-3));
}

#[test]
fn missing_range_leaves_layer_float_and_bad_ranges_are_coded() {
    let mut ranges = BTreeMap::new();
    ranges.insert("x".to_string(), 2.5f32);
    ranges.insert("relu".to_string(), f32::INFINITY); // an uncalibrated tensor in a TensorRT cache
    let config = BuilderConfig { int8: Some(Int8Config { ranges: ranges.clone() }), ..Default::default() };
    let (_, stats) = build_plan_with_stats(&net(), &config, &CpuBackend).unwrap();
    assert_eq!((stats.int8_layers, stats.int8_missing_range), (1, 1));
    ranges.insert("relu".to_string(), -1.0);
    let e = build_plan(&net(), &BuilderConfig { int8: Some(Int8Config { ranges }), ..Default::default() }, &CpuBackend).unwrap_err();
    assert_eq!(e.code.as_str(), "KILN_E_INVALID_VALUE");
}

#[test]
fn explicit_qdq_network_builds_and_runs() {
    // x → Q (uint8, zero point 128, scale 0.5) → DQ → y, as imported from a Q/DQ ONNX model.
    let mut net = Network::new();
    let x = net.add_input("x", DType::Float32, &[4]).unwrap();
    let s = net.add_constant("s", Tensor::scalar_f32(0.5)).unwrap();
    let z = net.add_constant("z", Tensor { shape: vec![], data: TensorData::U8(vec![128]) }).unwrap();
    let q = net.add_layer("q", LayerKind::QuantizeLinear { axis: 1, saturate: true }, &[Some(x), Some(s), Some(z)]).unwrap()[0];
    assert_eq!(net.tensor(q).dtype, DType::Uint8);
    let y = net.add_layer("dq", LayerKind::DequantizeLinear { axis: 1 }, &[Some(q), Some(s), Some(z)]).unwrap()[0];
    net.mark_output(y).unwrap();
    let plan = build_plan(&net, &BuilderConfig::default(), &CpuBackend).unwrap();
    // Ranges do not quantize an explicitly quantized network a second time.
    let mut ranges = BTreeMap::new();
    ranges.insert("x".to_string(), 1.0f32);
    let (_, stats) = build_plan_with_stats(&net, &BuilderConfig { int8: Some(Int8Config { ranges }), ..Default::default() }, &CpuBackend).unwrap();
    assert_eq!((stats.int8_layers, stats.int8_missing_range), (0, 0));
    let engine = CpuEngine::load(&plan).unwrap();
    let mut ctx = engine.create_context(1).unwrap();
    let out = ctx.run(&[("x".to_string(), Tensor::from_f32(vec![4], vec![0.25, 0.75, -100.0, 100.0]).unwrap())]).unwrap();
    // 0.25/0.5 = 0.5 → 0 (even); 0.75/0.5 = 1.5 → 2; -200+128 → 0 (saturated); 200+128 → 255.
    assert_eq!(out[0].1.as_f32().unwrap(), &[0.0, 1.0, -64.0, 63.5]);
}

#[test]
fn weights_are_quantized_after_batchnorm_folding() {
    // conv → BN: the plan's convolution weights must sit on their per-channel int8 grid, which only holds
    // when BN's per-channel scale is folded in before quantization (as TensorRT does).
    let mut net = Network::new();
    let x = net.add_input("x", DType::Float32, &[1, 2, 5, 5]).unwrap();
    let w = net.add_constant("w", Tensor::from_f32(vec![4, 2, 3, 3], seeded(72, 5)).unwrap()).unwrap();
    let c = net.add_layer("conv", conv(1), &[Some(x), Some(w)]).unwrap()[0];
    let p = |name: &str, v: Vec<f32>, net: &mut Network| net.add_constant(name, Tensor::from_f32(vec![4], v).unwrap()).unwrap();
    let gamma = p("gamma", vec![1.0, 0.37, 2.3, 1.1], &mut net);
    let beta = p("beta", vec![0.1, -0.2, 0.3, 0.0], &mut net);
    let mean = p("mean", vec![0.05, -0.1, 0.2, 0.0], &mut net);
    let var = p("var", vec![1.0, 0.5, 2.0, 0.25], &mut net);
    let bn = LayerKind::Normalization { normalization: NormalizationKind::Batch { epsilon: 1e-5 } };
    let y = net.add_layer("bn", bn, &[Some(c), Some(gamma), Some(beta), Some(mean), Some(var)]).unwrap()[0];
    net.mark_output(y).unwrap();
    let mut ranges = BTreeMap::new();
    ranges.insert("x".to_string(), 1.0f32);
    let (plan, stats) = build_plan_with_stats(&net, &BuilderConfig { int8: Some(Int8Config { ranges }), ..Default::default() }, &CpuBackend).unwrap();
    assert_eq!((stats.batchnorms_folded, stats.int8_layers), (1, 1));
    let engine = CpuEngine::load(&plan).unwrap();
    let body = engine.network();
    let layer = body.layers.iter().find(|l| matches!(l.kind, LayerKind::Convolution { .. })).unwrap();
    let weights = body.tensors[layer.inputs[1].unwrap()].value.as_ref().unwrap().as_f32().unwrap();
    for channel in weights.chunks(18) {
        let s = channel.iter().fold(0.0f32, |a, v| a.max(v.abs())) / 127.0;
        for v in channel {
            let q = v / s;
            assert!((q - q.round()).abs() < 1e-3, "weight {v} is not on the int8 grid of step {s}");
        }
    }
    // The activation input is quantized at run time: a Q/DQ pair precedes the convolution.
    assert!(body.layers.iter().any(|l| matches!(l.kind, LayerKind::QuantizeLinear { .. })));
}
