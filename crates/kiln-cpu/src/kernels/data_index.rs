//! Index-driven kernels: gather/scatter family, one-hot, non-zero, trilu.

use super::data_elem::{check_len, data, data_mut, Elem};
use super::pointwise_ops::Arith;
use kiln_core::error::Result;
use kiln_core::kiln_bail;
use kiln_core::layer::ScatterReduction;
use kiln_core::tensor::{strides, Tensor};

/// Normalises a possibly negative index into `[0, n)`.
#[inline]
pub fn norm_index(i: i64, n: usize, what: &str) -> Result<usize> {
    let r = if i < 0 { i + n as i64 } else { i };
    if r < 0 || r >= n as i64 {
        kiln_bail!(InvalidValue, "{what} index {i} is out of range for an axis of size {n}");
    }
    Ok(r as usize)
}

pub fn gather<T: Elem>(axis: usize, x: &Tensor, indices: &[i64], out: &mut Tensor) -> Result<()> {
    let src = data::<T>(x)?;
    let outer: usize = x.shape[..axis].iter().product();
    let n = x.shape[axis];
    let inner: usize = x.shape[axis + 1..].iter().product();
    check_len(out, outer * indices.len() * inner)?;
    let idx: Vec<usize> = indices.iter().map(|&i| norm_index(i, n, "gather")).collect::<Result<_>>()?;
    let ov = data_mut::<T>(out)?;
    let mut at = 0;
    for o in 0..outer {
        for &i in &idx {
            let s = (o * n + i) * inner;
            ov[at..at + inner].copy_from_slice(&src[s..s + inner]);
            at += inner;
        }
    }
    Ok(())
}

/// Calls `f(index_position, coords)` for every element of `shape` in row-major order.
fn for_each_coord(shape: &[usize], mut f: impl FnMut(usize, &[usize]) -> Result<()>) -> Result<()> {
    let n: usize = shape.iter().product();
    let mut c = vec![0usize; shape.len()];
    for k in 0..n {
        f(k, &c)?;
        let mut d = shape.len();
        while d > 0 {
            d -= 1;
            c[d] += 1;
            if c[d] < shape[d] {
                break;
            }
            c[d] = 0;
        }
    }
    Ok(())
}

/// Offset in `x` of `coords` with the `axis` coordinate replaced by a validated index.
fn element_offset(x_shape: &[usize], st: &[usize], coords: &[usize], axis: usize, index: i64, what: &str) -> Result<usize> {
    let mut off = 0;
    for (d, &c) in coords.iter().enumerate() {
        let c = if d == axis { norm_index(index, x_shape[d], what)? } else { c };
        if c >= x_shape[d] {
            kiln_bail!(InvalidValue, "{what}: indices shape exceeds data shape on axis {d}");
        }
        off += c * st[d];
    }
    Ok(off)
}

pub fn gather_elements<T: Elem>(axis: usize, x: &Tensor, ishape: &[usize], indices: &[i64], out: &mut Tensor) -> Result<()> {
    let src = data::<T>(x)?;
    check_len(out, indices.len())?;
    let st = strides(&x.shape);
    let ov = data_mut::<T>(out)?;
    for_each_coord(ishape, |k, c| {
        ov[k] = src[element_offset(&x.shape, &st, c, axis, indices[k], "gatherElements")?];
        Ok(())
    })
}

