//! Inference for layers that move data without computing on it: concat, split, transpose, reshape
//! family, expand, tile, slice, pad, depth/space rearrangements.

use super::params::*;
use super::{input, int_values, known_len, optional};
use crate::error::Result;
use crate::infer::{InferInput, TensorInfo};
use crate::kiln_bail;

pub fn infer_concat(axis: i64, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let present: Vec<&InferInput> = inputs.iter().flatten().collect();
    let Some(first) = present.first() else {
        kiln_bail!(InvalidNetwork, "concatenation needs at least one input");
    };
    let rank = first.info.rank();
    let ax = normalize_axis(axis, rank, "concatenation")?;
    let mut dims = first.info.dims.clone();
    for (i, x) in present.iter().enumerate().skip(1) {
        if x.info.dtype != first.info.dtype {
            kiln_bail!(UnsupportedDtype, "concatenation input {i} is {} but input 0 is {}", x.info.dtype, first.info.dtype);
        }
        if x.info.rank() != rank {
            kiln_bail!(ShapeMismatch, "concatenation input {i} has rank {} but input 0 has rank {rank}", x.info.rank());
        }
        for d in 0..rank {
            let v = x.info.dims[d];
            if d == ax {
                dims[d] = if dims[d] < 0 || v < 0 { -1 } else { dims[d] + v };
            } else if dims[d] < 0 {
                dims[d] = v;
            } else if v >= 0 && v != dims[d] {
                kiln_bail!(
                    ShapeMismatch,
                    "concatenation along axis {ax}: input {i} has dims {:?}, incompatible with {:?} at axis {d}",
                    x.info.dims,
                    first.info.dims
                );
            }
        }
    }
    Ok(vec![TensorInfo::new(first.info.dtype, dims)])
}

pub fn infer_split(axis: i64, num_outputs: usize, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    let ax = normalize_axis(axis, x.info.rank(), "split")?;
    let sizes = match optional(inputs, 1) {
        Some(s) => Some(int_values(s, "split sizes")?),
        None => None,
    };
    let dim = x.info.dims[ax];
    let per: Vec<i64> = match (sizes, dim) {
        (Some(Some(s)), d) if d >= 0 => split_sizes(d as usize, num_outputs, Some(&s))?.into_iter().map(|v| v as i64).collect(),
        (Some(Some(s)), _) => {
            if s.len() != num_outputs {
                kiln_bail!(InvalidNetwork, "split has {} sizes but {num_outputs} outputs", s.len());
            }
            s
        }
        (Some(None), _) => vec![-1; num_outputs],
        (None, d) if d >= 0 => split_sizes(d as usize, num_outputs, None)?.into_iter().map(|v| v as i64).collect(),
        (None, _) => {
            if num_outputs == 0 {
                kiln_bail!(InvalidNetwork, "split needs at least one output");
            }
            vec![-1; num_outputs]
        }
    };
    Ok(per
        .into_iter()
        .map(|n| {
            let mut dims = x.info.dims.clone();
            dims[ax] = n;
            TensorInfo::new(x.info.dtype, dims)
        })
        .collect())
}

pub fn infer_transpose(perm: &[usize], inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    let p = transpose_perm(perm, x.info.rank())?;
    Ok(vec![TensorInfo::new(x.info.dtype, p.iter().map(|&i| x.info.dims[i]).collect())])
}

pub fn infer_reshape(allow_zero: bool, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    let s = input(inputs, 1, "shape")?;
    let dims = match int_values(s, "reshape shape")? {
        Some(shape) => reshape_dims(&x.info.dims, &shape, allow_zero)?,
        None => match known_len(s) {
            Some(n) => vec![-1; n],
            None => kiln_bail!(InvalidNetwork, "reshape needs the length of its shape input to be known (got dims {:?})", s.info.dims),
        },
    };
    Ok(vec![TensorInfo::new(x.info.dtype, dims)])
}

fn product(dims: &[i64]) -> i64 {
    if dims.iter().any(|&d| d < 0) {
        -1
    } else {
        dims.iter().product()
    }
}

