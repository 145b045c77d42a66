//! Data-movement kernels that only rearrange elements: copies (identity/reshape family), concat,
//! split, transpose, expand, tile, slice, pad, depth/space rearrangements.

use super::data_elem::{check_len, data, data_mut, Elem};
use super::data_strided::{istrides, strided_copy};
use kiln_core::error::Result;
use kiln_core::infer::data::params::{pad_params, slice_params, transpose_perm};
use kiln_core::kiln_bail;
use kiln_core::layer::{DepthToSpaceMode, PadMode};
use kiln_core::tensor::Tensor;

/// Identity, reshape, flatten, squeeze, unsqueeze: the bytes do not change.
pub fn copy<T: Elem>(x: &Tensor, out: &mut Tensor) -> Result<()> {
    check_len(out, x.numel())?;
    data_mut::<T>(out)?.copy_from_slice(data::<T>(x)?);
    Ok(())
}

pub fn concat<T: Elem>(axis: usize, inputs: &[&Tensor], out: &mut Tensor) -> Result<()> {
    let outer: usize = out.shape[..axis].iter().product();
    let inner: usize = out.shape[axis + 1..].iter().product();
    let srcs: Vec<&[T]> = inputs.iter().map(|t| data::<T>(t)).collect::<Result<_>>()?;
    let blocks: Vec<usize> = inputs.iter().map(|t| t.shape.get(axis).copied().unwrap_or(0) * inner).collect();
    let row: usize = blocks.iter().sum();
    check_len(out, outer * row)?;
    for (s, &b) in srcs.iter().zip(&blocks) {
        if s.len() != outer * b {
            kiln_bail!(Internal, "concatenation input has {} elements, expected {}", s.len(), outer * b);
        }
    }
    let ov = data_mut::<T>(out)?;
    let mut at = 0;
    for o in 0..outer {
        for (s, &b) in srcs.iter().zip(&blocks) {
            ov[at..at + b].copy_from_slice(&s[o * b..(o + 1) * b]);
            at += b;
        }
    }
    Ok(())
}

pub fn split<T: Elem>(axis: usize, x: &Tensor, outputs: &mut [Tensor]) -> Result<()> {
    let outer: usize = x.shape[..axis].iter().product();
    let inner: usize = x.shape[axis + 1..].iter().product();
    let src = data::<T>(x)?;
    let blocks: Vec<usize> = outputs.iter().map(|t| t.shape.get(axis).copied().unwrap_or(0) * inner).collect();
    let row: usize = blocks.iter().sum();
    if row * outer != src.len() {
        kiln_bail!(Internal, "split outputs hold {} elements, input has {}", row * outer, src.len());
    }
    let mut start = 0;
    for (t, &b) in outputs.iter_mut().zip(&blocks) {
        check_len(t, outer * b)?;
        let ov = data_mut::<T>(t)?;
        for o in 0..outer {
            ov[o * b..(o + 1) * b].copy_from_slice(&src[o * row + start..o * row + start + b]);
        }
        start += b;
    }
    Ok(())
}

pub fn transpose<T: Elem>(perm: &[usize], x: &Tensor, out: &mut Tensor) -> Result<()> {
    let p = transpose_perm(perm, x.rank())?;
    let st = istrides(&x.shape);
    let dims: Vec<usize> = p.iter().map(|&i| x.shape[i]).collect();
    let strides: Vec<isize> = p.iter().map(|&i| st[i]).collect();
    strided_copy(data::<T>(x)?, 0, &dims, &strides, data_mut::<T>(out)?)
}

