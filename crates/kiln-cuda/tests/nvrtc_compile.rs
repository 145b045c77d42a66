//! Every kernel Kiln can generate, plus the static library, compiles with NVRTC for Hopper. Needs
//! only libnvrtc (no GPU, no driver): `scripts/fetch-nvrtc.sh` puts the PyPI build in .cache/.

use kiln_core::dtype::DType;
use kiln_core::layer::*;
use kiln_cuda::codegen::{pointwise_kernel, PointwiseKernel};

fn all_kernels() -> Vec<PointwiseKernel> {
    let f = Some(DType::Float32);
    let h = Some(DType::Float16);
    let b = Some(DType::Bool);
    let mut ks = Vec::new();
    let mut n = 0;
    let mut add = |kind: LayerKind, ins: Vec<Option<DType>>, out: DType| {
        n += 1;
        let k = pointwise_kernel(&format!("k{n}"), &kind, &ins, out).unwrap_or_else(|| panic!("no kernel for {kind:?} {ins:?} -> {out}"));
        ks.push(k);
    };
    let acts = [
        ActivationKind::Relu,
        ActivationKind::Sigmoid,
        ActivationKind::Tanh,
        ActivationKind::LeakyRelu { alpha: 0.1 },
        ActivationKind::Elu { alpha: 1.0 },
        ActivationKind::Selu { alpha: 1.67, gamma: 1.05 },
        ActivationKind::Celu { alpha: 1.0 },
        ActivationKind::Softplus,
        ActivationKind::Softsign,
        ActivationKind::HardSigmoid { alpha: 0.2, beta: 0.5 },
        ActivationKind::HardSwish,
        ActivationKind::ThresholdedRelu { alpha: 1.0 },
        ActivationKind::ScaledTanh { alpha: 1.0, beta: 1.0 },
        ActivationKind::Clip { min: f32::NEG_INFINITY, max: 6.0 },
        ActivationKind::Gelu { tanh: false },
        ActivationKind::Gelu { tanh: true },
        ActivationKind::Mish,
        ActivationKind::Shrink { bias: 0.0, lambd: 0.5 },
    ];
    for a in acts {
        add(LayerKind::Activation { activation: a.clone() }, vec![f], DType::Float32);
        add(LayerKind::Activation { activation: a }, vec![h], DType::Float16);
    }
    use UnaryOp::*;
    for op in [Abs, Neg, Exp, Log, Sqrt, Reciprocal, Floor, Ceil, Round, Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh, Erf, Sign] {
        add(LayerKind::Unary { op, detect_positive: true, detect_negative: true }, vec![f], DType::Float32);
    }
    add(LayerKind::Unary { op: IsNan, detect_positive: true, detect_negative: true }, vec![f], DType::Bool);
    add(LayerKind::Unary { op: IsInf, detect_positive: true, detect_negative: false }, vec![f], DType::Bool);
    add(LayerKind::Unary { op: Not, detect_positive: true, detect_negative: true }, vec![b], DType::Bool);
    use ElementWiseOp as E;
    for op in [E::Add, E::Sub, E::Mul, E::Div, E::Pow, E::Max, E::Min, E::Mod, E::Fmod, E::PRelu] {
        add(LayerKind::ElementWise { op }, vec![f, f], DType::Float32);
        add(LayerKind::ElementWise { op }, vec![h, h], DType::Float16);
    }
    for op in [E::Equal, E::Greater, E::GreaterOrEqual, E::Less, E::LessOrEqual] {
        add(LayerKind::ElementWise { op }, vec![f, f], DType::Bool);
    }
    for op in [E::And, E::Or, E::Xor] {
        add(LayerKind::ElementWise { op }, vec![b, b], DType::Bool);
    }
    add(LayerKind::Select, vec![b, f, f], DType::Float32);
    for (from, to) in [(DType::Float32, DType::Float16), (DType::Float16, DType::Float32), (DType::Int64, DType::Float32), (DType::Float32, DType::Int64), (DType::Float32, DType::Bool), (DType::Int32, DType::Int64), (DType::Uint8, DType::Float16), (DType::Bool, DType::Float32)] {
        add(LayerKind::Cast { to }, vec![Some(from)], to);
    }
    // Per-tensor quantization: float32/float16 in, int8/uint8 out (with and without a zero point),
    // and dequantization from int8/uint8/int32 to float32 or float16.
    let (i8_, u8_, i32_) = (Some(DType::Int8), Some(DType::Uint8), Some(DType::Int32));
    add(LayerKind::QuantizeLinear { axis: 1, saturate: true }, vec![f, f, i8_], DType::Int8);
    add(LayerKind::QuantizeLinear { axis: 1, saturate: true }, vec![h, f, u8_], DType::Uint8);
    add(LayerKind::QuantizeLinear { axis: 1, saturate: true }, vec![h, f], DType::Uint8);
    add(LayerKind::DequantizeLinear { axis: 1 }, vec![i8_, f, i8_], DType::Float32);
    add(LayerKind::DequantizeLinear { axis: 1 }, vec![i8_, h], DType::Float16);
    add(LayerKind::DequantizeLinear { axis: 1 }, vec![u8_, f, u8_], DType::Float32);
    add(LayerKind::DequantizeLinear { axis: 1 }, vec![i32_, f], DType::Float32);
    add(
        LayerKind::PointwiseChain {
            steps: vec![
                PointwiseStep::Binary { op: E::Add, operand: 1, swapped: false },
                PointwiseStep::Activation { activation: ActivationKind::Relu },
                PointwiseStep::Binary { op: E::Sub, operand: 2, swapped: true },
                PointwiseStep::Unary { op: Exp },
            ],
        },
        vec![h, h, f],
        DType::Float16,
    );
    ks.push(kiln_cuda::codegen::fake_quant_kernel("fq_f16", DType::Float16, DType::Float16, (0.02, 0.0, -128.0, 127.0), (0.02, 0.0)).unwrap());
    ks.push(kiln_cuda::codegen::fake_quant_kernel("fq_f32", DType::Float32, DType::Float16, (0.5, 3.0, 0.0, 255.0), (0.5, 3.0)).unwrap());
    ks
}

