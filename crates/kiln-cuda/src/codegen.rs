//! CUDA C generation for pointwise layers: activations, unary and binary ops, casts, select, and
//! the optimizer's fused chains become one kernel each, with the formulas inlined (as TensorRT's
//! pointwise fusion does with its runtime-compiled kernels). Formulas mirror kiln-cpu's
//! `pointwise_ops.rs`, which is the ONNX reference semantics.
//!
//! Every generated kernel has the signature `kernel(PwArgs a)` (see `kernels::PwArgs`): up to 8
//! inputs, each with its own broadcast strides over the output's shape (rank <= 8).

use kiln_core::dtype::DType;
use kiln_core::layer::{ActivationKind, ElementWiseOp, LayerKind, PointwiseStep, UnaryOp};

pub const MAX_INPUTS: usize = 8;

/// A C float literal that round-trips `v`.
pub fn lit(v: f32) -> String {
    if v.is_nan() {
        "kiln_nan()".into()
    } else if v.is_infinite() {
        if v > 0.0 { "kiln_inf()".into() } else { "(-kiln_inf())".into() }
    } else {
        format!("({:e}f)", v)
    }
}

/// The C storage type of a dtype on the GPU, if generated kernels handle it.
pub fn c_type(dtype: DType) -> Option<&'static str> {
    Some(match dtype {
        DType::Float32 => "float",
        DType::Float16 => "kiln_half",
        DType::Int8 => "signed char",
        DType::Uint8 => "unsigned char",
        DType::Int32 => "int",
        DType::Int64 => "long long",
        DType::Bool => "unsigned char",
        _ => return None,
    })
}

pub fn activation_expr(act: &ActivationKind, x: &str) -> String {
    use ActivationKind::*;
    match *act {
        Relu => format!("({x} < 0.0f ? 0.0f : {x})"),
        Sigmoid => format!("ksigmoid({x})"),
        Tanh => format!("tanhf({x})"),
        LeakyRelu { alpha } => format!("({x} < 0.0f ? {x} * {} : {x})", lit(alpha)),
        Elu { alpha } => format!("({x} < 0.0f ? {} * expm1f({x}) : {x})", lit(alpha)),
        Selu { alpha, gamma } => format!("({x} > 0.0f ? {g} * {x} : {g} * {a} * expm1f({x}))", g = lit(gamma), a = lit(alpha)),
        Celu { alpha } => format!("(fmaxf({x}, 0.0f) + fminf(0.0f, {a} * expm1f({x} / {a})))", a = lit(alpha)),
        Softplus => format!("ksoftplus({x})"),
        Softsign => format!("({x} / (1.0f + fabsf({x})))"),
        HardSigmoid { alpha, beta } => format!("kclamp01({} * {x} + {})", lit(alpha), lit(beta)),
        HardSwish => format!("({x} * kclamp01({x} / 6.0f + 0.5f))"),
        ThresholdedRelu { alpha } => format!("({x} > {} ? {x} : 0.0f)", lit(alpha)),
        ScaledTanh { alpha, beta } => format!("({} * tanhf({} * {x}))", lit(alpha), lit(beta)),
        Clip { min, max } => format!("({x} < {lo} ? {lo} : ({x} > {hi} ? {hi} : {x}))", lo = lit(min), hi = lit(max)),
        Gelu { tanh: true } => format!("(0.5f * {x} * (1.0f + tanhf(0.7978845608028654f * ({x} + 0.044715f * {x} * {x} * {x}))))"),
        Gelu { tanh: false } => format!("(0.5f * {x} * (1.0f + erff({x} * 0.7071067811865476f)))"),
        Mish => format!("({x} * tanhf(ksoftplus({x})))"),
        Shrink { bias, lambd } => format!("({x} < -{l} ? {x} + {b} : ({x} > {l} ? {x} - {b} : 0.0f))", l = lit(lambd), b = lit(bias)),
    }
}