/// Expand: read `x` with stride 0 along broadcast axes.
pub fn expand<T: Elem>(x: &Tensor, out: &mut Tensor) -> Result<()> {
    let rank = out.rank();
    if x.rank() > rank {
        kiln_bail!(Internal, "expand output rank {rank} is below the input rank {}", x.rank());
    }
    let st = istrides(&x.shape);
    let off = rank - x.rank();
    let mut strides = vec![0isize; rank];
    for i in 0..x.rank() {
        if x.shape[i] == out.shape[i + off] {
            strides[i + off] = st[i];
        } else if x.shape[i] != 1 {
            kiln_bail!(ShapeMismatch, "cannot expand {:?} to {:?}", x.shape, out.shape);
        }
    }
    let dims = out.shape.clone();
    strided_copy(data::<T>(x)?, 0, &dims, &strides, data_mut::<T>(out)?)
}

/// Tile: the output viewed as [r0, d0, r1, d1, …] reads the input with stride 0 on each repeat axis.
pub fn tile<T: Elem>(x: &Tensor, out: &mut Tensor) -> Result<()> {
    let st = istrides(&x.shape);
    let mut dims = Vec::with_capacity(2 * x.rank());
    let mut strides = Vec::with_capacity(2 * x.rank());
    for i in 0..x.rank() {
        let d = x.shape[i];
        let o = out.shape.get(i).copied().unwrap_or(0);
        let reps = if d == 0 { 0 } else { o / d };
        if reps * d != o {
            kiln_bail!(Internal, "tile output dim {o} is not a multiple of input dim {d}");
        }
        dims.extend([reps, d]);
        strides.extend([0, st[i]]);
    }
    if x.numel() == 0 {
        return check_len(out, 0);
    }
    strided_copy(data::<T>(x)?, 0, &dims, &strides, data_mut::<T>(out)?)
}

pub fn slice<T: Elem>(x: &Tensor, starts: &[i64], ends: &[i64], axes: Option<&[i64]>, steps: Option<&[i64]>, out: &mut Tensor) -> Result<()> {
    let p = slice_params(&x.shape, starts, ends, axes, steps)?;
    let st = istrides(&x.shape);
    let dims: Vec<usize> = p.iter().map(|a| a.len).collect();
    if dims.iter().any(|&d| d == 0) {
        return check_len(out, 0);
    }
    let base: isize = p.iter().zip(&st).map(|(a, &s)| a.start as isize * s).sum();
    let strides: Vec<isize> = p.iter().zip(&st).map(|(a, &s)| a.step as isize * s).collect();
    strided_copy(data::<T>(x)?, base, &dims, &strides, data_mut::<T>(out)?)
}

/// Maps output coordinate `o` of one axis to an input coordinate (None = constant fill).
/// Negative pads crop first; the remaining extent `[lo, lo + n)` is then padded by the mode.
fn pad_map(mode: PadMode, o: i64, begin: i64, lo: i64, n: i64) -> Option<i64> {
    let i = o - begin.max(0);
    if (0..n).contains(&i) {
        return Some(lo + i);
    }
    if n == 0 {
        return None;
    }
    let m = match mode {
        PadMode::Constant => return None,
        PadMode::Edge => i.clamp(0, n - 1),
        PadMode::Wrap => i.rem_euclid(n),
        PadMode::Reflect => {
            if n == 1 {
                0
            } else {
                let period = 2 * (n - 1);
                let r = i.rem_euclid(period);
                if r < n { r } else { period - r }
            }
        }
    };
    Some(lo + m)
}