#[test]
fn every_generated_kernel_and_the_library_compile_for_sm_90() {
    // SAFETY: a probe.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        eprintln!("SKIPPED: libnvrtc is not on the library path (scripts/fetch-nvrtc.sh fetches it and prints the folder to put on LD_LIBRARY_PATH; scripts/test.sh does both)");
        return;
    }
    let ks = all_kernels();
    let src = kiln_cuda::kernels::plan_source(&ks);
    let cubin = kiln_cuda::nvrtc::compile(&src, "sm_90").unwrap_or_else(|e| panic!("{}", e.message));
    assert!(cubin.starts_with(b"\x7fELF"), "NVRTC returned a cubin (ELF)");
    // Every kernel a plan resolves at load (the calibration scans included) is in the cubin's symbol table.
    for k in kiln_cuda::kernels::LIBRARY_KERNELS {
        assert!(cubin.windows(k.len() + 1).any(|w| &w[..k.len()] == k.as_bytes() && w[k.len()] == 0), "library kernel {k} is missing from the cubin");
    }
    // Every pointwise kernel but the casts has its 8-wide vector variant too.
    let has = |name: &str| cubin.windows(name.len() + 1).any(|w| &w[..name.len()] == name.as_bytes() && w[name.len()] == 0);
    let vectorized: Vec<&str> = ks.iter().filter(|k| k.vectorized).map(|k| k.name.as_str()).collect();
    assert!(vectorized.len() + 8 >= ks.len(), "only {} of {} kernels are vectorized", vectorized.len(), ks.len());
    for name in &vectorized {
        assert!(has(&format!("{name}_v")), "vector kernel {name}_v is missing from the cubin");
    }
    eprintln!("compiled {} generated kernels ({} with vector variants) + the library: {} bytes of cubin", ks.len(), vectorized.len(), cubin.len());
}
