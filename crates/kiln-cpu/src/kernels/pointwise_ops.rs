//! Scalar semantics of the pointwise ops (ONNX rules), shared by the elementwise kernels and the
//! fused pointwise chain.

use super::data_elem::Elem;
use half::f16;
use kiln_core::layer::{ActivationKind, ElementWiseOp, UnaryOp};
use num_traits::Float;

/// Arithmetic over one numeric element type. Integer ops wrap (C semantics); float16 computes in
/// f32.
pub trait Arith: Elem + PartialOrd {
    const FLOAT: bool;
    fn add(a: Self, b: Self) -> Self;
    fn sub(a: Self, b: Self) -> Self;
    fn mul(a: Self, b: Self) -> Self;
    /// Integer division truncates toward zero; callers reject integer division by zero first.
    fn div(a: Self, b: Self) -> Self;
    /// ONNX Mod fmod=0: result takes the sign of the divisor.
    fn modulo(a: Self, b: Self) -> Self;
    /// ONNX Mod fmod=1: C fmod, sign of the dividend.
    fn fmod(a: Self, b: Self) -> Self;
    /// NaN-propagating max/min.
    fn max(a: Self, b: Self) -> Self;
    fn min(a: Self, b: Self) -> Self;
    fn to_f64(self) -> f64;
    fn to_i64(self) -> i64;
    /// Integer power with wrapping; `e < 0` gives the truncated reciprocal.
    fn ipow(a: Self, e: i64) -> Self;
}

macro_rules! int_arith {
    ($t:ty, signed: $signed:expr) => {
        impl Arith for $t {
            const FLOAT: bool = false;
            #[inline] fn add(a: Self, b: Self) -> Self { a.wrapping_add(b) }
            #[inline] fn sub(a: Self, b: Self) -> Self { a.wrapping_sub(b) }
            #[inline] fn mul(a: Self, b: Self) -> Self { a.wrapping_mul(b) }
            #[inline] fn div(a: Self, b: Self) -> Self { if b == 0 { 0 } else { a.wrapping_div(b) } }
            #[inline]
            fn modulo(a: Self, b: Self) -> Self {
                if b == 0 { return 0; }
                let r = a.wrapping_rem(b);
                #[allow(unused_comparisons)]
                if r != 0 && ((r < 0) != (b < 0)) { r.wrapping_add(b) } else { r }
            }
            #[inline] fn fmod(a: Self, b: Self) -> Self { if b == 0 { 0 } else { a.wrapping_rem(b) } }
            #[inline] fn max(a: Self, b: Self) -> Self { if b > a { b } else { a } }
            #[inline] fn min(a: Self, b: Self) -> Self { if b < a { b } else { a } }
            #[inline] fn to_f64(self) -> f64 { self as f64 }
            #[inline] fn to_i64(self) -> i64 { self as i64 }
            fn ipow(a: Self, e: i64) -> Self {
                if e < 0 {
                    // 1 / a^|e| truncated: only ±1 survive.
                    #[allow(unused_comparisons)]
                    let neg_one = $signed && a < 0 && a.wrapping_add(1) == 0;
                    return if a == 1 { 1 } else if neg_one { if e % 2 == 0 { 1 } else { a } } else { 0 };
                }
                let (mut base, mut e, mut acc): (Self, u64, Self) = (a, e as u64, 1);
                while e > 0 {
                    if e & 1 == 1 { acc = acc.wrapping_mul(base); }
                    base = base.wrapping_mul(base);
                    e >>= 1;
                }
                acc
            }
        }
    };
}
int_arith!(i8, signed: true);
int_arith!(i16, signed: true);
int_arith!(i32, signed: true);
int_arith!(i64, signed: true);
int_arith!(u8, signed: false);
int_arith!(u16, signed: false);
int_arith!(u32, signed: false);
int_arith!(u64, signed: false);

#[inline]
fn fmax<F: Float>(a: F, b: F) -> F {
    if a.is_nan() || b.is_nan() { F::nan() } else if b > a { b } else { a }
}
#[inline]
fn fmin<F: Float>(a: F, b: F) -> F {
    if a.is_nan() || b.is_nan() { F::nan() } else if b < a { b } else { a }
}
#[inline]
fn fmodulo<F: Float>(a: F, b: F) -> F {
    let r = a % b;
    if r != F::zero() && ((r < F::zero()) != (b < F::zero())) { r + b } else { r }
}

