//! Strided copy: fills a contiguous destination of shape `dims` from a source read at
//! `base + Σ idx[i] · strides[i]` (strides may be 0 or negative). Transpose, slice, expand, tile
//! and depth/space rearrangements are all this one loop with different strides.

use super::broadcast::par_rows;
use kiln_core::error::Result;
use kiln_core::kiln_bail;

pub fn strided_copy<T: Copy + Send + Sync>(src: &[T], base: isize, dims: &[usize], strides: &[isize], dst: &mut [T]) -> Result<()> {
    let n: usize = dims.iter().product();
    if dst.len() != n {
        kiln_bail!(Internal, "strided copy: destination holds {} elements, view has {n}", dst.len());
    }
    if n == 0 {
        return Ok(());
    }
    // Collapse: drop size-1 dims, merge neighbours that are contiguous with each other.
    let mut cd: Vec<usize> = Vec::new();
    let mut cs: Vec<isize> = Vec::new();
    for (&d, &s) in dims.iter().zip(strides) {
        if d == 1 {
            continue;
        }
        match (cd.last_mut(), cs.last_mut()) {
            (Some(pd), Some(ps)) if *ps == s * d as isize => {
                *pd *= d;
                *ps = s;
            }
            _ => {
                cd.push(d);
                cs.push(s);
            }
        }
    }
    if cd.is_empty() {
        cd.push(1);
        cs.push(0);
    }
    // Bounds of every offset the view can reach: checking them once makes the loop panic-free.
    let (mut lo, mut hi) = (base, base);
    for (&d, &s) in cd.iter().zip(&cs) {
        let ext = (d as isize - 1) * s;
        if ext < 0 { lo += ext } else { hi += ext }
    }
    if lo < 0 || hi as usize >= src.len() {
        kiln_bail!(Internal, "strided copy reads [{lo}, {hi}] outside a source of {} elements", src.len());
    }
    let last = cd.len() - 1;
    let (inner, is) = (cd[last], cs[last]);
    // Transposes that move the source's contiguous axis away from the end read with a large
    // stride; copying in square tiles keeps both sides in cache.
    if is != 1 && is != 0 && inner >= 8 {
        if let Some(k) = (0..last).find(|&a| cs[a] == 1 && cd[a] >= 8) {
            tiled_copy(src, base, &cd, &cs, k, dst);
            return Ok(());
        }
    }
    let outer_dims = &cd[..last];
    let outer_strides = &cs[..last];
    let rows: usize = outer_dims.iter().product();
    par_rows(dst, inner, rows, |first, chunk| {
        let mut idx = vec![0usize; outer_dims.len()];
        let mut rem = first;
        for d in (0..outer_dims.len()).rev() {
            idx[d] = rem % outer_dims[d];
            rem /= outer_dims[d];
        }
        let mut off: isize = base + idx.iter().zip(outer_strides).map(|(&i, &s)| i as isize * s).sum::<isize>();
        for row in chunk.chunks_mut(inner) {
            if is == 1 {
                row.copy_from_slice(&src[off as usize..off as usize + inner]);
            } else if is == 0 {
                row.fill(src[off as usize]);
            } else {
                for (j, o) in row.iter_mut().enumerate() {
                    *o = src[(off + j as isize * is) as usize];
                }
            }
            let mut d = outer_dims.len();
            while d > 0 {
                d -= 1;
                idx[d] += 1;
                off += outer_strides[d];
                if idx[d] < outer_dims[d] {
                    break;
                }
                off -= outer_strides[d] * outer_dims[d] as isize;
                idx[d] = 0;
            }
        }
    });
    Ok(())
}

/// Copies with axis `k` (source stride 1) and the last axis (destination stride 1) walked in
/// TILE × TILE blocks. Offsets were bounds-checked by the caller.
fn tiled_copy<T: Copy>(src: &[T], base: isize, cd: &[usize], cs: &[isize], k: usize, dst: &mut [T]) {
    const TILE: usize = 32;
    let last = cd.len() - 1;
    let inner = cd[last];
    let is = cs[last];
    let dst_st = kiln_core::tensor::strides(cd);
    let others: Vec<usize> = (0..last).filter(|&a| a != k).collect();
    let n_other: usize = others.iter().map(|&a| cd[a]).product();
    let mut idx = vec![0usize; others.len()];
    for _ in 0..n_other {
        let s0: isize = base + others.iter().zip(&idx).map(|(&a, &i)| i as isize * cs[a]).sum::<isize>();
        let d0: usize = others.iter().zip(&idx).map(|(&a, &i)| i * dst_st[a]).sum();
        for kb in (0..cd[k]).step_by(TILE) {
            for jb in (0..inner).step_by(TILE) {
                for kk in kb..(kb + TILE).min(cd[k]) {
                    let srow = s0 + kk as isize;
                    let drow = d0 + kk * dst_st[k];
                    for j in jb..(jb + TILE).min(inner) {
                        dst[drow + j] = src[(srow + j as isize * is) as usize];
                    }
                }
            }
        }
        let mut d = others.len();
        while d > 0 {
            d -= 1;
            idx[d] += 1;
            if idx[d] < cd[others[d]] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// Row-major strides as isize.
pub fn istrides(shape: &[usize]) -> Vec<isize> {
    kiln_core::tensor::strides(shape).into_iter().map(|s| s as isize).collect()
}
