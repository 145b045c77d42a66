//! Pointwise kernels: elementwise (multidirectional broadcasting), activation, unary, select,
//! cast and fused pointwise chains, over every dtype ONNX allows (float16 computes via f32).

#[path = "broadcast.rs"]
pub mod broadcast;
#[path = "data_elem.rs"]
pub mod data_elem;
#[path = "pointwise_cast.rs"]
pub mod pointwise_cast;
#[path = "pointwise_chain.rs"]
pub mod pointwise_chain;
#[path = "pointwise_ops.rs"]
pub mod pointwise_ops;

use broadcast::{par_rows, Broadcast};
use data_elem::{check_len, data, data_mut, out1, req, typed, Elem};
use half::f16;
use kiln_core::dtype::DType;
use kiln_core::error::Result;
use kiln_core::infer::data::pointwise::{check_activation_dtype, elementwise_dtype, unary_dtype};
use kiln_core::kiln_bail;
use kiln_core::layer::{ActivationKind, ElementWiseOp, LayerKind, UnaryOp};
use kiln_core::tensor::{Tensor, TensorData};
use pointwise_ops::{activation, arith, bitwise, compare, unary_float, Arith, Bits};
use rayon::prelude::*;

pub fn execute(kind: &LayerKind, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
    match kind {
        LayerKind::ElementWise { op } => elementwise(*op, req(inputs, 0, "a")?, req(inputs, 1, "b")?, out1(outputs)?),
        LayerKind::Activation { activation } => activate(activation, req(inputs, 0, "x")?, out1(outputs)?),
        LayerKind::Unary { op, detect_positive, detect_negative } => {
            unary(*op, (*detect_positive, *detect_negative), req(inputs, 0, "x")?, out1(outputs)?)
        }
        LayerKind::Select => select(req(inputs, 0, "condition")?, req(inputs, 1, "x")?, req(inputs, 2, "y")?, out1(outputs)?),
        LayerKind::Cast { .. } => pointwise_cast::cast(req(inputs, 0, "x")?, out1(outputs)?),
        LayerKind::PointwiseChain { steps } => pointwise_chain::run(steps, inputs, out1(outputs)?),
        _ => kiln_bail!(Internal, "'{}' is not a pointwise layer", kind.type_name()),
    }
}

/// Broadcasting binary map `out = f(a, b)`.
pub fn map2<A: Elem, B: Elem, O: Elem>(a: &Tensor, b: &Tensor, out: &mut Tensor, f: impl Fn(A, B) -> O + Sync) -> Result<()> {
    let (av, bv) = (data::<A>(a)?, data::<B>(b)?);
    let bc = Broadcast::new(&[&a.shape, &b.shape], &out.shape)?;
    check_len(out, bc.rows * bc.inner)?;
    let ov = data_mut::<O>(out)?;
    let inner = bc.inner;
    let (sa, sb) = (bc.inner_step[0], bc.inner_step[1]);
    par_rows(ov, inner, bc.rows, |first, chunk| {
        bc.for_rows(first, first + chunk.len() / inner, |row, offs| {
            let o = &mut chunk[(row - first) * inner..][..inner];
            let (ia, ib) = (offs[0], offs[1]);
            // Specialised loops per stride pattern so the compiler can vectorise them.
            match (sa, sb) {
                (1, 1) => {
                    for ((o, &x), &y) in o.iter_mut().zip(&av[ia..ia + inner]).zip(&bv[ib..ib + inner]) {
                        *o = f(x, y);
                    }
                }
                (1, _) => {
                    let y = bv[ib];
                    for (o, &x) in o.iter_mut().zip(&av[ia..ia + inner]) {
                        *o = f(x, y);
                    }
                }
                (_, 1) => {
                    let x = av[ia];
                    for (o, &y) in o.iter_mut().zip(&bv[ib..ib + inner]) {
                        *o = f(x, y);
                    }
                }
                _ => o.fill(f(av[ia], bv[ib])),
            }
        });
    });
    Ok(())
}

/// Same-shape unary map `out = f(x)`.
pub fn map1<A: Elem, O: Elem>(x: &Tensor, out: &mut Tensor, f: impl Fn(A) -> O + Sync + Send) -> Result<()> {
    let xv = data::<A>(x)?;
    check_len(out, xv.len())?;
    let ov = data_mut::<O>(out)?;
    if ov.len() < data_elem::PAR_THRESHOLD {
        ov.iter_mut().zip(xv).for_each(|(o, &x)| *o = f(x));
    } else {
        ov.par_chunks_mut(data_elem::PAR_THRESHOLD).zip(xv.par_chunks(data_elem::PAR_THRESHOLD)).for_each(|(o, x)| {
            o.iter_mut().zip(x).for_each(|(o, &x)| *o = f(x));
        });
    }
    Ok(())
}