macro_rules! float_arith {
    ($t:ty) => {
        impl Arith for $t {
            const FLOAT: bool = true;
            #[inline] fn add(a: Self, b: Self) -> Self { a + b }
            #[inline] fn sub(a: Self, b: Self) -> Self { a - b }
            #[inline] fn mul(a: Self, b: Self) -> Self { a * b }
            #[inline] fn div(a: Self, b: Self) -> Self { a / b }
            #[inline] fn modulo(a: Self, b: Self) -> Self { fmodulo(a, b) }
            #[inline] fn fmod(a: Self, b: Self) -> Self { a % b }
            #[inline] fn max(a: Self, b: Self) -> Self { fmax(a, b) }
            #[inline] fn min(a: Self, b: Self) -> Self { fmin(a, b) }
            #[inline] fn to_f64(self) -> f64 { self as f64 }
            #[inline] fn to_i64(self) -> i64 { self as i64 }
            fn ipow(a: Self, e: i64) -> Self { (a as f64).powf(e as f64) as $t }
        }
    };
}
float_arith!(f32);
float_arith!(f64);

impl Arith for f16 {
    const FLOAT: bool = true;
    #[inline] fn add(a: Self, b: Self) -> Self { f16::from_f32(a.to_f32() + b.to_f32()) }
    #[inline] fn sub(a: Self, b: Self) -> Self { f16::from_f32(a.to_f32() - b.to_f32()) }
    #[inline] fn mul(a: Self, b: Self) -> Self { f16::from_f32(a.to_f32() * b.to_f32()) }
    #[inline] fn div(a: Self, b: Self) -> Self { f16::from_f32(a.to_f32() / b.to_f32()) }
    #[inline] fn modulo(a: Self, b: Self) -> Self { f16::from_f32(fmodulo(a.to_f32(), b.to_f32())) }
    #[inline] fn fmod(a: Self, b: Self) -> Self { f16::from_f32(a.to_f32() % b.to_f32()) }
    #[inline] fn max(a: Self, b: Self) -> Self { f16::from_f32(fmax(a.to_f32(), b.to_f32())) }
    #[inline] fn min(a: Self, b: Self) -> Self { f16::from_f32(fmin(a.to_f32(), b.to_f32())) }
    #[inline] fn to_f64(self) -> f64 { self.to_f64() }
    #[inline] fn to_i64(self) -> i64 { self.to_f32() as i64 }
    fn ipow(a: Self, e: i64) -> Self { f16::from_f64(a.to_f64().powf(e as f64)) }
}

/// ONNX Pow with possibly different base/exponent types; the result has the base's type.
#[inline]
pub fn pow_mixed<T: Arith, E: Arith>(a: T, e: E) -> T {
    if !T::FLOAT && !E::FLOAT {
        T::ipow(a, e.to_i64())
    } else {
        T::from_f64(a.to_f64().powf(e.to_f64()))
    }
}

/// Same-type binary arithmetic ops (the ones whose output has the operand type).
#[inline]
pub fn arith<T: Arith>(op: ElementWiseOp, a: T, b: T) -> T {
    use ElementWiseOp::*;
    match op {
        Add => T::add(a, b),
        Sub => T::sub(a, b),
        Mul => T::mul(a, b),
        Div => T::div(a, b),
        Mod => T::modulo(a, b),
        Fmod => T::fmod(a, b),
        Max => T::max(a, b),
        Min => T::min(a, b),
        Pow => pow_mixed(a, b),
        PRelu => {
            if a < T::zero() { T::mul(a, b) } else { a }
        }
        // Comparisons/logical/bitwise are handled elsewhere; returning `a` keeps this total.
        _ => a,
    }
}

/// Comparison ops (bool output).
#[inline]
pub fn compare<T: PartialOrd>(op: ElementWiseOp, a: T, b: T) -> bool {
    use ElementWiseOp::*;
    match op {
        Equal => a == b,
        Greater => a > b,
        GreaterOrEqual => a >= b,
        Less => a < b,
        LessOrEqual => a <= b,
        _ => false,
    }
}

