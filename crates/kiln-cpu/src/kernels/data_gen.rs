//! Kernels that generate tensors: shape, size, range, fill (ConstantOfShape), eye-like.

use super::data_elem::{check_len, data_mut, Elem};
use kiln_core::error::Result;
use kiln_core::infer::data::params::shape_bounds;
use kiln_core::tensor::{Tensor, TensorData};
use kiln_core::kiln_bail;

pub fn shape(start: Option<i64>, end: Option<i64>, x: &Tensor, out: &mut Tensor) -> Result<()> {
    let (s, e) = shape_bounds(x.rank(), start, end);
    check_len(out, e - s)?;
    data_mut::<i64>(out)?.iter_mut().zip(&x.shape[s..e]).for_each(|(o, &d)| *o = d as i64);
    Ok(())
}

pub fn size(x: &Tensor, out: &mut Tensor) -> Result<()> {
    check_len(out, 1)?;
    data_mut::<i64>(out)?[0] = x.numel() as i64;
    Ok(())
}

/// Range: integers step exactly in i64 (wrapping cast to the element type); floats in f64.
pub fn range(start: &Tensor, delta: &Tensor, out: &mut Tensor) -> Result<()> {
    let n = out.numel();
    if start.numel() != 1 || delta.numel() != 1 {
        kiln_bail!(InvalidNetwork, "range start and delta must be scalars");
    }
    if start.dtype().is_float() {
        let (s, d) = (start.data.to_f64_vec()[0], delta.data.to_f64_vec()[0]);
        let v: Vec<f64> = (0..n).map(|i| s + i as f64 * d).collect();
        out.data = TensorData::from_f64_vec(out.dtype(), &v);
    } else {
        let (s, d) = (start.data.to_i64_vec()[0], delta.data.to_i64_vec()[0]);
        let v: Vec<i64> = (0..n as i64).map(|i| s.wrapping_add(i.wrapping_mul(d))).collect();
        out.data = match out.dtype() {
            kiln_core::DType::Int64 => TensorData::I64(v),
            kiln_core::DType::Int32 => TensorData::I32(v.into_iter().map(|x| x as i32).collect()),
            kiln_core::DType::Int16 => TensorData::I16(v.into_iter().map(|x| x as i16).collect()),
            kiln_core::DType::Int8 => TensorData::I8(v.into_iter().map(|x| x as i8).collect()),
            kiln_core::DType::Uint8 => TensorData::U8(v.into_iter().map(|x| x as u8).collect()),
            kiln_core::DType::Uint16 => TensorData::U16(v.into_iter().map(|x| x as u16).collect()),
            kiln_core::DType::Uint32 => TensorData::U32(v.into_iter().map(|x| x as u32).collect()),
            kiln_core::DType::Uint64 => TensorData::U64(v.into_iter().map(|x| x as u64).collect()),
            d => kiln_bail!(UnsupportedDtype, "range does not produce {d}"),
        };
    }
    Ok(())
}

pub fn fill<T: Elem>(value: f64, out: &mut Tensor) -> Result<()> {
    data_mut::<T>(out)?.fill(T::from_f64(value));
    Ok(())
}

pub fn eye_like<T: Elem>(k: i64, out: &mut Tensor) -> Result<()> {
    let (rows, cols) = match out.shape.as_slice() {
        &[r, c] => (r, c),
        s => kiln_bail!(InvalidNetwork, "eyeLike needs a 2-D shape, got {:?}", s),
    };
    let ov = data_mut::<T>(out)?;
    ov.fill(T::zero());
    for i in 0..rows {
        let j = i as i64 + k;
        if j >= 0 && (j as usize) < cols {
            ov[i * cols + j as usize] = T::one();
        }
    }
    Ok(())
}