/// Float unary ops; `None` for ops on other dtypes (Not, BitwiseNot) and the bool-valued ones
/// (IsNan/IsInf, handled by `bool_unary_expr`).
pub fn unary_expr(op: UnaryOp, x: &str) -> Option<String> {
    use UnaryOp::*;
    Some(match op {
        Abs => format!("fabsf({x})"),
        Neg => format!("(-{x})"),
        Exp => format!("expf({x})"),
        Log => format!("logf({x})"),
        Sqrt => format!("sqrtf({x})"),
        Reciprocal => format!("(1.0f / {x})"),
        Floor => format!("floorf({x})"),
        Ceil => format!("ceilf({x})"),
        Round => format!("rintf({x})"),
        Sin => format!("sinf({x})"),
        Cos => format!("cosf({x})"),
        Tan => format!("tanf({x})"),
        Asin => format!("asinf({x})"),
        Acos => format!("acosf({x})"),
        Atan => format!("atanf({x})"),
        Sinh => format!("sinhf({x})"),
        Cosh => format!("coshf({x})"),
        Asinh => format!("asinhf({x})"),
        Acosh => format!("acoshf({x})"),
        Atanh => format!("atanhf({x})"),
        Erf => format!("erff({x})"),
        Sign => format!("ksign({x})"),
        Not | IsNan | IsInf | BitwiseNot => return None,
    })
}

/// Float binary arithmetic; `None` for comparisons, logic and bitwise ops.
pub fn binary_expr(op: ElementWiseOp, a: &str, b: &str) -> Option<String> {
    use ElementWiseOp::*;
    Some(match op {
        Add => format!("({a} + {b})"),
        Sub => format!("({a} - {b})"),
        Mul => format!("({a} * {b})"),
        Div => format!("({a} / {b})"),
        Pow => format!("kpow({a}, {b})"),
        Max => format!("kmax({a}, {b})"),
        Min => format!("kmin({a}, {b})"),
        Mod => format!("kmod({a}, {b})"),
        Fmod => format!("fmodf({a}, {b})"),
        PRelu => format!("({a} < 0.0f ? {a} * {b} : {a})"),
        _ => return None,
    })
}

pub fn compare_expr(op: ElementWiseOp, a: &str, b: &str) -> Option<String> {
    use ElementWiseOp::*;
    let sym = match op {
        Equal => "==",
        Greater => ">",
        GreaterOrEqual => ">=",
        Less => "<",
        LessOrEqual => "<=",
        _ => return None,
    };
    Some(format!("({a} {sym} {b})"))
}

/// A pointwise layer the GPU runs as a generated kernel: its C body and the dtypes it reads/writes.
pub struct PointwiseKernel {
    pub name: String,
    pub source: String,
    /// It also has `{name}_v`: 8 elements per thread with 16-byte loads and stores, for launches where
    /// every input is laid out like the output (see `vectorized`).
    pub vectorized: bool,
}

/// Elements per thread of the `_v` kernels.
pub const VECTOR: usize = 8;

