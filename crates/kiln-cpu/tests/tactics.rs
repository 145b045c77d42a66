//! CPU tactics: every tactic agrees with the reference path, the builder times and caches them,
//! and a warm rebuild skips the timing.

use kiln_core::builder::{build_plan_with_report, BuilderConfig, OptimizationProfile, ShapeRange};
use kiln_core::layer::*;
use kiln_core::plan::PlanInfo;
use kiln_core::timing_cache::TimingCache;
use kiln_core::{DType, ErrorCode, Network, Tensor};
use kiln_cpu::kernels::conv::execute_tactic as conv_tactic;
use kiln_cpu::kernels::matmul::execute_tactic as matmul_tactic;
use kiln_cpu::{CpuBackend, CpuEngine};

mod common;
use common::seeded;

fn conv(pads: [usize; 4], strides: [usize; 2], groups: usize, act: Option<ActivationKind>) -> LayerKind {
    LayerKind::Convolution { strides: strides.to_vec(), pads: pads.to_vec(), dilations: vec![1, 1], groups, padding_mode: PaddingMode::Explicit, activation: act }
}

fn run(kind: &LayerKind, tactic: Option<&str>, ins: &[Option<&Tensor>]) -> Tensor {
    let shapes = kiln_core::infer_concrete(kind, ins).unwrap();
    let mut out = vec![Tensor::zeros(shapes[0].0, &shapes[0].1).unwrap()];
    match kind {
        LayerKind::Convolution { .. } => conv_tactic(kind, tactic, ins, &mut out).unwrap(),
        _ => matmul_tactic(kind, tactic, ins, &mut out).unwrap(),
    }
    out.pop().unwrap()
}

fn assert_agree(a: &Tensor, b: &Tensor, what: &str) {
    assert_eq!(a.shape, b.shape, "{what}");
    for (i, (x, y)) in a.as_f32().unwrap().iter().zip(b.as_f32().unwrap()).enumerate() {
        assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{what}: element {i}: {x} vs {y}");
    }
}

#[test]
fn winograd_matches_im2col() {
    // (N, C, H, W, M, pads): odd and even sizes, asymmetric padding, a single tile, large blocks.
    let cases: [(usize, usize, usize, usize, usize, [usize; 4]); 7] = [
        (1, 3, 7, 6, 4, [1, 1, 1, 1]),
        (2, 5, 9, 11, 3, [0, 0, 0, 0]),
        (1, 4, 8, 8, 6, [1, 0, 2, 1]),
        (1, 2, 3, 3, 2, [0, 0, 0, 0]),
        (1, 1, 5, 4, 1, [2, 2, 2, 2]),
        (3, 16, 13, 15, 8, [1, 1, 1, 1]),
        (1, 32, 30, 29, 24, [1, 1, 1, 1]),
    ];
    for (k, &(n, c, h, w, m, pads)) in cases.iter().enumerate() {
        let x = Tensor::from_f32(vec![n, c, h, w], seeded(n * c * h * w, k as u64 + 1)).unwrap();
        let wt = Tensor::from_f32(vec![m, c, 3, 3], seeded(m * c * 9, k as u64 + 100)).unwrap();
        let b = Tensor::from_f32(vec![m], seeded(m, k as u64 + 200)).unwrap();
        for (bias, act) in [(false, None), (true, Some(ActivationKind::Relu))] {
            let kind = conv(pads, [1, 1], 1, act);
            let ins = [Some(&x), Some(&wt), if bias { Some(&b) } else { None }];
            let reference = run(&kind, Some("im2col_gemm"), &ins);
            let wino = run(&kind, Some("winograd_f2x3"), &ins);
            assert_agree(&wino, &reference, &format!("case {k} bias {bias}"));
        }
    }
}

