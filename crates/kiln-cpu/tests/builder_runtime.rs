//! Builder + runtime behaviour on the CPU backend: fusions happen, results are unchanged by them
//! (checked against a direct, unfused layer-by-layer evaluation written here), plans round-trip,
//! and damaged or foreign plans fail with coded errors.

use kiln_core::builder::{build_plan, build_plan_with_stats, BuilderConfig, OptimizationProfile, ShapeRange};
use kiln_core::layer::*;
use kiln_core::plan::read_header;
use kiln_core::{DType, ErrorCode, Network, Tensor, TensorData};
use kiln_cpu::{CpuBackend, CpuEngine};

mod common;
use common::seeded;

fn conv_kind() -> LayerKind {
    LayerKind::Convolution { strides: vec![1, 1], pads: vec![1, 1, 1, 1], dilations: vec![], groups: 1, padding_mode: PaddingMode::Explicit, activation: None }
}

/// input [N,3,8,8] → conv 3x3 (4 ch) → BN → relu → add per-channel const → reshape/flatten → matmul → add bias → sigmoid → mul 2
fn small_net(batch: i64) -> Network {
    let mut net = Network::new();
    let x = net.add_input("x", DType::Float32, &[batch, 3, 8, 8]).unwrap();
    let w = net.add_constant("w", Tensor::from_f32(vec![4, 3, 3, 3], seeded(108, 1)).unwrap()).unwrap();
    let c = net.add_layer("conv", conv_kind(), &[Some(x), Some(w)]).unwrap()[0];
    let p = |name: &str, v: Vec<f32>, net: &mut Network| net.add_constant(name, Tensor::from_f32(vec![4], v).unwrap()).unwrap();
    let gamma = p("gamma", vec![1.0, 0.5, 2.0, 1.5], &mut net);
    let beta = p("beta", vec![0.1, -0.2, 0.3, 0.0], &mut net);
    let mean = p("mean", vec![0.05, -0.1, 0.2, 0.0], &mut net);
    let var = p("var", vec![1.0, 0.5, 2.0, 0.25], &mut net);
    let bn = net
        .add_layer("bn", LayerKind::Normalization { normalization: NormalizationKind::Batch { epsilon: 1e-5 } }, &[Some(c), Some(gamma), Some(beta), Some(mean), Some(var)])
        .unwrap()[0];
    let r = net.add_layer("relu", LayerKind::Activation { activation: ActivationKind::Relu }, &[Some(bn)]).unwrap()[0];
    let shift = net.add_constant("shift", Tensor::from_f32(vec![1, 4, 1, 1], vec![0.5, -0.5, 0.25, 0.0]).unwrap()).unwrap();
    let a = net.add_layer("shift_add", LayerKind::ElementWise { op: ElementWiseOp::Add }, &[Some(r), Some(shift)]).unwrap()[0];
    let f = net.add_layer("flatten", LayerKind::Flatten { axis: 1 }, &[Some(a)]).unwrap()[0];
    let wm = net.add_constant("wm", Tensor::from_f32(vec![256, 5], seeded(1280, 2)).unwrap()).unwrap();
    let m = net.add_layer("fc", LayerKind::MatrixMultiply { transpose_a: false, transpose_b: false, has_bias: false, activation: None }, &[Some(f), Some(wm)]).unwrap()[0];
    let b = net.add_constant("fc_bias", Tensor::from_f32(vec![5], vec![0.1, 0.2, 0.3, 0.4, 0.5]).unwrap()).unwrap();
    let mb = net.add_layer("fc_bias_add", LayerKind::ElementWise { op: ElementWiseOp::Add }, &[Some(m), Some(b)]).unwrap()[0];
    let s = net.add_layer("sigmoid", LayerKind::Activation { activation: ActivationKind::Sigmoid }, &[Some(mb)]).unwrap()[0];
    let two = net.add_constant("two", Tensor::scalar_f32(2.0)).unwrap();
    let y = net.add_layer("double", LayerKind::ElementWise { op: ElementWiseOp::Mul }, &[Some(s), Some(two)]).unwrap()[0];
    let e = net.add_layer("exp", LayerKind::Unary { op: UnaryOp::Exp, detect_positive: true, detect_negative: true }, &[Some(y)]).unwrap()[0];
    net.set_tensor_name(e, "y").unwrap();
    net.mark_output(e).unwrap();
    net
}

