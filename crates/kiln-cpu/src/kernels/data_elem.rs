//! Typed access to `TensorData`: one trait implemented for every element type, so data-movement
//! kernels are written once generically and dispatched on the dtype with `typed!`.

use half::f16;
use kiln_core::dtype::DType;
use kiln_core::error::Result;
use kiln_core::kiln_bail;
use kiln_core::tensor::{Tensor, TensorData};

pub trait Elem: Copy + Send + Sync + PartialEq + 'static {
    const DTYPE: DType;
    fn slice(d: &TensorData) -> Option<&[Self]>;
    fn slice_mut(d: &mut TensorData) -> Option<&mut [Self]>;
    fn zero() -> Self;
    fn one() -> Self;
    fn is_nonzero(self) -> bool;
    /// Conversion used for fill values / off-on values (C-style saturating cast).
    fn from_f64(v: f64) -> Self;
}

macro_rules! impl_elem {
    ($t:ty, $variant:ident, $dt:ident, $zero:expr, $one:expr, $from:expr) => {
        impl Elem for $t {
            const DTYPE: DType = DType::$dt;
            #[inline]
            fn slice(d: &TensorData) -> Option<&[Self]> {
                match d {
                    TensorData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            #[inline]
            fn slice_mut(d: &mut TensorData) -> Option<&mut [Self]> {
                match d {
                    TensorData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            #[inline]
            fn zero() -> Self {
                $zero
            }
            #[inline]
            fn one() -> Self {
                $one
            }
            #[inline]
            fn is_nonzero(self) -> bool {
                self != $zero
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                ($from)(v)
            }
        }
    };
}

impl_elem!(f32, F32, Float32, 0.0, 1.0, |v: f64| v as f32);
impl_elem!(f16, F16, Float16, f16::ZERO, f16::ONE, f16::from_f64);
impl_elem!(f64, F64, Float64, 0.0, 1.0, |v: f64| v);
impl_elem!(i8, I8, Int8, 0, 1, |v: f64| v as i8);
impl_elem!(u8, U8, Uint8, 0, 1, |v: f64| v as u8);
impl_elem!(i16, I16, Int16, 0, 1, |v: f64| v as i16);
impl_elem!(u16, U16, Uint16, 0, 1, |v: f64| v as u16);
impl_elem!(i32, I32, Int32, 0, 1, |v: f64| v as i32);
impl_elem!(u32, U32, Uint32, 0, 1, |v: f64| v as u32);
impl_elem!(i64, I64, Int64, 0, 1, |v: f64| v as i64);
impl_elem!(u64, U64, Uint64, 0, 1, |v: f64| v as u64);
impl_elem!(bool, Bool, Bool, false, true, |v: f64| v != 0.0);

/// Runs `$body` with the type alias `$T` bound to the element type of `$dtype`.
macro_rules! typed {
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
            kiln_core::dtype::DType::Bool => { type $T = bool; $body }
        }
    };
}
pub(crate) use typed;

/// The typed data of an input; a dtype mismatch is a Kiln bug (inference checked it).
pub fn data<T: Elem>(t: &Tensor) -> Result<&[T]> {
    match T::slice(&t.data) {
        Some(s) => Ok(s),
        None => kiln_bail!(Internal, "kernel expected a {} tensor, got {}", T::DTYPE, t.dtype()),
    }
}

pub fn data_mut<T: Elem>(t: &mut Tensor) -> Result<&mut [T]> {
    let dt = t.dtype();
    match T::slice_mut(&mut t.data) {
        Some(s) => Ok(s),
        None => kiln_bail!(Internal, "kernel expected a {} output, got {}", T::DTYPE, dt),
    }
}

/// Required input `i` of a kernel.
pub fn req<'a>(inputs: &[Option<&'a Tensor>], i: usize, what: &str) -> Result<&'a Tensor> {
    match inputs.get(i) {
        Some(Some(t)) => Ok(t),
        _ => kiln_bail!(InvalidNetwork, "missing required input {i} ({what})"),
    }
}

/// Optional input `i`.
pub fn opt<'a>(inputs: &[Option<&'a Tensor>], i: usize) -> Option<&'a Tensor> {
    inputs.get(i).copied().flatten()
}

/// The single output of a layer.
pub fn out1(outputs: &mut [Tensor]) -> Result<&mut Tensor> {
    match outputs.first_mut() {
        Some(t) => Ok(t),
        None => kiln_bail!(Internal, "layer was given no output tensor"),
    }
}

/// Checks the output buffer matches the expected element count (outputs come pre-sized).
pub fn check_len(out: &Tensor, n: usize) -> Result<()> {
    if out.numel() != n {
        kiln_bail!(Internal, "output buffer holds {} elements, kernel needs {n}", out.numel());
    }
    Ok(())
}

/// Work size above which kernels split across rayon threads.
pub const PAR_THRESHOLD: usize = 1 << 16;