/// The body (statements computing `out` from `v0..vk`) of a pointwise layer whose inputs have
/// `in_dtypes` and whose output has `out_dtype`; `None` if the GPU kernels do not cover it (the
/// layer then runs on the host).
fn body(kind: &LayerKind, in_dtypes: &[Option<DType>], out_dtype: DType) -> Option<String> {
    let float = |d: Option<DType>| matches!(d, Some(DType::Float32 | DType::Float16));
    let out_float = matches!(out_dtype, DType::Float32 | DType::Float16);
    match kind {
        LayerKind::Activation { activation } if float(in_dtypes[0]) && out_float => Some(format!("float r = {};", activation_expr(activation, "v0"))),
        LayerKind::Unary { op, detect_positive, detect_negative } => match op {
            UnaryOp::IsNan if float(in_dtypes[0]) => Some("float r = (v0 != v0) ? 1.0f : 0.0f;".into()),
            UnaryOp::IsInf if float(in_dtypes[0]) => {
                let pos = if *detect_positive { "v0 == kiln_inf()" } else { "false" };
                let neg = if *detect_negative { "v0 == -kiln_inf()" } else { "false" };
                Some(format!("float r = ({pos} || {neg}) ? 1.0f : 0.0f;"))
            }
            UnaryOp::Not if in_dtypes[0] == Some(DType::Bool) => Some("float r = v0 != 0.0f ? 0.0f : 1.0f;".into()),
            _ if float(in_dtypes[0]) && out_float => unary_expr(*op, "v0").map(|e| format!("float r = {e};")),
            _ => None,
        },
        LayerKind::ElementWise { op } => {
            let both = in_dtypes.len() == 2;
            if !both {
                return None;
            }
            if float(in_dtypes[0]) && float(in_dtypes[1]) {
                if out_float {
                    return binary_expr(*op, "v0", "v1").map(|e| format!("float r = {e};"));
                }
                return compare_expr(*op, "v0", "v1").map(|e| format!("float r = {e} ? 1.0f : 0.0f;"));
            }
            if in_dtypes[0] == Some(DType::Bool) && in_dtypes[1] == Some(DType::Bool) {
                let e = match op {
                    ElementWiseOp::And => "(v0 != 0.0f) && (v1 != 0.0f)",
                    ElementWiseOp::Or => "(v0 != 0.0f) || (v1 != 0.0f)",
                    ElementWiseOp::Xor => "(v0 != 0.0f) != (v1 != 0.0f)",
                    ElementWiseOp::Equal => "v0 == v1",
                    _ => return None,
                };
                return Some(format!("float r = ({e}) ? 1.0f : 0.0f;"));
            }
            None
        }
        LayerKind::Select if in_dtypes.len() == 3 && in_dtypes[0] == Some(DType::Bool) && float(in_dtypes[1]) && float(in_dtypes[2]) => {
            Some("float r = v0 != 0.0f ? v1 : v2;".into())
        }
        LayerKind::Identity if float(in_dtypes[0]) => Some("float r = v0;".into()),
        // Per-tensor quantization (the caller checks that the scale has one element). As kiln-cpu's
        // quant.rs: x / scale (not x * (1/scale)) rounded half to even (rintf in the default rounding
        // mode), plus the zero point, saturated; NaN gives the zero point.
        LayerKind::QuantizeLinear { .. } if float(in_dtypes[0]) && float(in_dtypes[1]) => {
            let (lo, hi) = match out_dtype {
                DType::Int8 => (-128, 127),
                DType::Uint8 => (0, 255),
                _ => return None,
            };
            let zp = if in_dtypes.len() > 2 { "v2" } else { "0.0f" };
            Some(format!("float r = rintf(v0 / v1) + {zp};\n      r = (r != r) ? {zp} : fminf(fmaxf(r, {lo}.0f), {hi}.0f);"))
        }
        // (x - zero_point) * scale in f32, rounded once into the output (the scale's dtype).
        LayerKind::DequantizeLinear { .. } if matches!(in_dtypes[0], Some(DType::Int8 | DType::Uint8 | DType::Int32)) && float(in_dtypes[1]) && out_float => {
            let zp = if in_dtypes.len() > 2 { "v2" } else { "0.0f" };
            Some(format!("float r = (v0 - {zp}) * v1;"))
        }
        LayerKind::PointwiseChain { steps } if float(in_dtypes[0]) && in_dtypes[1..].iter().all(|d| float(*d)) && out_float => {
            let mut s = String::from("float acc = v0;\n");
            for step in steps {
                let e = match step {
                    PointwiseStep::Activation { activation } => activation_expr(activation, "acc"),
                    PointwiseStep::Unary { op } => unary_expr(*op, "acc")?,
                    PointwiseStep::Binary { op, operand, swapped } => {
                        if *operand >= in_dtypes.len() {
                            return None;
                        }
                        let o = format!("v{operand}");
                        if *swapped { binary_expr(*op, &o, "acc")? } else { binary_expr(*op, "acc", &o)? }
                    }
                };
                s += &format!("      acc = {e};\n");
            }
            s += "      float r = acc;";
            Some(s)
        }
        _ => None,
    }
}

/// Which dtypes a generated Cast kernel handles on both sides.
fn castable(d: DType) -> bool {
    c_type(d).is_some()
}