pub fn pad<T: Elem>(mode: PadMode, x: &Tensor, pads: &[i64], value: T, axes: Option<&[i64]>, out: &mut Tensor) -> Result<()> {
    let rank = x.rank();
    let (begin, end) = pad_params(rank, pads, axes)?;
    let src = data::<T>(x)?;
    let total = out.numel();
    // Per-axis coordinate maps, computed once.
    let mut maps: Vec<Vec<Option<usize>>> = Vec::with_capacity(rank);
    for a in 0..rank {
        let d = x.shape[a] as i64;
        let lo = (-begin[a]).max(0);
        let n = d - lo - (-end[a]).max(0);
        if n < 0 {
            kiln_bail!(ShapeMismatch, "pad crops axis {a} (size {d}) by more than its size");
        }
        let od = out.shape[a] as i64;
        if od != n + begin[a].max(0) + end[a].max(0) {
            kiln_bail!(Internal, "pad output dim {od} on axis {a} does not match pads");
        }
        if n == 0 && mode != PadMode::Constant && od > 0 {
            kiln_bail!(InvalidValue, "{:?} padding needs at least one element on axis {a}, which is empty (after cropping)", mode);
        }
        maps.push((0..od).map(|o| pad_map(mode, o, begin[a], lo, n).map(|v| v as usize)).collect());
    }
    if total == 0 {
        return Ok(());
    }
    let st = kiln_core::tensor::strides(&x.shape);
    let out_shape = out.shape.clone();
    let ov = data_mut::<T>(out)?;
    if rank == 0 {
        ov.copy_from_slice(src);
        return Ok(());
    }
    let inner = *out_shape.last().unwrap_or(&1);
    let last = &maps[rank - 1];
    let outer_dims = &out_shape[..rank - 1];
    let mut idx = vec![0usize; rank - 1];
    for row in ov.chunks_mut(inner) {
        // Input offset of this row, or None when an outer coordinate falls in a constant pad.
        let mut base = Some(0usize);
        for (a, &i) in idx.iter().enumerate() {
            base = match (base, maps[a][i]) {
                (Some(b), Some(m)) => Some(b + m * st[a]),
                _ => None,
            };
        }
        match base {
            None => row.fill(value),
            Some(b) => {
                for (o, m) in row.iter_mut().zip(last) {
                    *o = match m {
                        Some(i) => src[b + i],
                        None => value,
                    };
                }
            }
        }
        let mut d = outer_dims.len();
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            if idx[d] < outer_dims[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(())
}

/// DepthToSpace as a 6-D strided view of the input.
pub fn depth_to_space<T: Elem>(block: usize, mode: DepthToSpaceMode, x: &Tensor, out: &mut Tensor) -> Result<()> {
    let &[n, c, h, w] = x.shape.as_slice() else {
        kiln_bail!(InvalidNetwork, "depthToSpace needs a 4-D input, got {:?}", x.shape);
    };
    let b = block;
    if b == 0 || c % (b * b) != 0 {
        kiln_bail!(ShapeMismatch, "depthToSpace: channels {c} are not divisible by block_size² ({b}²)");
    }
    let oc = c / (b * b);
    // Input viewed as 6-D, then read in output order [n, oc, h, b1, w, b2].
    let (view, perm): ([usize; 6], [usize; 6]) = match mode {
        DepthToSpaceMode::Dcr => ([n, b, b, oc, h, w], [0, 3, 4, 1, 5, 2]),
        DepthToSpaceMode::Crd => ([n, oc, b, b, h, w], [0, 1, 4, 2, 5, 3]),
    };
    let st = istrides(&view);
    let dims: Vec<usize> = perm.iter().map(|&p| view[p]).collect();
    let strides: Vec<isize> = perm.iter().map(|&p| st[p]).collect();
    strided_copy(data::<T>(x)?, 0, &dims, &strides, data_mut::<T>(out)?)
}

pub fn space_to_depth<T: Elem>(block: usize, x: &Tensor, out: &mut Tensor) -> Result<()> {
    let &[n, c, h, w] = x.shape.as_slice() else {
        kiln_bail!(InvalidNetwork, "spaceToDepth needs a 4-D input, got {:?}", x.shape);
    };
    let b = block;
    if b == 0 || h % b != 0 || w % b != 0 {
        kiln_bail!(ShapeMismatch, "spaceToDepth: spatial dims {h}x{w} are not divisible by block_size {b}");
    }
    let view = [n, c, h / b, b, w / b, b];
    let perm = [0usize, 3, 5, 1, 2, 4];
    let st = istrides(&view);
    let dims: Vec<usize> = perm.iter().map(|&p| view[p]).collect();
    let strides: Vec<isize> = perm.iter().map(|&p| st[p]).collect();
    strided_copy(data::<T>(x)?, 0, &dims, &strides, data_mut::<T>(out)?)
}
