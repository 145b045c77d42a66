//! Parameter normalisation shared by shape inference and the CPU kernels (broadcast shapes, axes,
//! slice bounds, pads, reshape targets, split sizes), so inference and kernels can never disagree.

use crate::error::Result;
use crate::{kiln_bail, kiln_err};

/// Normalises `axis` (negative counts from the end) into `[0, rank)`.
pub fn normalize_axis(axis: i64, rank: usize, what: &str) -> Result<usize> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        kiln_bail!(InvalidNetwork, "{what} axis {axis} is out of range for rank {rank} (valid: {}..={})", -r, r - 1);
    }
    Ok(if axis < 0 { (axis + r) as usize } else { axis as usize })
}

/// Normalises a list of axes and refuses duplicates.
pub fn normalize_axes(axes: &[i64], rank: usize, what: &str) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = normalize_axis(a, rank, what)?;
        if out.contains(&n) {
            kiln_bail!(InvalidNetwork, "{what} axes {:?} name axis {n} twice; list each axis once", axes);
        }
        out.push(n);
    }
    Ok(out)
}

/// Multidirectional (numpy) broadcasting of dims where -1 means unknown.
/// A -1 against a 1 gives -1, against n>1 gives n.
pub fn broadcast_dims(a: &[i64], b: &[i64]) -> Result<Vec<i64>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0i64; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            (-1, y) => y,
            (x, -1) => x,
            (x, y) => kiln_bail!(
                ShapeMismatch,
                "cannot broadcast {:?} with {:?}: dimension {i} is {x} vs {y} (dims must match or one must be 1)",
                a,
                b
            ),
        };
    }
    Ok(out)
}

/// Broadcasts several concrete shapes together.
pub fn broadcast_shapes(shapes: &[&[usize]]) -> Result<Vec<usize>> {
    let mut acc: Vec<i64> = Vec::new();
    for s in shapes {
        let d: Vec<i64> = s.iter().map(|&x| x as i64).collect();
        acc = broadcast_dims(&acc, &d)?;
    }
    Ok(acc.into_iter().map(|d| d as usize).collect())
}

/// One axis of a normalised slice: the first input index, the step and the output length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceAxis {
    pub start: i64,
    pub step: i64,
    pub len: usize,
}

/// ONNX Slice-13 semantics for one axis of size `dim`: negative starts/ends count from the end,
/// values are clamped ([0, dim] for positive steps, [-1, dim-1] for negative steps), so the
/// INT64_MAX/INT64_MIN sentinels work.
pub fn slice_axis(dim: i64, start: i64, end: i64, step: i64) -> Result<SliceAxis> {
    if step == 0 {
        kiln_bail!(InvalidNetwork, "slice step must not be 0");
    }
    let fix = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
    let (s, e) = (fix(start), fix(end));
    let (s, e) = if step > 0 { (s.clamp(0, dim), e.clamp(0, dim)) } else { (s.clamp(-1, dim - 1), e.clamp(-1, dim - 1)) };
    let len = if step > 0 {
        if e > s { ((e - s) as u64).div_ceil(step as u64) } else { 0 }
    } else if s > e {
        ((s - e) as u64).div_ceil(step.unsigned_abs())
    } else {
        0
    };
    Ok(SliceAxis { start: s, step, len: len as usize })
}

/// Normalises Slice parameters over every axis of `dims` (axes not listed take the whole axis).
pub fn slice_params(dims: &[usize], starts: &[i64], ends: &[i64], axes: Option<&[i64]>, steps: Option<&[i64]>) -> Result<Vec<SliceAxis>> {
    let rank = dims.len();
    if starts.len() != ends.len() {
        kiln_bail!(InvalidNetwork, "slice starts ({}) and ends ({}) must have the same length", starts.len(), ends.len());
    }
    let axes: Vec<usize> = match axes {
        Some(a) => {
            if a.len() != starts.len() {
                kiln_bail!(InvalidNetwork, "slice axes ({}) must have as many entries as starts ({})", a.len(), starts.len());
            }
            normalize_axes(a, rank, "slice")?
        }
        None => {
            if starts.len() > rank {
                kiln_bail!(InvalidNetwork, "slice has {} starts but the input has rank {rank}", starts.len());
            }
            (0..starts.len()).collect()
        }
    };
    if let Some(s) = steps {
        if s.len() != starts.len() {
            kiln_bail!(InvalidNetwork, "slice steps ({}) must have as many entries as starts ({})", s.len(), starts.len());
        }
    }
    let mut out: Vec<SliceAxis> = dims.iter().map(|&d| SliceAxis { start: 0, step: 1, len: d }).collect();
    for (i, &ax) in axes.iter().enumerate() {
        let step = steps.map_or(1, |s| s[i]);
        out[ax] = slice_axis(dims[ax] as i64, starts[i], ends[i], step)?;
    }
    Ok(out)
}