pub fn infer_flatten(axis: i64, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    let r = x.info.rank() as i64;
    if axis < -r || axis > r {
        kiln_bail!(InvalidNetwork, "flatten axis {axis} is out of range for rank {r} (valid: {}..={r})", -r);
    }
    let a = if axis < 0 { axis + r } else { axis } as usize;
    let dims = vec![product(&x.info.dims[..a]), product(&x.info.dims[a..])];
    Ok(vec![TensorInfo::new(x.info.dtype, dims)])
}

/// Axes a Squeeze removes (normalised, sorted).
pub fn squeeze_axes(dims: &[i64], axes: Option<&[i64]>) -> Result<Vec<usize>> {
    match axes {
        Some(a) => {
            let mut ax = normalize_axes(a, dims.len(), "squeeze")?;
            for &i in &ax {
                if dims[i] != 1 && dims[i] != -1 {
                    kiln_bail!(ShapeMismatch, "squeeze axis {i} has size {} (must be 1) in dims {:?}", dims[i], dims);
                }
            }
            ax.sort_unstable();
            Ok(ax)
        }
        None => {
            if dims.contains(&-1) {
                kiln_bail!(
                    InvalidNetwork,
                    "squeeze without axes needs every dim known, got {:?}; give explicit axes",
                    dims
                );
            }
            Ok((0..dims.len()).filter(|&i| dims[i] == 1).collect())
        }
    }
}

pub fn infer_squeeze(axes: Option<&[i64]>, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    let ax = squeeze_axes(&x.info.dims, axes)?;
    let dims = x.info.dims.iter().enumerate().filter(|(i, _)| !ax.contains(i)).map(|(_, &d)| d).collect();
    Ok(vec![TensorInfo::new(x.info.dtype, dims)])
}

pub fn infer_unsqueeze(axes: &[i64], inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    let ax = unsqueeze_axes(axes, x.info.rank())?;
    let mut it = x.info.dims.iter();
    let dims = (0..x.info.rank() + ax.len()).map(|i| if ax.contains(&i) { 1 } else { *it.next().unwrap_or(&1) }).collect();
    Ok(vec![TensorInfo::new(x.info.dtype, dims)])
}

pub fn infer_expand(inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    let s = input(inputs, 1, "shape")?;
    let dims = match int_values(s, "expand shape")? {
        Some(shape) => {
            if shape.iter().any(|&d| d < 0) {
                kiln_bail!(InvalidNetwork, "expand shape {:?} has negative dims", shape);
            }
            broadcast_dims(&x.info.dims, &shape)?
        }
        None => {
            let Some(n) = known_len(s) else {
                kiln_bail!(InvalidNetwork, "expand needs the length of its shape input to be known (got dims {:?})", s.info.dims);
            };
            // Unknown target: only dims of x larger than 1 are certain.
            let rank = n.max(x.info.rank());
            (0..rank)
                .map(|i| {
                    let xi = (i + x.info.rank()).checked_sub(rank).map(|j| x.info.dims[j]).unwrap_or(1);
                    if xi > 1 { xi } else { -1 }
                })
                .collect()
        }
    };
    Ok(vec![TensorInfo::new(x.info.dtype, dims)])
}

pub fn infer_tile(inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    let r = input(inputs, 1, "repeats")?;
    let dims = match int_values(r, "tile repeats")? {
        Some(rep) => {
            if rep.len() != x.info.rank() {
                kiln_bail!(InvalidNetwork, "tile repeats has {} entries but the input has rank {}", rep.len(), x.info.rank());
            }
            if rep.iter().any(|&v| v < 0) {
                kiln_bail!(InvalidNetwork, "tile repeats {:?} must not be negative", rep);
            }
            x.info.dims.iter().zip(&rep).map(|(&d, &k)| if d < 0 { -1 } else { d * k }).collect()
        }
        None => vec![-1; x.info.rank()],
    };
    Ok(vec![TensorInfo::new(x.info.dtype, dims)])
}