/// Bitwise operations over integers.
pub trait Bits: Arith {
    fn and(a: Self, b: Self) -> Self;
    fn or(a: Self, b: Self) -> Self;
    fn xor(a: Self, b: Self) -> Self;
    fn not(a: Self) -> Self;
    /// Shifts by the full width or more give 0 (numpy semantics).
    fn shl(a: Self, b: Self) -> Self;
    fn shr(a: Self, b: Self) -> Self;
}
macro_rules! bits {
    ($($t:ty),*) => {$(
        impl Bits for $t {
            #[inline] fn and(a: Self, b: Self) -> Self { a & b }
            #[inline] fn or(a: Self, b: Self) -> Self { a | b }
            #[inline] fn xor(a: Self, b: Self) -> Self { a ^ b }
            #[inline] fn not(a: Self) -> Self { !a }
            #[inline] fn shl(a: Self, b: Self) -> Self { u32::try_from(b).ok().and_then(|s| a.checked_shl(s)).unwrap_or(0) }
            #[inline] fn shr(a: Self, b: Self) -> Self { u32::try_from(b).ok().and_then(|s| a.checked_shr(s)).unwrap_or(0) }
        }
    )*};
}
bits!(i8, i16, i32, i64, u8, u16, u32, u64);

#[inline]
pub fn bitwise<T: Bits>(op: ElementWiseOp, a: T, b: T) -> T {
    use ElementWiseOp::*;
    match op {
        BitwiseAnd => T::and(a, b),
        BitwiseOr => T::or(a, b),
        BitwiseXor => T::xor(a, b),
        BitShiftLeft => T::shl(a, b),
        BitShiftRight => T::shr(a, b),
        _ => a,
    }
}

#[inline]
fn c<F: Float>(x: f64) -> F {
    F::from(x).unwrap_or_else(F::nan)
}

/// erf in f64 (Taylor series near 0, continued fraction for erfc in the tails); |error| < 1e-13.
pub fn erf64(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    if a < 2.5 {
        let mut term = x;
        let mut sum = x;
        let x2 = x * x;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs().max(1e-300) {
            n += 1.0;
            term *= -x2 / n;
            sum += term / (2.0 * n + 1.0);
            if n > 200.0 {
                break;
            }
        }
        return sum * std::f64::consts::FRAC_2_SQRT_PI;
    }
    if a > 6.0 {
        return x.signum();
    }
    // erfc(a) = exp(-a²)/sqrt(pi) · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + …)))), evaluated bottom-up.
    let mut f = a;
    for k in (1..=60).rev() {
        f = a + (k as f64 / 2.0) / f;
    }
    let erfc = (-a * a).exp() / std::f64::consts::PI.sqrt() / f;
    (1.0 - erfc) * x.signum()
}

#[inline]
fn erf<F: Float>(x: F) -> F {
    c(erf64(x.to_f64().unwrap_or(f64::NAN)))
}

#[inline]
fn softplus<F: Float>(x: F) -> F {
    // ln(1 + e^x) without overflow for large x.
    if x > c(20.0) { x } else { x.exp().ln_1p() }
}