/// For GatherNd/ScatterNd: offsets (in `x`) of the slices addressed by each index tuple.
/// `indices` is [batch…, tuples…, m]; returns one offset per tuple plus the slice length.
fn nd_offsets(x_shape: &[usize], batch_dims: usize, ishape: &[usize], indices: &[i64], what: &str) -> Result<(Vec<usize>, usize)> {
    let q = ishape.len();
    let m = ishape[q - 1];
    if batch_dims + m > x_shape.len() {
        kiln_bail!(InvalidNetwork, "{what}: index tuples of length {m} exceed the data rank {}", x_shape.len());
    }
    if ishape[..batch_dims] != x_shape[..batch_dims] {
        kiln_bail!(ShapeMismatch, "{what}: batch dims of indices {:?} and data {:?} differ", ishape, x_shape);
    }
    let st = strides(x_shape);
    let batch: usize = ishape[..batch_dims].iter().product();
    let tuples = if m == 0 { ishape[..q - 1].iter().product::<usize>() } else { indices.len() / m };
    let per_batch = tuples / batch.max(1);
    let batch_stride = if batch_dims == 0 { 0 } else { st[batch_dims - 1] };
    let slice: usize = x_shape[batch_dims + m..].iter().product();
    let mut offs = Vec::with_capacity(tuples);
    for t in 0..tuples {
        let mut off = (t / per_batch.max(1)) * batch_stride;
        for j in 0..m {
            let ax = batch_dims + j;
            off += norm_index(indices[t * m + j], x_shape[ax], what)? * st[ax];
        }
        offs.push(off);
    }
    Ok((offs, slice))
}

pub fn gather_nd<T: Elem>(batch_dims: usize, x: &Tensor, ishape: &[usize], indices: &[i64], out: &mut Tensor) -> Result<()> {
    let src = data::<T>(x)?;
    let (offs, slice) = nd_offsets(&x.shape, batch_dims, ishape, indices, "gatherNd")?;
    check_len(out, offs.len() * slice)?;
    let ov = data_mut::<T>(out)?;
    for (t, &o) in offs.iter().enumerate() {
        ov[t * slice..(t + 1) * slice].copy_from_slice(&src[o..o + slice]);
    }
    Ok(())
}

#[inline]
fn reduce<T: Arith>(r: ScatterReduction, old: T, new: T) -> T {
    match r {
        ScatterReduction::None => new,
        ScatterReduction::Add => T::add(old, new),
        ScatterReduction::Mul => T::mul(old, new),
        ScatterReduction::Max => T::max(old, new),
        ScatterReduction::Min => T::min(old, new),
    }
}

/// Applies `updates` at offsets computed by `target(k)`; `combine` merges old and new values.
fn scatter_elements_with<T: Elem>(
    axis: usize,
    data_t: &Tensor,
    ishape: &[usize],
    indices: &[i64],
    updates: &Tensor,
    out: &mut Tensor,
    combine: impl Fn(T, T) -> T,
) -> Result<()> {
    let upd = data::<T>(updates)?;
    if upd.len() != indices.len() {
        kiln_bail!(ShapeMismatch, "scatterElements updates ({}) and indices ({}) differ in size", upd.len(), indices.len());
    }
    check_len(out, data_t.numel())?;
    let st = strides(&data_t.shape);
    let ov = data_mut::<T>(out)?;
    ov.copy_from_slice(data::<T>(data_t)?);
    for_each_coord(ishape, |k, c| {
        let off = element_offset(&data_t.shape, &st, c, axis, indices[k], "scatterElements")?;
        ov[off] = combine(ov[off], upd[k]);
        Ok(())
    })
}

pub fn scatter_elements_none<T: Elem>(axis: usize, d: &Tensor, ishape: &[usize], idx: &[i64], u: &Tensor, out: &mut Tensor) -> Result<()> {
    scatter_elements_with::<T>(axis, d, ishape, idx, u, out, |_, n| n)
}

pub fn scatter_elements_reduce<T: Arith>(
    axis: usize,
    r: ScatterReduction,
    d: &Tensor,
    ishape: &[usize],
    idx: &[i64],
    u: &Tensor,
    out: &mut Tensor,
) -> Result<()> {
    scatter_elements_with::<T>(axis, d, ishape, idx, u, out, |o, n| reduce(r, o, n))
}

