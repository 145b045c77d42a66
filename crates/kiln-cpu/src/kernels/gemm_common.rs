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

/// Applies a fused activation in place, with exactly the formulas of the standalone activation
/// layer (one implementation: fused and unfused results must agree bit for bit).
pub fn apply_activation<T: KFloat>(act: &ActivationKind, v: &mut [T]) {
    if let ActivationKind::Relu = act {
        // The common case after convolutions: a tight loop the compiler vectorises (NaN stays NaN).
        v.iter_mut().for_each(|x| {
            if *x < T::zero() {
                *x = T::zero()
            }
        });
        return;
    }
    v.iter_mut().for_each(|x| *x = crate::kernels::pointwise::pointwise_ops::activation(act, *x));
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