/// Evaluates the network layer by layer with the kernels, no optimizer involved.
fn evaluate_unoptimized(net: &Network, x: &Tensor) -> Tensor {
    let mut values: Vec<Option<Tensor>> = net.tensors.iter().map(|t| t.value.clone()).collect();
    values[net.inputs[0]] = Some(x.clone());
    for layer in &net.layers {
        let ins: Vec<Option<&Tensor>> = layer.inputs.iter().map(|id| id.map(|id| values[id].as_ref().unwrap())).collect();
        let shapes = kiln_core::infer_concrete(&layer.kind, &ins).unwrap();
        let mut outs: Vec<Tensor> = shapes.iter().map(|(d, s)| Tensor::zeros(*d, s).unwrap()).collect();
        kiln_cpu::execute(&layer.kind, &ins, &mut outs).unwrap();
        for (&o, t) in layer.outputs.iter().zip(outs) {
            values[o] = Some(t);
        }
    }
    values[net.outputs[0]].clone().unwrap()
}

fn input(batch: usize) -> Tensor {
    Tensor::from_f32(vec![batch, 3, 8, 8], seeded(batch * 192, 7)).unwrap()
}

fn assert_close(a: &Tensor, b: &Tensor) {
    assert_eq!(a.shape, b.shape);
    for (x, y) in a.as_f32().unwrap().iter().zip(b.as_f32().unwrap()) {
        assert!((x - y).abs() <= 1e-5 + 1e-4 * y.abs(), "{x} vs {y}");
    }
}

#[test]
fn fusions_apply_and_preserve_results() {
    let net = small_net(2);
    let (plan, stats) = build_plan_with_stats(&net, &BuilderConfig::default(), &CpuBackend).unwrap();
    assert_eq!(stats.batchnorms_folded, 1, "{stats:?}");
    assert_eq!(stats.biases_fused, 1, "{stats:?}"); // the fc bias; the shift add follows the relu, so it is no bias
    assert!(stats.activations_fused >= 2, "{stats:?}");
    assert_eq!(stats.pointwise_chains, 1, "{stats:?}");
    let engine = CpuEngine::load(&plan).unwrap();
    let info = engine.info();
    assert!(info.layers.iter().any(|l| l.fused_from == ["conv", "bn", "relu"] || l.fused_from.starts_with(&["conv".to_string(), "bn".to_string()])), "{:?}", info.layers);
    assert!(info.arena_bytes <= info.unshared_activation_bytes);
    let mut ctx = engine.create_context(2).unwrap();
    let x = input(2);
    let out = ctx.run(&[("x".to_string(), x.clone())]).unwrap();
    assert_eq!(out[0].0, "y");
    assert_close(&out[0].1, &evaluate_unoptimized(&net, &x));
    // Repeated runs reuse buffers and give the same result.
    let again = ctx.run(&[("x".to_string(), x)]).unwrap();
    assert_eq!(out[0].1, again[0].1);
}

#[test]
fn dynamic_batch_within_profile() {
    let net = small_net(-1);
    let mut profile = OptimizationProfile::default();
    profile.shapes.insert("x".into(), ShapeRange { min: vec![1, 3, 8, 8], opt: vec![2, 3, 8, 8], max: vec![4, 3, 8, 8] });
    let plan = build_plan(&net, &BuilderConfig { profiles: vec![profile], ..Default::default() }, &CpuBackend).unwrap();
    let engine = CpuEngine::load(&plan).unwrap();
    let mut ctx = engine.create_context(1).unwrap();
    for batch in [1, 3, 4] {
        let x = input(batch);
        let out = ctx.run(&[("x".to_string(), x.clone())]).unwrap();
        assert_close(&out[0].1, &evaluate_unoptimized(&small_net(batch as i64), &x));
    }
    let err = ctx.run(&[("x".to_string(), input(5))]).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert!(err.message.contains("outside every optimization profile"), "{}", err.message);
}

#[test]
fn dynamic_input_without_profile_is_refused() {
    let err = build_plan(&small_net(-1), &BuilderConfig::default(), &CpuBackend).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidProfile);
    assert!(err.message.contains("'x'"));
}

#[test]
fn wrong_inputs_get_coded_errors() {
    let plan = build_plan(&small_net(1), &BuilderConfig::default(), &CpuBackend).unwrap();
    let engine = CpuEngine::load(&plan).unwrap();
    let mut ctx = engine.create_context(1).unwrap();
    let cases = [
        vec![],
        vec![("nope".to_string(), input(1))],
        vec![("x".to_string(), Tensor::new(vec![1, 3, 8, 8], TensorData::F64(vec![0.0; 192])).unwrap())],
        vec![("x".to_string(), input(2))],
    ];
    for feeds in cases {
        assert_eq!(ctx.run(&feeds).unwrap_err().code, ErrorCode::InvalidInput);
    }
}