#[test]
fn other_tactics_match_reference() {
    let x = Tensor::from_f32(vec![2, 8, 9, 7], seeded(2 * 8 * 63, 1)).unwrap();
    let w1 = Tensor::from_f32(vec![12, 8, 1, 1], seeded(96, 2)).unwrap();
    let k1 = conv([0; 4], [1, 1], 1, None);
    assert_agree(&run(&k1, Some("direct_1x1"), &[Some(&x), Some(&w1)]), &run(&k1, Some("im2col_gemm"), &[Some(&x), Some(&w1)]), "direct_1x1");
    let wd = Tensor::from_f32(vec![8, 1, 3, 3], seeded(72, 3)).unwrap();
    let kd = conv([1; 4], [2, 1], 8, None);
    assert_agree(&run(&kd, Some("depthwise_direct"), &[Some(&x), Some(&wd)]), &run(&kd, Some("im2col_gemm"), &[Some(&x), Some(&wd)]), "depthwise");
    // A tactic that does not fit falls back to the heuristic (same results).
    let k3 = conv([1; 4], [2, 2], 1, None);
    let w3 = Tensor::from_f32(vec![4, 8, 3, 3], seeded(288, 4)).unwrap();
    assert_agree(&run(&k3, Some("winograd_f2x3"), &[Some(&x), Some(&w3)]), &run(&k3, None, &[Some(&x), Some(&w3)]), "fallback");
    let mm = LayerKind::MatrixMultiply { transpose_a: false, transpose_b: true, has_bias: false, activation: Some(ActivationKind::Relu) };
    let a = Tensor::from_f32(vec![6, 17, 33], seeded(6 * 17 * 33, 5)).unwrap();
    let b = Tensor::from_f32(vec![6, 19, 33], seeded(6 * 19 * 33, 6)).unwrap();
    assert_agree(&run(&mm, Some("gemm_single"), &[Some(&a), Some(&b)]), &run(&mm, Some("gemm_rayon"), &[Some(&a), Some(&b)]), "gemm_single");
    // Unknown tactic ids (e.g. from a hostile plan) are coded errors, not panics.
    let shapes = kiln_core::infer_concrete(&k1, &[Some(&x), Some(&w1)]).unwrap();
    let mut out = vec![Tensor::zeros(shapes[0].0, &shapes[0].1).unwrap()];
    assert_eq!(conv_tactic(&k1, Some("nope"), &[Some(&x), Some(&w1)], &mut out).unwrap_err().code, ErrorCode::Unsupported);
}

#[test]
fn eligibility() {
    use kiln_core::tactic::TensorSig;
    let sig = |s: &[usize], constant| Some(TensorSig { dtype: DType::Float32, shape: s.to_vec(), constant });
    let e = kiln_cpu::tactics::eligible(&conv([1; 4], [1, 1], 1, None), &[sig(&[1, 8, 16, 16], false), sig(&[8, 8, 3, 3], true)]);
    assert_eq!(e, ["im2col_gemm", "winograd_f2x3"]);
    let e = kiln_cpu::tactics::eligible(&conv([0; 4], [1, 1], 1, None), &[sig(&[1, 8, 16, 16], false), sig(&[8, 8, 1, 1], true)]);
    assert_eq!(e, ["im2col_gemm", "direct_1x1"]);
    let e = kiln_cpu::tactics::eligible(&conv([1; 4], [1, 1], 8, None), &[sig(&[1, 8, 16, 16], false), sig(&[8, 1, 3, 3], true)]);
    assert_eq!(e, ["im2col_gemm", "depthwise_direct"]);
    let mm = LayerKind::MatrixMultiply { transpose_a: false, transpose_b: false, has_bias: false, activation: None };
    assert!(kiln_cpu::tactics::eligible(&mm, &[sig(&[4, 4], false), sig(&[4, 4], true)]).is_empty());
    assert_eq!(kiln_cpu::tactics::eligible(&mm, &[sig(&[3, 4, 4], false), sig(&[4, 4], true)]), ["gemm_rayon", "gemm_single"]);
}

