//! Data-movement kernels: dispatch on the layer and the element type. The kernels are generic over
//! the element type (`Elem`), so every dtype is supported by one implementation.

#[path = "data_gen.rs"]
pub mod data_gen;
#[path = "data_index.rs"]
pub mod data_index;
#[path = "data_shuffle.rs"]
pub mod data_shuffle;
#[path = "data_strided.rs"]
pub mod data_strided;

use super::pointwise::data_elem::{self, opt, out1, req, typed};
use super::pointwise::numeric;
// Child modules reach these shared helpers as `super::…`.
#[allow(unused_imports)]
use super::pointwise::{broadcast, pointwise_ops};
use kiln_core::dtype::DType;
use kiln_core::error::Result;
use kiln_core::infer::data::params::normalize_axis;
use kiln_core::kiln_bail;
use kiln_core::layer::{LayerKind, ScatterReduction};
use kiln_core::tensor::Tensor;

/// Integer values of an index/shape input (int32 or int64).
fn ints(t: &Tensor, what: &str) -> Result<Vec<i64>> {
    if !matches!(t.dtype(), DType::Int64 | DType::Int32) {
        kiln_bail!(UnsupportedDtype, "{what} must be int64 (or int32), got {}", t.dtype());
    }
    Ok(t.data.to_i64_vec())
}