/// One activation on a float value.
#[inline]
pub fn activation<F: Float>(act: &ActivationKind, x: F) -> F {
    let zero = F::zero();
    let one = F::one();
    match *act {
        ActivationKind::Relu => if x < zero { zero } else { x },
        ActivationKind::Sigmoid => {
            // Symmetric form keeps precision for large |x|.
            if x >= zero { one / (one + (-x).exp()) } else { let e = x.exp(); e / (one + e) }
        }
        ActivationKind::Tanh => x.tanh(),
        ActivationKind::LeakyRelu { alpha } => if x < zero { x * c(alpha as f64) } else { x },
        ActivationKind::Elu { alpha } => if x < zero { c::<F>(alpha as f64) * x.exp_m1() } else { x },
        ActivationKind::Selu { alpha, gamma } => {
            let g: F = c(gamma as f64);
            if x > zero { g * x } else { g * c::<F>(alpha as f64) * x.exp_m1() }
        }
        ActivationKind::Celu { alpha } => {
            let a: F = c(alpha as f64);
            x.max(zero) + zero.min(a * (x / a).exp_m1())
        }
        ActivationKind::Softplus => softplus(x),
        ActivationKind::Softsign => x / (one + x.abs()),
        ActivationKind::HardSigmoid { alpha, beta } => (c::<F>(alpha as f64) * x + c(beta as f64)).min(one).max(zero),
        ActivationKind::HardSwish => x * (x / c(6.0) + c(0.5)).min(one).max(zero),
        ActivationKind::ThresholdedRelu { alpha } => if x > c(alpha as f64) { x } else { zero },
        ActivationKind::ScaledTanh { alpha, beta } => c::<F>(alpha as f64) * (c::<F>(beta as f64) * x).tanh(),
        ActivationKind::Clip { min, max } => {
            // NaN passes through (comparisons are false).
            let (lo, hi): (F, F) = (c(min as f64), c(max as f64));
            if x < lo { lo } else if x > hi { hi } else { x }
        }
        ActivationKind::Gelu { tanh } => {
            if tanh {
                let k: F = c((2.0 / std::f64::consts::PI).sqrt());
                c::<F>(0.5) * x * (one + (k * (x + c::<F>(0.044715) * x * x * x)).tanh())
            } else {
                c::<F>(0.5) * x * (one + erf(x / c(std::f64::consts::SQRT_2)))
            }
        }
        ActivationKind::Mish => x * softplus(x).tanh(),
        ActivationKind::Shrink { bias, lambd } => {
            let (b, l): (F, F) = (c(bias as f64), c(lambd as f64));
            if x < -l { x + b } else if x > l { x - b } else { zero }
        }
    }
}

/// Float unary ops whose output is a float of the same type.
#[inline]
pub fn unary_float<F: Float>(op: UnaryOp, x: F) -> F {
    use UnaryOp::*;
    match op {
        Abs => x.abs(),
        Neg => -x,
        Exp => x.exp(),
        Log => x.ln(),
        Sqrt => x.sqrt(),
        Reciprocal => F::one() / x,
        Floor => x.floor(),
        Ceil => x.ceil(),
        Round => {
            // Half to even: exact halves go to the even neighbour.
            let r = x.round();
            if (x - x.trunc()).abs() == c(0.5) { c::<F>(2.0) * (x / c(2.0)).round() } else { r }
        }
        Sin => x.sin(),
        Cos => x.cos(),
        Tan => x.tan(),
        Asin => x.asin(),
        Acos => x.acos(),
        Atan => x.atan(),
        Sinh => x.sinh(),
        Cosh => x.cosh(),
        Asinh => x.asinh(),
        Acosh => x.acosh(),
        Atanh => x.atanh(),
        Erf => erf(x),
        Sign => {
            if x > F::zero() { F::one() } else if x < F::zero() { -F::one() } else { x }
        }
        // Not/IsNan/IsInf/BitwiseNot never reach here (different dtypes); identity keeps it total.
        Not | IsNan | IsInf | BitwiseNot => x,
    }
}

/// Binary op on f32 as used inside fused chains (comparisons/logical give 1.0/0.0).
#[inline]
pub fn binary_f32(op: ElementWiseOp, a: f32, b: f32) -> f32 {
    use ElementWiseOp::*;
    let t = |v: bool| if v { 1.0 } else { 0.0 };
    match op {
        Add => a + b,
        Sub => a - b,
        Mul => a * b,
        Div => a / b,
        Pow => a.powf(b),
        Max => fmax(a, b),
        Min => fmin(a, b),
        Mod => fmodulo(a, b),
        Fmod => a % b,
        PRelu => if a < 0.0 { a * b } else { a },
        And => t(a != 0.0 && b != 0.0),
        Or => t(a != 0.0 || b != 0.0),
        Xor => t((a != 0.0) != (b != 0.0)),
        Equal | Greater | GreaterOrEqual | Less | LessOrEqual => t(compare(op, a, b)),
        // Bit ops on floats have no meaning; the optimizer never fuses them.
        BitShiftLeft | BitShiftRight | BitwiseAnd | BitwiseOr | BitwiseXor => f32::NAN,
    }
}