/// Generates the kernel for a pointwise layer, or `None` when the layer is not pointwise or a
/// dtype/op is outside what the generated kernels cover.
pub fn pointwise_kernel(name: &str, kind: &LayerKind, in_dtypes: &[Option<DType>], out_dtype: DType) -> Option<PointwiseKernel> {
    if in_dtypes.is_empty() || in_dtypes.len() > MAX_INPUTS || in_dtypes.iter().any(|d| d.is_none()) {
        return None;
    }
    let out_t = c_type(out_dtype)?;
    let (loads, compute, store);
    if let LayerKind::Cast { to } = kind {
        let from = in_dtypes[0]?;
        if !castable(from) || !castable(*to) || *to != out_dtype {
            return None;
        }
        loads = String::new();
        // Casts keep integer precision: integers go through long long, floats through float;
        // casting to bool tests for non-zero, and float -> int truncates toward zero as ONNX does.
        let src = match from {
            DType::Float16 => "h2f(((const kiln_half*)a.in[0])[o0])".to_string(),
            _ => format!("(({} const*)a.in[0])[o0]", c_type(from)?),
        };
        let value = match (*to, from.is_float()) {
            (DType::Bool, _) => format!("(unsigned char)(({src}) != 0)"),
            (DType::Float16, _) => format!("f2h((float)({src}))"),
            (DType::Float32, _) => format!("(float)({src})"),
            (t, true) => format!("({})(long long)({src})", c_type(t)?),
            (t, false) => format!("({})({src})", c_type(t)?),
        };
        compute = String::new();
        store = format!("((({out_t}*)a.out))[i] = {value};");
    } else {
        let b = body(kind, in_dtypes, out_dtype)?;
        let mut l = String::new();
        for (k, d) in in_dtypes.iter().enumerate() {
            let d = d.unwrap();
            let e = match d {
                DType::Float32 => format!("((const float*)a.in[{k}])[o{k}]"),
                DType::Float16 => format!("h2f(((const kiln_half*)a.in[{k}])[o{k}])"),
                DType::Bool | DType::Uint8 => format!("(float)(((const unsigned char*)a.in[{k}])[o{k}])"),
                // Integer loads exist for Q/DQ (`body` admits integer inputs nowhere else).
                DType::Int8 => format!("(float)(((const signed char*)a.in[{k}])[o{k}])"),
                DType::Int32 => format!("(float)(((const int*)a.in[{k}])[o{k}])"),
                _ => return None,
            };
            l += &format!("      float v{k} = {e};\n");
        }
        loads = l;
        compute = b;
        store = match out_dtype {
            DType::Float32 => "((float*)a.out)[i] = r;".to_string(),
            DType::Float16 => "((kiln_half*)a.out)[i] = f2h(r);".to_string(),
            DType::Bool => "((unsigned char*)a.out)[i] = r != 0.0f ? 1 : 0;".to_string(),
            // Quantized values, already rounded and saturated by the body.
            DType::Int8 => "((signed char*)a.out)[i] = (signed char)r;".to_string(),
            DType::Uint8 => "((unsigned char*)a.out)[i] = (unsigned char)r;".to_string(),
            _ => return None,
        };
    }
    let mut k = assemble(name, in_dtypes.len(), &loads, &compute, &store);
    if !matches!(kind, LayerKind::Cast { .. }) {
        let ins: Vec<DType> = in_dtypes.iter().map(|d| d.unwrap()).collect();
        if let Some(v) = vectorized(name, &ins, out_dtype, &compute) {
            k.source += &v;
            k.vectorized = true;
        }
    }
    Some(k)
}

/// DequantizeLinear(QuantizeLinear(x)) in one kernel, per-tensor, with the scales and zero points
/// baked in as literals (one input, so the runtime takes the contiguous fast path): exactly the two
/// layers' arithmetic (see `body`) without the int8 tensor between them. Used where no INT8 kernel
/// reads the quantized tensor (float fallback of a quantized layer).
pub fn fake_quant_kernel(name: &str, x: DType, out: DType, quant: (f32, f32, f32, f32), dequant: (f32, f32)) -> Option<PointwiseKernel> {
    let (q_scale, q_zero, lo, hi) = quant;
    let (d_scale, d_zero) = dequant;
    let load = match x {
        DType::Float32 => "((const float*)a.in[0])[o0]",
        DType::Float16 => "h2f(((const kiln_half*)a.in[0])[o0])",
        _ => return None,
    };
    let store = match out {
        DType::Float32 => "((float*)a.out)[i] = r;",
        DType::Float16 => "((kiln_half*)a.out)[i] = f2h(r);",
        _ => return None,
    };
    let (sq, zq, zd, sd) = (lit(q_scale), lit(q_zero), lit(d_zero), lit(d_scale));
    let compute = format!(
        "float r = rintf(v0 / {sq}) + {zq};\n      r = (r != r) ? {zq} : fminf(fmaxf(r, {lo}), {hi});\n      r = (r - {zd}) * {sd};",
        lo = lit(lo),
        hi = lit(hi)
    );
    let mut k = assemble(name, 1, &format!("      float v0 = {load};\n"), &compute, store);
    if let Some(v) = vectorized(name, &[x], out, &compute) {
        k.source += &v;
        k.vectorized = true;
    }
    Some(k)
}

