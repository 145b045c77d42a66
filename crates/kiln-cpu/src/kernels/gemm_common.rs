//! Helpers shared by the compute kernels: the float element trait, typed views that borrow when
//! the dtype already matches (weights are never copied on the f32 path), writing back into
//! float16 outputs, fused activations, and a safe wrapper around `gemm::gemm`.

use half::f16;
use kiln_core::error::Result;
use kiln_core::kiln_bail;
use kiln_core::layer::ActivationKind;
use kiln_core::tensor::{Tensor, TensorData};
use std::borrow::Cow;

/// Elements the float kernels compute in (f32, or f64 for float64 models).
pub trait KFloat: num_traits::Float + num_traits::FromPrimitive + Send + Sync + Default + std::fmt::Debug + 'static {
    fn slice(d: &TensorData) -> Option<&[Self]>;
    fn slice_mut(d: &mut TensorData) -> Option<&mut [Self]>;
    fn f(v: f64) -> Self;
    fn f64(self) -> f64;
    /// Whether `gemm::gemm` has a kernel for this type.
    const GEMM: bool = true;
}

impl KFloat for f32 {
    fn slice(d: &TensorData) -> Option<&[f32]> {
        if let TensorData::F32(v) = d { Some(v) } else { None }
    }
    fn slice_mut(d: &mut TensorData) -> Option<&mut [f32]> {
        if let TensorData::F32(v) = d { Some(v) } else { None }
    }
    fn f(v: f64) -> f32 {
        v as f32
    }
    fn f64(self) -> f64 {
        self as f64
    }
}

impl KFloat for f64 {
    fn slice(d: &TensorData) -> Option<&[f64]> {
        if let TensorData::F64(v) = d { Some(v) } else { None }
    }
    fn slice_mut(d: &mut TensorData) -> Option<&mut [f64]> {
        if let TensorData::F64(v) = d { Some(v) } else { None }
    }
    fn f(v: f64) -> f64 {
        v
    }
    fn f64(self) -> f64 {
        self
    }
}

/// Which compute type a float dtype uses: 64 for float64, 32 for float32/float16, else error.
pub fn float_width(t: &Tensor, what: &str) -> Result<u32> {
    match t.data {
        TensorData::F32(_) | TensorData::F16(_) => Ok(32),
        TensorData::F64(_) => Ok(64),
        _ => kiln_bail!(UnsupportedDtype, "{} needs a float tensor, got {}", what, t.dtype()),
    }
}

/// The tensor's values as `T` (borrowed when the dtype is already `T`).
pub fn view<T: KFloat>(t: &Tensor) -> Cow<'_, [T]> {
    match T::slice(&t.data) {
        Some(s) => Cow::Borrowed(s),
        None => match &t.data {
            TensorData::F16(v) => Cow::Owned(v.iter().map(|x| T::f(x.to_f64())).collect()),
            d => Cow::Owned(d.to_f64_vec().into_iter().map(T::f).collect()),
        },
    }
}

/// Runs `f` on the output's storage as `T`, converting back when the output is float16.
pub fn with_out<T: KFloat>(out: &mut Tensor, f: impl FnOnce(&mut [T]) -> Result<()>) -> Result<()> {
    if let Some(s) = T::slice_mut(&mut out.data) {
        return f(s);
    }
    let mut tmp = vec![T::zero(); out.numel()];
    f(&mut tmp)?;
    out.data = match out.data {
        TensorData::F16(_) => TensorData::F16(tmp.iter().map(|x| f16::from_f64(x.f64())).collect()),
        _ => TensorData::from_f64_vec(out.dtype(), &tmp.iter().map(|x| x.f64()).collect::<Vec<_>>()),
    };
    Ok(())
}

/// Fetches input `i` or fails with a message naming it.
pub fn req<'a>(inputs: &[Option<&'a Tensor>], i: usize, what: &str) -> Result<&'a Tensor> {
    match inputs.get(i).copied().flatten() {
        Some(t) => Ok(t),
        None => kiln_bail!(InvalidInput, "missing input {} ({})", i, what),
    }
}

/// Checks the output count so kernels can index outputs safely.
pub fn need_outputs(outputs: &[Tensor], n: usize, what: &str) -> Result<()> {
    if outputs.len() < n {
        kiln_bail!(Internal, "{} expects {} output tensors, got {}", what, n, outputs.len());
    }
    Ok(())
}