/// A small CNN with a dynamic batch: two identical 3×3 convs (timed once), a 1×1, a depthwise,
/// and a batched matmul.
fn cnn() -> Network {
    let mut net = Network::new();
    let x = net.add_input("x", DType::Float32, &[-1, 16, 20, 20]).unwrap();
    let add_conv = |net: &mut Network, name: &str, x, m: usize, c: usize, k: usize, groups: usize, seed| {
        let w = net.add_constant(&format!("{name}_w"), Tensor::from_f32(vec![m, c / groups, k, k], seeded(m * c / groups * k * k, seed)).unwrap()).unwrap();
        let b = net.add_constant(&format!("{name}_b"), Tensor::from_f32(vec![m], seeded(m, seed + 50)).unwrap()).unwrap();
        let pad = k / 2;
        net.add_layer(name, conv([pad; 4], [1, 1], groups, Some(ActivationKind::Relu)), &[Some(x), Some(w), Some(b)]).unwrap()[0]
    };
    let c1 = add_conv(&mut net, "c1", x, 16, 16, 3, 1, 1);
    let c2 = add_conv(&mut net, "c2", c1, 16, 16, 3, 1, 1);
    let c3 = add_conv(&mut net, "c3", c2, 32, 16, 1, 1, 2);
    let c4 = add_conv(&mut net, "c4", c3, 32, 32, 3, 32, 3);
    // The convolutions' output is compared across tactics; the fc below sums 400 terms of both signs, so
    // its output reflects cancellation, not the tactics (see `infer`).
    net.set_tensor_name(c4, "features").unwrap();
    net.mark_output(c4).unwrap();
    let shape = net_shape(&mut net);
    let r = net.add_layer("r", LayerKind::Reshape { allow_zero: false }, &[Some(c4), Some(shape)]).unwrap()[0];
    let wm = net.add_constant("wm", Tensor::from_f32(vec![400, 24], seeded(400 * 24, 9)).unwrap()).unwrap();
    let y = net.add_layer("fc", LayerKind::MatrixMultiply { transpose_a: false, transpose_b: false, has_bias: false, activation: None }, &[Some(r), Some(wm)]).unwrap()[0];
    net.set_tensor_name(y, "y").unwrap();
    net.mark_output(y).unwrap();
    net
}

fn net_shape(net: &mut Network) -> usize {
    net.add_constant("shape", Tensor::from_i64(vec![3], vec![-1, 32, 400]).unwrap()).unwrap()
}

fn config(level: Option<u8>, cache: Option<Vec<u8>>) -> BuilderConfig {
    let mut p = OptimizationProfile::default();
    p.shapes.insert("x".into(), ShapeRange { min: vec![1, 16, 20, 20], opt: vec![2, 16, 20, 20], max: vec![4, 16, 20, 20] });
    BuilderConfig { profiles: vec![p], builder_optimization_level: level, timing_cache: cache, ..Default::default() }
}

fn info(plan: &[u8]) -> PlanInfo {
    CpuEngine::load(plan).unwrap().info().clone()
}

fn tactics_of(info: &PlanInfo) -> Vec<(String, Option<String>)> {
    info.layers.iter().map(|l| (l.name.clone(), l.tactic.clone())).collect()
}

fn infer(plan: &[u8]) -> Tensor {
    let engine = CpuEngine::load(plan).unwrap();
    let mut ctx = engine.create_context(0).unwrap();
    let x = Tensor::from_f32(vec![3, 16, 20, 20], seeded(3 * 16 * 400, 77)).unwrap();
    ctx.run(&[("x".to_string(), x)]).unwrap().into_iter().find(|(n, _)| n == "features").unwrap().1
}