pub fn execute(kind: &LayerKind, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
    use data_gen as g;
    use data_index as ix;
    use data_shuffle as sh;
    match kind {
        LayerKind::Identity
        | LayerKind::Reshape { .. }
        | LayerKind::Flatten { .. }
        | LayerKind::Squeeze { .. }
        | LayerKind::Unsqueeze { .. } => {
            let x = req(inputs, 0, "x")?;
            typed!(x.dtype(), T => sh::copy::<T>(x, out1(outputs)?))
        }
        LayerKind::Concatenation { axis } => {
            let xs: Vec<&Tensor> = inputs.iter().flatten().copied().collect();
            let Some(first) = xs.first() else {
                kiln_bail!(InvalidNetwork, "concatenation needs at least one input");
            };
            let ax = normalize_axis(*axis, first.rank(), "concatenation")?;
            typed!(first.dtype(), T => sh::concat::<T>(ax, &xs, out1(outputs)?))
        }
        LayerKind::Split { axis, .. } => {
            let x = req(inputs, 0, "x")?;
            let ax = normalize_axis(*axis, x.rank(), "split")?;
            typed!(x.dtype(), T => sh::split::<T>(ax, x, outputs))
        }
        LayerKind::Transpose { perm } => {
            let x = req(inputs, 0, "x")?;
            typed!(x.dtype(), T => sh::transpose::<T>(perm, x, out1(outputs)?))
        }
        LayerKind::Expand => {
            let x = req(inputs, 0, "x")?;
            typed!(x.dtype(), T => sh::expand::<T>(x, out1(outputs)?))
        }
        LayerKind::Tile => {
            let x = req(inputs, 0, "x")?;
            typed!(x.dtype(), T => sh::tile::<T>(x, out1(outputs)?))
        }
        LayerKind::Slice => {
            let x = req(inputs, 0, "data")?;
            let starts = ints(req(inputs, 1, "starts")?, "slice starts")?;
            let ends = ints(req(inputs, 2, "ends")?, "slice ends")?;
            let axes = opt(inputs, 3).map(|t| ints(t, "slice axes")).transpose()?;
            let steps = opt(inputs, 4).map(|t| ints(t, "slice steps")).transpose()?;
            typed!(x.dtype(), T => sh::slice::<T>(x, &starts, &ends, axes.as_deref(), steps.as_deref(), out1(outputs)?))
        }
        LayerKind::Pad { mode } => {
            let x = req(inputs, 0, "x")?;
            let pads = ints(req(inputs, 1, "pads")?, "pad pads")?;
            let axes = opt(inputs, 3).map(|t| ints(t, "pad axes")).transpose()?;
            let value = opt(inputs, 2);
            typed!(x.dtype(), T => {
                let v: T = match value {
                    Some(v) => match data_elem::data::<T>(v)?.first() {
                        Some(&v) => v,
                        None => <T as data_elem::Elem>::zero(),
                    },
                    None => <T as data_elem::Elem>::zero(),
                };
                sh::pad::<T>(*mode, x, &pads, v, axes.as_deref(), out1(outputs)?)
            })
        }
        LayerKind::DepthToSpace { block_size, mode } => {
            let x = req(inputs, 0, "x")?;
            typed!(x.dtype(), T => sh::depth_to_space::<T>(*block_size, *mode, x, out1(outputs)?))
        }
        LayerKind::SpaceToDepth { block_size } => {
            let x = req(inputs, 0, "x")?;
            typed!(x.dtype(), T => sh::space_to_depth::<T>(*block_size, x, out1(outputs)?))
        }
        LayerKind::Gather { axis } => {
            let x = req(inputs, 0, "data")?;
            let idx = ints(req(inputs, 1, "indices")?, "gather indices")?;
            if x.rank() == 0 {
                kiln_bail!(InvalidNetwork, "gather needs data of rank >= 1");
            }
            let ax = normalize_axis(*axis, x.rank(), "gather")?;
            typed!(x.dtype(), T => ix::gather::<T>(ax, x, &idx, out1(outputs)?))
        }
        LayerKind::GatherElements { axis } => {
            let x = req(inputs, 0, "data")?;
            let it = req(inputs, 1, "indices")?;
            let idx = ints(it, "gatherElements indices")?;
            if it.rank() != x.rank() || x.rank() == 0 {
                kiln_bail!(ShapeMismatch, "gatherElements needs indices {:?} of the same rank as data {:?}", it.shape, x.shape);
            }
            let ax = normalize_axis(*axis, x.rank(), "gatherElements")?;
            typed!(x.dtype(), T => ix::gather_elements::<T>(ax, x, &it.shape, &idx, out1(outputs)?))
        }
        LayerKind::GatherNd { batch_dims } => {
            let x = req(inputs, 0, "data")?;
            let it = req(inputs, 1, "indices")?;
            let idx = ints(it, "gatherNd indices")?;
            if it.rank() == 0 || *batch_dims >= it.rank().min(x.rank()) {
                kiln_bail!(InvalidNetwork, "gatherNd batch_dims {batch_dims} must be below the ranks of data and indices");
            }
            typed!(x.dtype(), T => ix::gather_nd::<T>(*batch_dims, x, &it.shape, &idx, out1(outputs)?))
        }
        LayerKind::ScatterElements { axis, reduction } => {
            let (d, it, u) = (req(inputs, 0, "data")?, req(inputs, 1, "indices")?, req(inputs, 2, "updates")?);
            let idx = ints(it, "scatterElements indices")?;
            if it.rank() != d.rank() || d.rank() == 0 || u.shape != it.shape {
                kiln_bail!(ShapeMismatch, "scatterElements needs indices and updates of one shape and the rank of data");
            }
            let ax = normalize_axis(*axis, d.rank(), "scatterElements")?;
            let out = out1(outputs)?;
            match reduction {
                ScatterReduction::None => typed!(d.dtype(), T => ix::scatter_elements_none::<T>(ax, d, &it.shape, &idx, u, out)),
                r => numeric!(d.dtype(), T => ix::scatter_elements_reduce::<T>(ax, *r, d, &it.shape, &idx, u, out)),
            }
        }
        LayerKind::ScatterNd { reduction } => {
            let (d, it, u) = (req(inputs, 0, "data")?, req(inputs, 1, "indices")?, req(inputs, 2, "updates")?);
            let idx = ints(it, "scatterNd indices")?;
            if it.rank() == 0 {
                kiln_bail!(InvalidNetwork, "scatterNd indices must have rank >= 1");
            }
            let out = out1(outputs)?;
            match reduction {
                ScatterReduction::None => typed!(d.dtype(), T => ix::scatter_nd_none::<T>(d, &it.shape, &idx, u, out)),
                r => numeric!(d.dtype(), T => ix::scatter_nd_reduce::<T>(*r, d, &it.shape, &idx, u, out)),
            }
        }
        LayerKind::OneHot { axis } => {
            let it = req(inputs, 0, "indices")?;
            let depth = req(inputs, 1, "depth")?.data.to_f64_vec();
            let values = req(inputs, 2, "values")?;
            let (Some(&depth), 2) = (depth.first(), values.numel()) else {
                kiln_bail!(InvalidNetwork, "oneHot needs a scalar depth and 2 values [off, on]");
            };
            if !(depth >= 1.0) {
                kiln_bail!(InvalidValue, "oneHot depth must be positive, got {depth}");
            }
            let ax = normalize_axis(*axis, it.rank() + 1, "oneHot")?;
            let idx = it.data.to_f64_vec();
            typed!(values.dtype(), T => {
                let v = data_elem::data::<T>(values)?;
                ix::one_hot::<T>(ax, &idx, depth as usize, v[0], v[1], out1(outputs)?)
            })
        }
        LayerKind::NonZero => {
            let x = req(inputs, 0, "x")?;
            typed!(x.dtype(), T => ix::non_zero::<T>(x, out1(outputs)?))
        }
        LayerKind::Trilu { upper } => {
            let x = req(inputs, 0, "x")?;
            if x.rank() < 2 {
                kiln_bail!(InvalidNetwork, "trilu needs rank >= 2, got {:?}", x.shape);
            }
            let k = match opt(inputs, 1) {
                Some(t) => ints(t, "trilu k")?.first().copied().unwrap_or(0),
                None => 0,
            };
            typed!(x.dtype(), T => ix::trilu::<T>(*upper, k, x, out1(outputs)?))
        }
        LayerKind::Shape { start, end } => g::shape(*start, *end, req(inputs, 0, "x")?, out1(outputs)?),
        LayerKind::Size => g::size(req(inputs, 0, "x")?, out1(outputs)?),
        LayerKind::Range => g::range(req(inputs, 0, "start")?, req(inputs, 2, "delta")?, out1(outputs)?),
        LayerKind::Fill { value, .. } => {
            let out = out1(outputs)?;
            typed!(out.dtype(), T => g::fill::<T>(*value, out))
        }
        LayerKind::EyeLike { k, .. } => {
            let out = out1(outputs)?;
            typed!(out.dtype(), T => g::eye_like::<T>(*k, out))
        }
        _ => kiln_bail!(Internal, "'{}' is not a data-movement layer", kind.type_name()),
    }
}