pub fn infer_slice(inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "data")?;
    let starts = int_values(input(inputs, 1, "starts")?, "slice starts")?;
    let ends = int_values(input(inputs, 2, "ends")?, "slice ends")?;
    let axes = match optional(inputs, 3) {
        Some(a) => Some(int_values(a, "slice axes")?),
        None => None,
    };
    let steps = match optional(inputs, 4) {
        Some(s) => Some(int_values(s, "slice steps")?),
        None => None,
    };
    let rank = x.info.rank();
    let (Some(starts), Some(ends), Some(axes), Some(steps)) = (starts, ends, axes.map_or(Some(None), |a| a.map(Some)), steps.map_or(Some(None), |s| s.map(Some))) else {
        // Unknown bounds: only the rank is certain (axes not sliced are unknown too, since we
        // cannot tell which ones are).
        return Ok(vec![TensorInfo::new(x.info.dtype, vec![-1; rank])]);
    };
    // Substitute 0 for unknown dims to validate, then mark the affected axes unknown again.
    let concrete: Vec<usize> = x.info.dims.iter().map(|&d| d.max(0) as usize).collect();
    let p = slice_params(&concrete, &starts, &ends, axes.as_deref(), steps.as_deref())?;
    let sliced: Vec<usize> = match &axes {
        Some(a) => normalize_axes(a, rank, "slice")?,
        None => (0..starts.len()).collect(),
    };
    let dims = (0..rank)
        .map(|i| {
            if x.info.dims[i] < 0 {
                // Unknown dim: a sliced axis is unknown; an unsliced one keeps -1.
                -1
            } else if sliced.contains(&i) {
                p[i].len as i64
            } else {
                x.info.dims[i]
            }
        })
        .collect();
    Ok(vec![TensorInfo::new(x.info.dtype, dims)])
}

pub fn infer_pad(inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    let pads = int_values(input(inputs, 1, "pads")?, "pad pads")?;
    if let Some(v) = optional(inputs, 2) {
        if v.info.dtype != x.info.dtype {
            kiln_bail!(UnsupportedDtype, "pad constant value is {} but the input is {}", v.info.dtype, x.info.dtype);
        }
    }
    let axes = match optional(inputs, 3) {
        Some(a) => match int_values(a, "pad axes")? {
            Some(v) => Some(v),
            None => return Ok(vec![TensorInfo::new(x.info.dtype, vec![-1; x.info.rank()])]),
        },
        None => None,
    };
    let dims = match pads {
        Some(p) => {
            let (b, e) = pad_params(x.info.rank(), &p, axes.as_deref())?;
            padded_dims(&x.info.dims, &b, &e)?
        }
        None => vec![-1; x.info.rank()],
    };
    Ok(vec![TensorInfo::new(x.info.dtype, dims)])
}

fn check_4d(x: &InferInput, what: &str, block: usize) -> Result<()> {
    if x.info.rank() != 4 {
        kiln_bail!(InvalidNetwork, "{what} needs a 4-D [N, C, H, W] input, got dims {:?}", x.info.dims);
    }
    if block == 0 {
        kiln_bail!(InvalidNetwork, "{what} block size must be at least 1");
    }
    Ok(())
}

pub fn infer_depth_to_space(block: usize, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    check_4d(x, "depthToSpace", block)?;
    let b = block as i64;
    let d = &x.info.dims;
    if d[1] >= 0 && d[1] % (b * b) != 0 {
        kiln_bail!(ShapeMismatch, "depthToSpace: channels {} are not divisible by block_size² = {}", d[1], b * b);
    }
    let m = |v: i64, k: i64| if v < 0 { -1 } else { v * k };
    let c = if d[1] < 0 { -1 } else { d[1] / (b * b) };
    Ok(vec![TensorInfo::new(x.info.dtype, vec![d[0], c, m(d[2], b), m(d[3], b)])])
}

pub fn infer_space_to_depth(block: usize, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    check_4d(x, "spaceToDepth", block)?;
    let b = block as i64;
    let d = &x.info.dims;
    for i in [2, 3] {
        if d[i] >= 0 && d[i] % b != 0 {
            kiln_bail!(ShapeMismatch, "spaceToDepth: spatial dim {} is not divisible by block_size {b}", d[i]);
        }
    }
    let dv = |v: i64| if v < 0 { -1 } else { v / b };
    let c = if d[1] < 0 { -1 } else { d[1] * b * b };
    Ok(vec![TensorInfo::new(x.info.dtype, vec![d[0], c, dv(d[2]), dv(d[3])])])
}