/// `{name}_v`: the same body over 8 consecutive elements per thread, every input and the output
/// moved with 16-byte (8-byte for 1-byte types) vector loads and stores. Only for launches where each
/// input has the output's shape and layout, the element count is a multiple of 8 and every pointer
/// is 16-byte aligned (the runtime checks). Scalar 2-byte accesses leave most of the memory bandwidth
/// unused; this is what the residual add+ReLU and quantize-dequantize passes run.
fn vectorized(name: &str, ins: &[DType], out: DType, compute: &str) -> Option<String> {
    // (C storage type, float conversion of element `e` of array `a`)
    fn elem(d: DType) -> Option<(&'static str, &'static str)> {
        Some(match d {
            DType::Float32 => ("float", "{a}[e]"),
            DType::Float16 => ("kiln_half", "h2f({a}[e])"),
            DType::Bool | DType::Uint8 => ("unsigned char", "(float){a}[e]"),
            DType::Int8 => ("signed char", "(float){a}[e]"),
            DType::Int32 => ("int", "(float){a}[e]"),
            _ => return None,
        })
    }
    // Vector copies of 8 elements of `size` bytes between a local array and element block j.
    fn copy(size: usize, dst: &str, src: &str) -> Option<String> {
        Some(match size {
            1 => format!("*reinterpret_cast<uint2*>({dst}) = *reinterpret_cast<const uint2*>({src});"),
            2 => format!("*reinterpret_cast<uint4*>({dst}) = *reinterpret_cast<const uint4*>({src});"),
            4 => format!("reinterpret_cast<uint4*>({dst})[0] = reinterpret_cast<const uint4*>({src})[0]; reinterpret_cast<uint4*>({dst})[1] = reinterpret_cast<const uint4*>({src})[1];"),
            _ => return None,
        })
    }
    let store = match out {
        DType::Float32 => "r",
        DType::Float16 => "f2h(r)",
        DType::Bool => "(unsigned char)(r != 0.0f ? 1 : 0)",
        DType::Int8 => "(signed char)r",
        DType::Uint8 => "(unsigned char)r",
        _ => return None,
    };
    let (out_t, _) = elem(out)?;
    let mut head = String::new();
    let mut loads = String::new();
    for (k, &d) in ins.iter().enumerate() {
        let (t, conv) = elem(d)?;
        head += &format!("    __align__(16) {t} in{k}[8];\n    {}\n", copy(d.size(), &format!("in{k}"), &format!("(const {t}*)a.in[{k}] + j * 8"))?);
        loads += &format!("      float v{k} = {};\n", conv.replace("{a}", &format!("in{k}")));
    }
    let store_back = copy(out.size(), &format!("(({out_t}*)a.out + j * 8)"), "res")?;
    Some(format!(
        r#"
extern "C" __global__ void {name}_v(PwArgs a) {{
  const int n = (int)(a.n / 8);
  for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < n; j += gridDim.x * blockDim.x) {{
{head}    __align__(16) {out_t} res[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) {{
{loads}      {compute}
      res[e] = {store};
    }}
    {store_back}
  }}
}}
"#
    ))
}

/// The kernel source around a body: the output walked in storage order, `k` inputs through their
/// own strides.
fn assemble(name: &str, k: usize, loads: &str, compute: &str, store: &str) -> PointwiseKernel {
    let offsets: String = (0..k).map(|j| format!("I o{j} = 0; ")).collect();
    let accumulate: String = (0..k).map(|j| format!("o{j} += c * (I)a.st[{j}][d]; ")).collect();
    let contiguous: String = (0..k).map(|j| format!("o{j} = (a.contig >> {j}) & 1 ? i : o{j}; ")).collect();
    // Two instantiations: 32-bit indices (chosen by the runtime whenever every index fits; integer
    // division is much cheaper) and 64-bit.
    let source = format!(
        r#"
template <typename I>
__device__ __forceinline__ void {name}_body(const PwArgs& a) {{
  const I n = (I)a.n;
  for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {{
    {offsets}
    if (a.contig != (1 << {k}) - 1) {{
      I rem = i;
      for (int d = a.rank - 1; d >= 0; --d) {{ I c = rem % (I)a.dims[d]; rem /= (I)a.dims[d]; {accumulate}}}
    }}
    {contiguous}
{loads}      {compute}
      {store}
  }}
}}
extern "C" __global__ void {name}(PwArgs a) {{ {name}_body<i64>(a); }}
extern "C" __global__ void {name}_i32(PwArgs a) {{ {name}_body<int>(a); }}
"#
    );
    PointwiseKernel { name: name.to_string(), source, vectorized: false }
}

/// The PwArgs struct, shared by all generated kernels.
pub const PW_ARGS: &str = r#"
struct PwArgs {
  const void* in[8];
  void* out;
  i64 n;
  int rank;
  int contig;
  i64 dims[8];
  i64 st[8][8];
};
"#;