/// Pad amounts per axis (`begin[i]`, `end[i]`; negative = crop) from ONNX `pads` ([begins…, ends…]
/// over `axes`, default all axes).
pub fn pad_params(rank: usize, pads: &[i64], axes: Option<&[i64]>) -> Result<(Vec<i64>, Vec<i64>)> {
    let axes: Vec<usize> = match axes {
        Some(a) => normalize_axes(a, rank, "pad")?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        kiln_bail!(
            InvalidNetwork,
            "pad needs 2 × {} pads ([begin…, end…] for each padded axis), got {}",
            axes.len(),
            pads.len()
        );
    }
    let mut begin = vec![0i64; rank];
    let mut end = vec![0i64; rank];
    for (i, &ax) in axes.iter().enumerate() {
        begin[ax] = pads[i];
        end[ax] = pads[i + axes.len()];
    }
    Ok((begin, end))
}

/// Output dims of a Pad (-1 stays unknown).
pub fn padded_dims(dims: &[i64], begin: &[i64], end: &[i64]) -> Result<Vec<i64>> {
    dims.iter()
        .enumerate()
        .map(|(i, &d)| {
            if d < 0 {
                return Ok(-1);
            }
            let n = d + begin[i] + end[i];
            if n < 0 {
                kiln_bail!(ShapeMismatch, "pad crops axis {i} (size {d}) by more than its size (pads {} and {})", begin[i], end[i]);
            }
            Ok(n)
        })
        .collect()
}

/// ONNX Reshape target: 0 copies the input dim (unless `allow_zero`), one -1 is inferred.
/// Input dims may be -1 (unknown); the result then has -1 where it cannot be known.
pub fn reshape_dims(input: &[i64], shape: &[i64], allow_zero: bool) -> Result<Vec<i64>> {
    let mut out = Vec::with_capacity(shape.len());
    let mut infer_at = None;
    for (i, &s) in shape.iter().enumerate() {
        match s {
            -1 => {
                if infer_at.is_some() {
                    kiln_bail!(InvalidNetwork, "reshape shape {:?} has more than one -1", shape);
                }
                infer_at = Some(i);
                out.push(-1);
            }
            0 if !allow_zero => {
                if i >= input.len() {
                    kiln_bail!(InvalidNetwork, "reshape shape {:?} copies dim {i} (0) but the input has rank {}", shape, input.len());
                }
                out.push(input[i]);
            }
            s if s < 0 => kiln_bail!(InvalidNetwork, "reshape shape {:?} has invalid dim {s}", shape),
            s => out.push(s),
        }
    }
    if allow_zero && infer_at.is_some() && shape.contains(&0) {
        kiln_bail!(InvalidNetwork, "reshape shape {:?} has both 0 and -1 with allow_zero set", shape);
    }
    let in_known = input.iter().all(|&d| d >= 0);
    let in_count: Option<u128> = in_known.then(|| input.iter().map(|&d| d as u128).product());
    let others_known = out.iter().enumerate().all(|(i, &d)| Some(i) == infer_at || d >= 0);
    let others: u128 = out.iter().enumerate().filter(|(i, _)| Some(*i) != infer_at).map(|(_, &d)| d.max(0) as u128).product();
    match (infer_at, in_count) {
        (Some(at), Some(n)) if others_known => {
            if others == 0 || n % others != 0 {
                kiln_bail!(ShapeMismatch, "cannot reshape {:?} ({n} elements) to {:?}: {n} is not divisible by {others}", input, shape);
            }
            out[at] = (n / others) as i64;
        }
        (None, Some(n)) if others_known && n != others => {
            kiln_bail!(ShapeMismatch, "cannot reshape {:?} ({n} elements) to {:?} ({others} elements)", input, out);
        }
        _ => {}
    }
    Ok(out)
}