fn scatter_nd_with<T: Elem>(d: &Tensor, ishape: &[usize], idx: &[i64], u: &Tensor, out: &mut Tensor, combine: impl Fn(T, T) -> T) -> Result<()> {
    let (offs, slice) = nd_offsets(&d.shape, 0, ishape, idx, "scatterNd")?;
    let upd = data::<T>(u)?;
    if upd.len() != offs.len() * slice {
        kiln_bail!(ShapeMismatch, "scatterNd updates hold {} elements, indices address {}", upd.len(), offs.len() * slice);
    }
    check_len(out, d.numel())?;
    let ov = data_mut::<T>(out)?;
    ov.copy_from_slice(data::<T>(d)?);
    for (t, &o) in offs.iter().enumerate() {
        for j in 0..slice {
            ov[o + j] = combine(ov[o + j], upd[t * slice + j]);
        }
    }
    Ok(())
}

pub fn scatter_nd_none<T: Elem>(d: &Tensor, ishape: &[usize], idx: &[i64], u: &Tensor, out: &mut Tensor) -> Result<()> {
    scatter_nd_with::<T>(d, ishape, idx, u, out, |_, n| n)
}

pub fn scatter_nd_reduce<T: Arith>(r: ScatterReduction, d: &Tensor, ishape: &[usize], idx: &[i64], u: &Tensor, out: &mut Tensor) -> Result<()> {
    scatter_nd_with::<T>(d, ishape, idx, u, out, |o, n| reduce(r, o, n))
}

/// OneHot: `indices` (as f64 so float indices work), output dims = indices dims with depth at `axis`.
pub fn one_hot<T: Elem>(axis: usize, indices: &[f64], depth: usize, off: T, on: T, out: &mut Tensor) -> Result<()> {
    let outer: usize = out.shape[..axis].iter().product();
    let inner: usize = out.shape[axis + 1..].iter().product();
    check_len(out, outer * depth * inner)?;
    if indices.len() != outer * inner {
        kiln_bail!(Internal, "oneHot indices ({}) do not match the output shape {:?}", indices.len(), out.shape);
    }
    let ov = data_mut::<T>(out)?;
    ov.fill(off);
    for o in 0..outer {
        for i in 0..inner {
            // Negative indices count from the end; out-of-range indices leave an all-off row.
            let mut v = indices[o * inner + i].trunc();
            if v < 0.0 {
                v += depth as f64;
            }
            if v >= 0.0 && v < depth as f64 {
                ov[(o * depth + v as usize) * inner + i] = on;
            }
        }
    }
    Ok(())
}

pub fn non_zero<T: Elem>(x: &Tensor, out: &mut Tensor) -> Result<()> {
    let src = data::<T>(x)?;
    let shape: Vec<usize> = if x.shape.is_empty() { vec![1] } else { x.shape.clone() };
    let nnz = src.iter().filter(|v| v.is_nonzero()).count();
    check_len(out, shape.len() * nnz)?;
    let ov = data_mut::<i64>(out)?;
    let mut col = 0;
    for_each_coord(&shape, |k, c| {
        if src[k].is_nonzero() {
            for (d, &v) in c.iter().enumerate() {
                ov[d * nnz + col] = v as i64;
            }
            col += 1;
        }
        Ok(())
    })
}

pub fn trilu<T: Elem>(upper: bool, k: i64, x: &Tensor, out: &mut Tensor) -> Result<()> {
    let r = x.rank();
    let (rows, cols) = (x.shape[r - 2], x.shape[r - 1]);
    let src = data::<T>(x)?;
    check_len(out, src.len())?;
    let ov = data_mut::<T>(out)?;
    let mat = rows * cols;
    if mat == 0 {
        return Ok(());
    }
    for (o, s) in ov.chunks_mut(mat).zip(src.chunks(mat)) {
        for i in 0..rows {
            for j in 0..cols {
                let d = j as i64 - i as i64;
                let keep = if upper { d >= k } else { d <= k };
                o[i * cols + j] = if keep { s[i * cols + j] } else { T::zero() };
            }
        }
    }
    Ok(())
}