#[test]
fn warm_rebuild_skips_timing() {
    let net = cnn();
    let (cold_plan, cold) = build_plan_with_report(&net, &config(None, None), &CpuBackend).unwrap();
    assert_eq!(cold.builder_optimization_level, 3);
    // c1..c4 and fc are tunable; c2 has c1's signature and reuses its measurement.
    assert_eq!(cold.timing_cache.misses, 4, "{cold:?}");
    assert_eq!(cold.timing_cache.hits, 1, "{cold:?}");
    assert!(cold.tactic_time_ms > 0.0);
    let cache = TimingCache::from_bytes(&cold.updated_cache).unwrap();
    assert_eq!(cache.len(), 4);
    assert!(cache.entries.values().all(|e| e.signature.starts_with("op=") && !e.tactics.is_empty()));

    let (warm_plan, warm) = build_plan_with_report(&net, &config(None, Some(cold.updated_cache.clone())), &CpuBackend).unwrap();
    assert_eq!(warm.timing_cache.misses, 0, "{warm:?}");
    assert_eq!(warm.timing_cache.hits, 5);
    assert!(warm.tactic_time_ms * 10.0 <= cold.tactic_time_ms, "warm {} ms vs cold {} ms", warm.tactic_time_ms, cold.tactic_time_ms);
    let (ci, wi) = (info(&cold_plan), info(&warm_plan));
    assert_eq!(tactics_of(&ci), tactics_of(&wi));
    assert!(ci.layers.iter().filter(|l| l.tactic.is_some()).count() == 5, "{:?}", tactics_of(&ci));
    assert!(ci.layers.iter().filter(|l| l.tactic.is_some()).all(|l| l.tactic_time_ms.is_some()));
    assert_eq!(TimingCache::from_bytes(&warm.updated_cache).unwrap().entries, cache.entries);

    // Level 0: no timing, heuristic kernels; results agree with the tuned plan.
    let (h_plan, h) = build_plan_with_report(&net, &config(Some(0), None), &CpuBackend).unwrap();
    assert_eq!((h.timing_cache.hits, h.timing_cache.misses, h.tactic_time_ms), (0, 0, 0.0));
    assert!(info(&h_plan).layers.iter().all(|l| l.tactic.is_none()));
    let (a, b) = (infer(&cold_plan), infer(&h_plan));
    for (x, y) in a.as_f32().unwrap().iter().zip(b.as_f32().unwrap()) {
        assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{x} vs {y}");
    }
}

#[test]
fn bad_caches_are_reported_not_fatal() {
    let net = cnn();
    let (_, cold) = build_plan_with_report(&net, &config(Some(1), None), &CpuBackend).unwrap();
    let half = cold.updated_cache[..cold.updated_cache.len() / 2].to_vec();
    let (_, r) = build_plan_with_report(&net, &config(Some(1), Some(half)), &CpuBackend).unwrap();
    assert_eq!(r.timing_cache.rejected.as_deref(), Some("KILN_E_CORRUPT_CACHE"));
    assert_eq!(r.warnings.len(), 1);
    assert_eq!(r.timing_cache.misses, 4);
    // Another device's cache is not used.
    let mut foreign = TimingCache::from_bytes(&cold.updated_cache).unwrap();
    foreign.device.identity = "x86_64 Some Other CPU [avx2]".into();
    foreign.device.capability = "x86_64 [avx512f]".into();
    let (_, r) = build_plan_with_report(&net, &config(Some(1), Some(foreign.to_bytes().unwrap())), &CpuBackend).unwrap();
    assert_eq!(r.timing_cache.rejected.as_deref(), Some("KILN_E_CACHE_MISMATCH"));
    assert_eq!(r.timing_cache.hits, 1);
    // Same capability, other model, mismatch ignored: entries are used (and marked for re-timing).
    let mut sibling = TimingCache::from_bytes(&cold.updated_cache).unwrap();
    sibling.device.identity = "x86_64 Some Other CPU [same isa]".into();
    let mut cfg = config(Some(1), Some(sibling.to_bytes().unwrap()));
    cfg.ignore_timing_cache_mismatch = true;
    let (_, r) = build_plan_with_report(&net, &cfg, &CpuBackend).unwrap();
    assert_eq!((r.timing_cache.misses, r.timing_cache.rejected.clone()), (0, None));
    assert!(TimingCache::from_bytes(&r.updated_cache).unwrap().entries.values().all(|e| e.retime));
    // Level 4 re-times entries marked for re-timing.
    cfg.builder_optimization_level = Some(4);
    let (_, r) = build_plan_with_report(&net, &cfg, &CpuBackend).unwrap();
    assert_eq!(r.timing_cache.misses, 4);
    assert!(TimingCache::from_bytes(&r.updated_cache).unwrap().entries.values().all(|e| !e.retime));
    // Out-of-range level.
    let err = build_plan_with_report(&net, &config(Some(6), None), &CpuBackend).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidProfile);
}