/// Sizes of the `num_outputs` pieces of an axis of length `dim`: explicit `sizes`, or the ONNX-18
/// rule (each piece ceil(dim / n), the last ones smaller).
pub fn split_sizes(dim: usize, num_outputs: usize, sizes: Option<&[i64]>) -> Result<Vec<usize>> {
    if num_outputs == 0 {
        kiln_bail!(InvalidNetwork, "split needs at least one output");
    }
    match sizes {
        Some(s) => {
            if s.len() != num_outputs {
                kiln_bail!(InvalidNetwork, "split has {} sizes but {num_outputs} outputs", s.len());
            }
            if s.iter().any(|&x| x < 0) {
                kiln_bail!(InvalidNetwork, "split sizes {:?} must not be negative", s);
            }
            let total: i64 = s.iter().sum();
            if total != dim as i64 {
                kiln_bail!(ShapeMismatch, "split sizes {:?} sum to {total} but the axis has {dim} elements", s);
            }
            Ok(s.iter().map(|&x| x as usize).collect())
        }
        None => {
            let chunk = dim.div_ceil(num_outputs);
            let mut left = dim;
            Ok((0..num_outputs)
                .map(|_| {
                    let n = chunk.min(left);
                    left -= n;
                    n
                })
                .collect())
        }
    }
}

/// Number of elements of ONNX Range: max(ceil((limit - start) / delta), 0).
pub fn range_len(start: f64, limit: f64, delta: f64) -> Result<usize> {
    if delta == 0.0 || !delta.is_finite() || !start.is_finite() || !limit.is_finite() {
        kiln_bail!(InvalidValue, "range needs finite start/limit and a non-zero finite delta (got {start}, {limit}, {delta})");
    }
    let n = ((limit - start) / delta).ceil();
    if n > crate::tensor::MAX_ELEMENTS as f64 {
        kiln_bail!(TensorTooLarge, "range({start}, {limit}, {delta}) would have {n} elements");
    }
    Ok(n.max(0.0) as usize)
}

/// Integer form of `range_len`, exact for int64 bounds.
pub fn range_len_i64(start: i64, limit: i64, delta: i64) -> Result<usize> {
    if delta == 0 {
        kiln_bail!(InvalidValue, "range delta must not be 0");
    }
    let span = limit as i128 - start as i128;
    let d = delta as i128;
    let n = if (span > 0 && d > 0) || (span < 0 && d < 0) { (span.abs() + d.abs() - 1) / d.abs() } else { 0 };
    if n > crate::tensor::MAX_ELEMENTS as i128 {
        kiln_bail!(TensorTooLarge, "range({start}, {limit}, {delta}) would have {n} elements");
    }
    Ok(n as usize)
}

/// ONNX Shape start/end: negative counts from the end, both clamped to [0, rank].
pub fn shape_bounds(rank: usize, start: Option<i64>, end: Option<i64>) -> (usize, usize) {
    let r = rank as i64;
    let fix = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let s = fix(start.unwrap_or(0));
    let e = fix(end.unwrap_or(r));
    (s, e.max(s))
}

/// Normalised Unsqueeze axes (relative to the output rank), sorted.
pub fn unsqueeze_axes(axes: &[i64], in_rank: usize) -> Result<Vec<usize>> {
    let mut a = normalize_axes(axes, in_rank + axes.len(), "unsqueeze")?;
    a.sort_unstable();
    Ok(a)
}

/// Effective Transpose permutation (empty = reverse), validated.
pub fn transpose_perm(perm: &[usize], rank: usize) -> Result<Vec<usize>> {
    if perm.is_empty() {
        return Ok((0..rank).rev().collect());
    }
    if perm.len() != rank {
        kiln_bail!(InvalidNetwork, "transpose perm {:?} has {} entries but the input has rank {rank}", perm, perm.len());
    }
    let mut seen = vec![false; rank];
    for &p in perm {
        if p >= rank || seen[p] {
            kiln_bail!(InvalidNetwork, "transpose perm {:?} is not a permutation of 0..{rank}", perm);
        }
        seen[p] = true;
    }
    Ok(perm.to_vec())
}

/// Converts -1-free i64 dims into usize, erroring on negatives.
pub fn to_usize_dims(dims: &[i64], what: &str) -> Result<Vec<usize>> {
    dims.iter()
        .map(|&d| usize::try_from(d).map_err(|_| kiln_err!(InvalidValue, "{what} has negative dimension {d} in {:?}", dims)))
        .collect()
}