/// Runs `$body` with `$T` bound to a numeric (non-bool) element type.
macro_rules! numeric {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            kiln_core::dtype::DType::Float32 => { type $T = f32; $body }
            kiln_core::dtype::DType::Float16 => { type $T = half::f16; $body }
            kiln_core::dtype::DType::Float64 => { type $T = f64; $body }
            kiln_core::dtype::DType::Int8 => { type $T = i8; $body }
            kiln_core::dtype::DType::Uint8 => { type $T = u8; $body }
            kiln_core::dtype::DType::Int16 => { type $T = i16; $body }
            kiln_core::dtype::DType::Uint16 => { type $T = u16; $body }
            kiln_core::dtype::DType::Int32 => { type $T = i32; $body }
            kiln_core::dtype::DType::Uint32 => { type $T = u32; $body }
            kiln_core::dtype::DType::Int64 => { type $T = i64; $body }
            kiln_core::dtype::DType::Uint64 => { type $T = u64; $body }
            kiln_core::dtype::DType::Bool => kiln_core::kiln_bail!(UnsupportedDtype, "this operation does not accept bool tensors"),
        }
    };
}

macro_rules! integer {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            kiln_core::dtype::DType::Int8 => { type $T = i8; $body }
            kiln_core::dtype::DType::Uint8 => { type $T = u8; $body }
            kiln_core::dtype::DType::Int16 => { type $T = i16; $body }
            kiln_core::dtype::DType::Uint16 => { type $T = u16; $body }
            kiln_core::dtype::DType::Int32 => { type $T = i32; $body }
            kiln_core::dtype::DType::Uint32 => { type $T = u32; $body }
            kiln_core::dtype::DType::Int64 => { type $T = i64; $body }
            kiln_core::dtype::DType::Uint64 => { type $T = u64; $body }
            d => kiln_core::kiln_bail!(UnsupportedDtype, "this operation needs integer tensors, got {d}"),
        }
    };
}

pub(crate) use numeric;

fn arith_typed<T: Arith>(op: ElementWiseOp, a: &Tensor, b: &Tensor, out: &mut Tensor) -> Result<()> {
    use ElementWiseOp::*;
    // The hot ops get their own instantiation so the inner loop has no op branch.
    match op {
        Add => map2::<T, T, T>(a, b, out, T::add),
        Sub => map2::<T, T, T>(a, b, out, T::sub),
        Mul => map2::<T, T, T>(a, b, out, T::mul),
        Div => map2::<T, T, T>(a, b, out, T::div),
        Max => map2::<T, T, T>(a, b, out, T::max),
        Min => map2::<T, T, T>(a, b, out, T::min),
        _ => map2::<T, T, T>(a, b, out, |x, y| arith(op, x, y)),
    }
}

/// Integer division/modulo by zero would be undefined: refuse it with a coded error.
fn check_int_divisor(op: ElementWiseOp, b: &Tensor) -> Result<()> {
    if matches!(op, ElementWiseOp::Div | ElementWiseOp::Mod | ElementWiseOp::Fmod) && b.dtype().is_integer() {
        let zero = typed!(b.dtype(), T => data::<T>(b)?.iter().any(|&v| !v.is_nonzero()));
        if zero {
            kiln_bail!(InvalidValue, "integer {:?} by zero: the divisor tensor contains 0", op);
        }
    }
    Ok(())
}

pub fn elementwise(op: ElementWiseOp, a: &Tensor, b: &Tensor, out: &mut Tensor) -> Result<()> {
    use ElementWiseOp::*;
    let dt = elementwise_dtype(op, a.dtype(), b.dtype())?;
    if out.dtype() != dt {
        kiln_bail!(Internal, "elementwise {:?} output is {} but should be {dt}", op, out.dtype());
    }
    let at = a.dtype();
    match op {
        Add | Sub | Mul | Div | Max | Min | Mod | Fmod | PRelu => {
            check_int_divisor(op, b)?;
            numeric!(at, T => arith_typed::<T>(op, a, b, out))
        }
        Pow => {
            // Normalise the exponent to i64 (integer exponents, exact) or f64 so only two
            // instantiations per base type exist.
            if b.dtype().is_integer() {
                let e = Tensor { shape: b.shape.clone(), data: TensorData::I64(b.data.to_i64_vec()) };
                numeric!(at, T => map2::<T, i64, T>(a, &e, out, pointwise_ops::pow_mixed))
            } else {
                let e = Tensor { shape: b.shape.clone(), data: TensorData::F64(b.data.to_f64_vec()) };
                numeric!(at, T => map2::<T, f64, T>(a, &e, out, pointwise_ops::pow_mixed))
            }
        }
        Equal if at == DType::Bool => map2::<bool, bool, bool>(a, b, out, |x, y| x == y),
        Equal | Greater | GreaterOrEqual | Less | LessOrEqual => {
            numeric!(at, T => map2::<T, T, bool>(a, b, out, |x, y| compare(op, x, y)))
        }
        And => map2::<bool, bool, bool>(a, b, out, |x, y| x && y),
        Or => map2::<bool, bool, bool>(a, b, out, |x, y| x || y),
        Xor => map2::<bool, bool, bool>(a, b, out, |x, y| x != y),
        BitShiftLeft | BitShiftRight | BitwiseAnd | BitwiseOr | BitwiseXor => {
            integer!(at, T => map2::<T, T, T>(a, b, out, |x, y| bitwise(op, x, y)))
        }
    }
}