#[test]
fn damaged_and_foreign_plans_are_refused() {
    let plan = build_plan(&small_net(1), &BuilderConfig::default(), &CpuBackend).unwrap();
    assert_eq!(read_header(&plan).unwrap().backend, "cpu");
    for cut in [0, 4, 10, 20, plan.len() / 2, plan.len() - 1] {
        let err = CpuEngine::load(&plan[..cut]).err().unwrap();
        assert_eq!(err.code, ErrorCode::CorruptPlan, "cut {cut}: {}", err.message);
    }
    let mut flipped = plan.clone();
    let mid = plan.len() / 2;
    flipped[mid] ^= 0x40;
    let err = CpuEngine::load(&flipped).err().unwrap();
    assert_eq!(err.code, ErrorCode::CorruptPlan);
    assert!(err.message.contains("checksum"));
    // Same bytes, other device: re-frame the plan with a different device in the header.
    let foreign = reframe(&plan, |h| h.replace("\"device\":\"", "\"device\":\"another "));
    let err = CpuEngine::load(&foreign).err().unwrap();
    assert_eq!(err.code, ErrorCode::PlanMismatch);
    assert!(err.message.contains("another"), "{}", err.message);
    let foreign = reframe(&plan, |h| h.replace("\"backend\":\"cpu\"", "\"backend\":\"cuda\""));
    let err = CpuEngine::load(&foreign).err().unwrap();
    assert_eq!(err.code, ErrorCode::PlanMismatch);
    assert!(err.message.contains("'cuda'"), "{}", err.message);
}

/// Rewrites the JSON header of a plan and recomputes lengths and checksum.
fn reframe(plan: &[u8], edit: impl Fn(&str) -> String) -> Vec<u8> {
    let hlen = u32::from_le_bytes(plan[12..16].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&plan[16..16 + hlen]).unwrap();
    let new_header = edit(header);
    let mut out = plan[..12].to_vec();
    out.extend_from_slice(&(new_header.len() as u32).to_le_bytes());
    out.extend_from_slice(new_header.as_bytes());
    out.extend_from_slice(&plan[16 + hlen..plan.len() - 4]);
    let crc = crc32fast_hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn crc32fast_hash(bytes: &[u8]) -> u32 {
    // CRC-32 (IEEE), bitwise: independent of the implementation under test.
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn shape_subgraph_folds_with_static_shapes() {
    // x → Shape → Gather(0) → Unsqueeze → Concat([-1]) → Reshape(x): a dynamic-batch flatten.
    let mut net = Network::new();
    let x = net.add_input("x", DType::Float32, &[-1, 2, 3]).unwrap();
    let s = net.add_layer("shape", LayerKind::Shape { start: None, end: None }, &[Some(x)]).unwrap()[0];
    let zero = net.add_constant("zero", Tensor::new(vec![], TensorData::I64(vec![0])).unwrap()).unwrap();
    let n = net.add_layer("gather", LayerKind::Gather { axis: 0 }, &[Some(s), Some(zero)]).unwrap()[0];
    let n1 = net.add_layer("unsq", LayerKind::Unsqueeze { axes: vec![0] }, &[Some(n)]).unwrap()[0];
    let m1 = net.add_constant("m1", Tensor::from_i64(vec![1], vec![-1]).unwrap()).unwrap();
    let shape = net.add_layer("concat", LayerKind::Concatenation { axis: 0 }, &[Some(n1), Some(m1)]).unwrap()[0];
    let y = net.add_layer("reshape", LayerKind::Reshape { allow_zero: false }, &[Some(x), Some(shape)]).unwrap()[0];
    net.mark_output(y).unwrap();
    let mut fixed = OptimizationProfile::default();
    fixed.shapes.insert("x".into(), ShapeRange { min: vec![3, 2, 3], opt: vec![3, 2, 3], max: vec![3, 2, 3] });
    let (plan, stats) = build_plan_with_stats(&net, &BuilderConfig { profiles: vec![fixed], ..Default::default() }, &CpuBackend).unwrap();
    assert_eq!(stats.folded, 4, "{stats:?}");
    let engine = CpuEngine::load(&plan).unwrap();
    assert_eq!(engine.info().layers.len(), 1, "{:?}", engine.info().layers);
    let out = engine.create_context(1).unwrap().run(&[("x".into(), Tensor::from_f32(vec![3, 2, 3], (0..18).map(|v| v as f32).collect()).unwrap())]).unwrap();
    assert_eq!(out[0].1.shape, vec![3, 6]);
    // With a dynamic profile the subgraph stays and runs at run time.
    let mut dynamic = OptimizationProfile::default();
    dynamic.shapes.insert("x".into(), ShapeRange { min: vec![1, 2, 3], opt: vec![2, 2, 3], max: vec![8, 2, 3] });
    let plan = build_plan(&net, &BuilderConfig { profiles: vec![dynamic], ..Default::default() }, &CpuBackend).unwrap();
    let engine = CpuEngine::load(&plan).unwrap();
    assert!(engine.info().arena_bytes > 0);
    let out = engine.create_context(1).unwrap().run(&[("x".into(), Tensor::from_f32(vec![5, 2, 3], vec![1.0; 30]).unwrap())]).unwrap();
    assert_eq!(out[0].1.shape, vec![5, 6]);
}