/// Applies a fused activation in place (same formulas as the standalone activation layer).
pub fn apply_activation<T: KFloat>(act: &ActivationKind, v: &mut [T]) {
    let c = |x: f64| T::f(x);
    let (zero, one) = (T::zero(), T::one());
    match *act {
        ActivationKind::Relu => v.iter_mut().for_each(|x| {
            if *x < zero {
                *x = zero
            }
        }),
        ActivationKind::Clip { min, max } => {
            let (lo, hi) = (c(min as f64), c(max as f64));
            v.iter_mut().for_each(|x| *x = x.max(lo).min(hi))
        }
        ActivationKind::Sigmoid => v.iter_mut().for_each(|x| *x = one / (one + (-*x).exp())),
        ActivationKind::Tanh => v.iter_mut().for_each(|x| *x = x.tanh()),
        ActivationKind::LeakyRelu { alpha } => v.iter_mut().for_each(|x| {
            if *x < zero {
                *x = *x * c(alpha as f64)
            }
        }),
        ActivationKind::Elu { alpha } => v.iter_mut().for_each(|x| {
            if *x < zero {
                *x = c(alpha as f64) * (x.exp() - one)
            }
        }),
        ActivationKind::Selu { alpha, gamma } => v.iter_mut().for_each(|x| {
            *x = if *x > zero { c(gamma as f64) * *x } else { c(gamma as f64) * (c(alpha as f64) * x.exp() - c(alpha as f64)) }
        }),
        ActivationKind::Celu { alpha } => v.iter_mut().for_each(|x| {
            let a = c(alpha as f64);
            *x = x.max(zero) + zero.min(a * ((*x / a).exp() - one))
        }),
        ActivationKind::Softplus => v.iter_mut().for_each(|x| {
            // log(1 + e^x) without overflow for large x.
            *x = if *x > zero { *x + (-*x).exp().ln_1p() } else { x.exp().ln_1p() }
        }),
        ActivationKind::Softsign => v.iter_mut().for_each(|x| *x = *x / (one + x.abs())),
        ActivationKind::HardSigmoid { alpha, beta } => {
            v.iter_mut().for_each(|x| *x = (c(alpha as f64) * *x + c(beta as f64)).max(zero).min(one))
        }
        ActivationKind::HardSwish => v.iter_mut().for_each(|x| *x = *x * (*x / c(6.0) + c(0.5)).max(zero).min(one)),
        ActivationKind::ThresholdedRelu { alpha } => v.iter_mut().for_each(|x| {
            if *x <= c(alpha as f64) {
                *x = zero
            }
        }),
        ActivationKind::ScaledTanh { alpha, beta } => v.iter_mut().for_each(|x| *x = c(alpha as f64) * (c(beta as f64) * *x).tanh()),
        ActivationKind::Gelu { tanh } => v.iter_mut().for_each(|x| {
            let xf = x.f64();
            let y = if tanh {
                0.5 * xf * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (xf + 0.044715 * xf * xf * xf)).tanh())
            } else {
                0.5 * xf * (1.0 + erf(xf / std::f64::consts::SQRT_2))
            };
            *x = c(y)
        }),
        ActivationKind::Mish => v.iter_mut().for_each(|x| {
            let sp = if *x > zero { *x + (-*x).exp().ln_1p() } else { x.exp().ln_1p() };
            *x = *x * sp.tanh()
        }),
        ActivationKind::Shrink { bias, lambd } => v.iter_mut().for_each(|x| {
            let (b, l) = (c(bias as f64), c(lambd as f64));
            *x = if *x < -l { *x + b } else if *x > l { *x - b } else { zero }
        }),
    }
}

/// erf(x) to ~1e-15 (series for small |x|, continued fraction via erfc otherwise).
pub fn erf(x: f64) -> f64 {
    let ax = x.abs();
    let r = if ax < 2.5 {
        // Maclaurin series: 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)).
        let mut term = ax;
        let mut sum = ax;
        let x2 = ax * ax;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs() && n < 200.0 {
            n += 1.0;
            term *= -x2 / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else if ax > 6.0 {
        1.0
    } else {
        // Lentz continued fraction for erfc.
        let mut f = ax;
        let mut cc = ax;
        let mut d = 0.0;
        for k in 1..200 {
            let a = k as f64 / 2.0;
            d = ax + a * d;
            d = 1.0 / d;
            cc = ax + a / cc;
            let delta = cc * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        1.0 - (-ax * ax).exp() / (f * std::f64::consts::PI.sqrt())
    };
    if x < 0.0 { -r } else { r }
}

/// Threads to give gemm: rayon's pool (the context sets it up), 1 for tiny products where
/// splitting costs more than it saves.
pub fn gemm_parallelism(m: usize, n: usize, k: usize) -> gemm::Parallelism {
    let threads = rayon::current_num_threads();
    if threads <= 1 || m.saturating_mul(n).saturating_mul(k) < 64 * 64 * 64 {
        gemm::Parallelism::None
    } else {
        gemm::Parallelism::Rayon(threads)
    }
}

/// A strided matrix view: element (r, c) at `data[offset + r * rs + c * cs]`.
#[derive(Clone, Copy)]
pub struct Mat<'a, T> {
    pub data: &'a [T],
    pub offset: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<T> Mat<'_, T> {
    fn fits(&self, rows: usize, cols: usize) -> bool {
        if rows == 0 || cols == 0 {
            return true;
        }
        let last = (rows - 1).checked_mul(self.rs).and_then(|a| (cols - 1).checked_mul(self.cs).and_then(|b| a.checked_add(b)));
        matches!(last.and_then(|l| l.checked_add(self.offset)), Some(l) if l < self.data.len())
    }
}

/// `dst[m×n] (row-major, leading dim ldd) = (accumulate ? dst : 0) + lhs[m×k] · rhs[k×n]`.
/// Bounds are checked once here so the unsafe call cannot read or write out of range.
#[allow(clippy::too_many_arguments)]
pub fn matmul_into<T: KFloat>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [T],
    ldd: usize,
    accumulate: bool,
    lhs: Mat<'_, T>,
    rhs: Mat<'_, T>,
    par: gemm::Parallelism,
) -> Result<()> {
    if m == 0 || n == 0 {
        return Ok(());
    }
    let dst_ok = (m - 1).checked_mul(ldd).and_then(|a| a.checked_add(n)).is_some_and(|e| e <= dst.len());
    if !dst_ok || !lhs.fits(m, k) || !rhs.fits(k, n) {
        kiln_bail!(Internal, "matrix product {}x{}x{} does not fit its buffers", m, k, n);
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[r * ldd..r * ldd + n].iter_mut().for_each(|x| *x = T::zero());
            }
        }
        return Ok(());
    }
    // SAFETY: every element gemm touches was bounds-checked above; dst does not alias lhs/rhs
    // (it is a distinct &mut borrow).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            ldd as isize,
            accumulate,
            lhs.data.as_ptr().add(lhs.offset),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr().add(rhs.offset),
            rhs.cs as isize,
            rhs.rs as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            par,
        );
    }
    Ok(())
}
