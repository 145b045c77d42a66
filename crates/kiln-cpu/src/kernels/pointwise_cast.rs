//! Cast between every pair of dtypes: floats → ints truncate toward zero (saturating, NaN → 0 as
//! Rust `as` does), ints → ints wrap like C, to bool is `x != 0`, bool → 0/1, float16 via `half`.

use super::data_elem::{check_len, data, data_mut, typed, Elem};
use half::f16;
use kiln_core::error::Result;
use kiln_core::tensor::Tensor;
use rayon::prelude::*;

/// A source value in the widest form of its kind.
#[derive(Clone, Copy)]
pub enum Scalar {
    F(f64),
    I(i128),
    B(bool),
}

pub trait CastElem: Elem {
    fn to_scalar(self) -> Scalar;
    fn from_scalar(s: Scalar) -> Self;
}

macro_rules! cast_int {
    ($($t:ty),*) => {$(
        impl CastElem for $t {
            #[inline] fn to_scalar(self) -> Scalar { Scalar::I(self as i128) }
            #[inline]
            fn from_scalar(s: Scalar) -> Self {
                match s { Scalar::F(f) => f as $t, Scalar::I(i) => i as $t, Scalar::B(b) => b as $t }
            }
        }
    )*};
}
cast_int!(i8, u8, i16, u16, i32, u32, i64, u64);

macro_rules! cast_float {
    ($($t:ty),*) => {$(
        impl CastElem for $t {
            #[inline] fn to_scalar(self) -> Scalar { Scalar::F(self as f64) }
            #[inline]
            fn from_scalar(s: Scalar) -> Self {
                match s { Scalar::F(f) => f as $t, Scalar::I(i) => i as $t, Scalar::B(b) => b as u8 as $t }
            }
        }
    )*};
}
cast_float!(f32, f64);

impl CastElem for f16 {
    #[inline]
    fn to_scalar(self) -> Scalar {
        Scalar::F(self.to_f64())
    }
    #[inline]
    fn from_scalar(s: Scalar) -> Self {
        match s {
            Scalar::F(f) => f16::from_f64(f),
            Scalar::I(i) => f16::from_f64(i as f64),
            Scalar::B(b) => if b { f16::ONE } else { f16::ZERO },
        }
    }
}

impl CastElem for bool {
    #[inline]
    fn to_scalar(self) -> Scalar {
        Scalar::B(self)
    }
    #[inline]
    fn from_scalar(s: Scalar) -> Self {
        match s {
            // NaN != 0, so NaN casts to true (as numpy and ONNX do).
            Scalar::F(f) => f != 0.0,
            Scalar::I(i) => i != 0,
            Scalar::B(b) => b,
        }
    }
}

fn cast_typed<S: CastElem, D: CastElem>(x: &Tensor, out: &mut Tensor) -> Result<()> {
    let xv = data::<S>(x)?;
    check_len(out, xv.len())?;
    let ov = data_mut::<D>(out)?;
    let f = |o: &mut [D], i: &[S]| o.iter_mut().zip(i).for_each(|(o, &v)| *o = D::from_scalar(v.to_scalar()));
    const CHUNK: usize = super::data_elem::PAR_THRESHOLD;
    if ov.len() < CHUNK {
        f(ov, xv);
    } else {
        ov.par_chunks_mut(CHUNK).zip(xv.par_chunks(CHUNK)).for_each(|(o, i)| f(o, i));
    }
    Ok(())
}

/// Casts `x` into `out` (whose dtype is the target).
pub fn cast(x: &Tensor, out: &mut Tensor) -> Result<()> {
    if x.dtype() == out.dtype() {
        check_len(out, x.numel())?;
        out.data = x.data.clone();
        return Ok(());
    }
    typed!(x.dtype(), S => typed!(out.dtype(), D => cast_typed::<S, D>(x, out)))
}