pub fn activate(act: &ActivationKind, x: &Tensor, out: &mut Tensor) -> Result<()> {
    check_activation_dtype(act, x.dtype())?;
    match x.dtype() {
        DType::Float32 => map1::<f32, f32>(x, out, |v| activation(act, v)),
        DType::Float64 => map1::<f64, f64>(x, out, |v| activation(act, v)),
        DType::Float16 => map1::<f16, f16>(x, out, |v| f16::from_f32(activation(act, v.to_f32()))),
        dt => integer!(dt, T => match *act {
            ActivationKind::Relu => map1::<T, T>(x, out, |v| if v < T::zero() { T::zero() } else { v }),
            ActivationKind::Clip { min, max } => {
                // Bounds convert saturating, so ±infinity means "no bound".
                let (lo, hi) = (T::from_f64(min as f64), T::from_f64(max as f64));
                map1::<T, T>(x, out, move |v| if v < lo { lo } else if v > hi { hi } else { v })
            }
            _ => map1::<T, T>(x, out, |v| T::from_f64(activation(act, Arith::to_f64(v)))),
        }),
    }
}

pub fn unary(op: UnaryOp, (pos, neg): (bool, bool), x: &Tensor, out: &mut Tensor) -> Result<()> {
    use UnaryOp::*;
    let dt = x.dtype();
    unary_dtype(op, dt)?;
    match op {
        Not => map1::<bool, bool>(x, out, |v| !v),
        IsNan => match dt {
            DType::Float32 => map1::<f32, bool>(x, out, |v| v.is_nan()),
            DType::Float64 => map1::<f64, bool>(x, out, |v| v.is_nan()),
            _ => map1::<f16, bool>(x, out, |v| v.is_nan()),
        },
        IsInf => {
            let f = move |v: f64| (pos && v == f64::INFINITY) || (neg && v == f64::NEG_INFINITY);
            match dt {
                DType::Float32 => map1::<f32, bool>(x, out, |v| f(v as f64)),
                DType::Float64 => map1::<f64, bool>(x, out, f),
                _ => map1::<f16, bool>(x, out, |v| f(v.to_f64())),
            }
        }
        BitwiseNot => integer!(dt, T => map1::<T, T>(x, out, <T as Bits>::not)),
        _ => match dt {
            DType::Float32 => map1::<f32, f32>(x, out, |v| unary_float(op, v)),
            DType::Float64 => map1::<f64, f64>(x, out, |v| unary_float(op, v)),
            DType::Float16 => map1::<f16, f16>(x, out, |v| f16::from_f32(unary_float(op, v.to_f32()))),
            dt => integer!(dt, T => match op {
                Abs => map1::<T, T>(x, out, |v| if v < T::zero() { T::sub(T::zero(), v) } else { v }),
                Neg => map1::<T, T>(x, out, |v| T::sub(T::zero(), v)),
                Sign => map1::<T, T>(x, out, |v| if v > T::zero() { T::one() } else if v < T::zero() { T::sub(T::zero(), T::one()) } else { T::zero() }),
                _ => kiln_bail!(UnsupportedDtype, "unary {:?} needs a float input, got {dt}", op),
            }),
        },
    }
}

/// ONNX Where: `out = cond ? x : y`, broadcasting all three.
pub fn select(cond: &Tensor, x: &Tensor, y: &Tensor, out: &mut Tensor) -> Result<()> {
    if cond.dtype() != DType::Bool || x.dtype() != y.dtype() || out.dtype() != x.dtype() {
        kiln_bail!(UnsupportedDtype, "select needs a bool condition and branches of one dtype, got {}, {}, {}", cond.dtype(), x.dtype(), y.dtype());
    }
    typed!(x.dtype(), T => select_typed::<T>(cond, x, y, out))
}

fn select_typed<T: Elem>(cond: &Tensor, x: &Tensor, y: &Tensor, out: &mut Tensor) -> Result<()> {
    let (cv, xv, yv) = (data::<bool>(cond)?, data::<T>(x)?, data::<T>(y)?);
    let bc = Broadcast::new(&[&cond.shape, &x.shape, &y.shape], &out.shape)?;
    check_len(out, bc.rows * bc.inner)?;
    let ov = data_mut::<T>(out)?;
    let inner = bc.inner;
    let (sc, sx, sy) = (bc.inner_step[0], bc.inner_step[1], bc.inner_step[2]);
    par_rows(ov, inner, bc.rows, |first, chunk| {
        bc.for_rows(first, first + chunk.len() / inner, |row, offs| {
            let o = &mut chunk[(row - first) * inner..][..inner];
            for (j, o) in o.iter_mut().enumerate() {
                *o = if cv[offs[0] + j * sc] { xv[offs[1] + j * sx] } else { yv[offs[2] + j * sy] };
            }
        });
    });
    Ok(())
}
