//! Inference for compute layers: convolution, deconvolution, pooling, matrix multiply, normalization, reductions, arg-min/max, cumsum, top-k, resize, softmax.
//!
//! Geometry that the kernels also need lives in `geometry` (public) so inference and kernels agree.

pub mod geometry;

pub use geometry::*;

use super::{InferInput, TensorInfo};
use crate::dtype::DType;
use crate::error::Result;
use crate::kiln_bail;
use crate::layer::{LayerKind, NormalizationKind, PoolingKind};

pub fn infer(kind: &LayerKind, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    match kind {
        LayerKind::Convolution { strides, pads, dilations, groups, padding_mode, .. } => {
            let x = float_input(kind, inputs, 0, "x")?;
            let w = float_input(kind, inputs, 1, "weights")?;
            same_dtype(kind, x, w, "weights")?;
            let (xd, wd) = (&x.info.dims, &w.info.dims);
            if xd.len() < 3 {
                kiln_bail!(InvalidNetwork, "convolution input must be [N, C, spatial…] (rank >= 3), got dims {:?}", xd);
            }
            if wd.len() != xd.len() {
                kiln_bail!(InvalidNetwork, "convolution weights {:?} must have the input's rank {} ([M, C/groups, k…])", wd, xd.len());
            }
            let g = *groups as i64;
            if g < 1 {
                kiln_bail!(InvalidNetwork, "convolution groups must be >= 1");
            }
            if xd[1] >= 0 && wd[1] >= 0 && xd[1] != wd[1] * g {
                kiln_bail!(ShapeMismatch, "input has {} channels but the weights expect {} (weights shape {:?}, groups {})", xd[1], wd[1] * g, wd, g);
            }
            if wd[0] >= 0 && wd[0] % g != 0 {
                kiln_bail!(ShapeMismatch, "weights have {} output channels, not divisible by groups {}", wd[0], g);
            }
            check_bias(kind, inputs, 2, x.info.dtype, wd[0])?;
            let n = xd.len() - 2;
            let strides = spatial_list(strides, n, 1, "strides")?;
            let dil = spatial_list(dilations, n, 1, "dilations")?;
            let (pb, pe) = spatial_pads(pads, n)?;
            let mut out = vec![xd[0], wd[0]];
            for i in 0..n {
                if wd[i + 2] < 0 {
                    out.push(-1);
                    continue;
                }
                let k = wd[i + 2] as usize;
                out.push(window_axis(xd[i + 2], k, strides[i], dil[i], pb[i], pe[i], *padding_mode, false)?.out);
            }
            Ok(vec![TensorInfo::new(x.info.dtype, out)])
        }
        LayerKind::Deconvolution { strides, pads, dilations, groups, output_padding, output_shape, padding_mode } => {
            let x = float_input(kind, inputs, 0, "x")?;
            let w = float_input(kind, inputs, 1, "weights")?;
            same_dtype(kind, x, w, "weights")?;
            let (xd, wd) = (&x.info.dims, &w.info.dims);
            if xd.len() < 3 || wd.len() != xd.len() {
                kiln_bail!(InvalidNetwork, "deconvolution needs x [N, C, spatial…] and weights [C, M/groups, k…] of the same rank, got {:?} and {:?}", xd, wd);
            }
            let g = *groups as i64;
            if g < 1 {
                kiln_bail!(InvalidNetwork, "deconvolution groups must be >= 1");
            }
            if xd[1] >= 0 && wd[0] >= 0 && xd[1] != wd[0] {
                kiln_bail!(ShapeMismatch, "input has {} channels but the weights {:?} expect {} (weights are [C, M/groups, k…])", xd[1], wd, wd[0]);
            }
            if wd[0] >= 0 && wd[0] % g != 0 {
                kiln_bail!(ShapeMismatch, "deconvolution input channels {} are not divisible by groups {}", wd[0], g);
            }
            let m = if wd[1] < 0 { -1 } else { wd[1] * g };
            check_bias(kind, inputs, 2, x.info.dtype, m)?;
            if wd[2..].iter().any(|&d| d < 0) {
                let mut out = vec![xd[0], m];
                out.extend(std::iter::repeat_n(-1, xd.len() - 2));
                return Ok(vec![TensorInfo::new(x.info.dtype, out)]);
            }
            let kernel: Vec<usize> = wd[2..].iter().map(|&d| d as usize).collect();
            let geo = deconv_geometry(&xd[2..], &kernel, strides, pads, dilations, output_padding, output_shape, *padding_mode)?;
            let mut out = vec![xd[0], m];
            out.extend(geo.out);
            Ok(vec![TensorInfo::new(x.info.dtype, out)])
        }
        LayerKind::Pooling { pooling, global, kernel_shape, strides, pads, dilations, ceil_mode, padding_mode } => {
            let x = input(kind, inputs, 0, "x")?;
            let ok = x.info.dtype.is_float() || (matches!(pooling, PoolingKind::Max) && matches!(x.info.dtype, DType::Int8 | DType::Uint8));
            if !ok {
                kiln_bail!(UnsupportedDtype, "pooling does not support {} input (floats; int8/uint8 for max pooling)", x.info.dtype);
            }
            let xd = &x.info.dims;
            if xd.len() < 3 {
                kiln_bail!(InvalidNetwork, "pooling input must be [N, C, spatial…] (rank >= 3), got dims {:?}", xd);
            }
            let n = xd.len() - 2;
            let mut out = vec![xd[0], xd[1]];
            if *global {
                out.extend(std::iter::repeat_n(1, n));
            } else {
                if kernel_shape.len() != n {
                    kiln_bail!(InvalidNetwork, "pooling kernel_shape {:?} must have one value per spatial axis ({})", kernel_shape, n);
                }
                if let PoolingKind::Lp { p } = pooling {
                    if !(*p > 0.0) {
                        kiln_bail!(InvalidNetwork, "Lp pooling needs p > 0, got {}", p);
                    }
                }
                let strides = spatial_list(strides, n, 1, "strides")?;
                let dil = spatial_list(dilations, n, 1, "dilations")?;
                let (pb, pe) = spatial_pads(pads, n)?;
                for i in 0..n {
                    if pb[i] >= kernel_shape[i] * dil[i] || pe[i] >= kernel_shape[i] * dil[i] {
                        kiln_bail!(InvalidNetwork, "pooling pads {:?} must be smaller than the kernel {:?}", pads, kernel_shape);
                    }
                    out.push(window_axis(xd[i + 2], kernel_shape[i], strides[i], dil[i], pb[i], pe[i], *padding_mode, *ceil_mode)?.out);
                }
            }
            Ok(vec![TensorInfo::new(x.info.dtype, out)])
        }
        LayerKind::MatrixMultiply { transpose_a, transpose_b, has_bias, .. } => {
            let a = input(kind, inputs, 0, "a")?;
            let b = input(kind, inputs, 1, "b")?;
            let dt = a.info.dtype;
            if !(dt.is_float() || matches!(dt, DType::Int32 | DType::Int64 | DType::Uint32 | DType::Uint64)) {
                kiln_bail!(UnsupportedDtype, "matrix multiply does not support {} (floats, int32, int64, uint32, uint64)", dt);
            }
            same_dtype(kind, a, b, "b")?;
            let out = matmul_dims(&a.info.dims, &b.info.dims, *transpose_a, *transpose_b)?;
            if *has_bias {
                let bias = input(kind, inputs, 2, "bias")?;
                same_dtype(kind, a, bias, "bias")?;
                check_unidirectional(&bias.info.dims, &out, "matrix multiply bias")?;
            }
            Ok(vec![TensorInfo::new(dt, out)])
        }
        LayerKind::Normalization { normalization } => {
            let x = float_input(kind, inputs, 0, "x")?;
            let xd = &x.info.dims;
            let channel_params = |n: usize| -> Result<()> {
                for i in 1..=n {
                    if let Some(p) = inputs.get(i).and_then(|p| p.as_ref()) {
                        same_dtype(kind, x, p, "parameter")?;
                        let c = xd.get(1).copied().unwrap_or(-1);
                        let numel: Option<i64> = if p.info.is_static() { Some(p.info.dims.iter().product()) } else { None };
                        if let (Some(k), true) = (numel, c >= 0) {
                            if k != c {
                                kiln_bail!(ShapeMismatch, "normalization parameter {} has {} elements but the input has {} channels (dims {:?})", i, k, c, xd);
                            }
                        }
                    } else {
                        kiln_bail!(InvalidNetwork, "normalization input {} (per-channel parameter) is missing", i);
                    }
                }
                Ok(())
            };
            match normalization {
                NormalizationKind::Batch { .. } => {
                    if xd.len() < 2 {
                        kiln_bail!(InvalidNetwork, "batch normalization input must have rank >= 2, got {:?}", xd);
                    }
                    channel_params(4)?;
                }
                NormalizationKind::Instance { .. } => {
                    if xd.len() < 3 {
                        kiln_bail!(InvalidNetwork, "instance normalization input must be [N, C, spatial…], got {:?}", xd);
                    }
                    channel_params(2)?;
                }
                NormalizationKind::Group { num_groups, .. } => {
                    if xd.len() < 3 {
                        kiln_bail!(InvalidNetwork, "group normalization input must be [N, C, spatial…], got {:?}", xd);
                    }
                    if *num_groups == 0 || (xd[1] >= 0 && xd[1] % *num_groups as i64 != 0) {
                        kiln_bail!(ShapeMismatch, "group normalization: {} channels are not divisible into {} groups", xd[1], num_groups);
                    }
                    channel_params(2)?;
                }
                NormalizationKind::Layer { axis, .. } => {
                    let a = normalize_axis(*axis, xd.len())?;
                    for i in 1..=2 {
                        if let Some(p) = inputs.get(i).and_then(|p| p.as_ref()) {
                            same_dtype(kind, x, p, "parameter")?;
                            check_unidirectional(&p.info.dims, &xd[a..], "layer normalization scale/bias")?;
                        } else if i == 1 {
                            kiln_bail!(InvalidNetwork, "layer normalization needs a scale input");
                        }
                    }
                }
                NormalizationKind::Lrn { size, .. } => {
                    if xd.len() < 3 || *size == 0 {
                        kiln_bail!(InvalidNetwork, "LRN needs input [N, C, spatial…] and size >= 1, got {:?}, size {}", xd, size);
                    }
                }
                NormalizationKind::LpNorm { axis, p } => {
                    normalize_axis(*axis, xd.len())?;
                    if *p != 1 && *p != 2 {
                        kiln_bail!(Unsupported, "Lp normalization supports p = 1 or 2, got {}", p);
                    }
                }
                NormalizationKind::MeanVariance { axes } => {
                    normalize_axes(axes, xd.len())?;
                }
            }
            Ok(vec![x.info.clone()])
        }
        LayerKind::Reduce { axes, keep_dims, noop_with_empty_axes, .. } => {
            let x = numeric_input(kind, inputs, 0)?;
            let rank = x.info.rank();
            let set = reduce_axes(axes.as_deref(), rank, *noop_with_empty_axes)?;
            Ok(vec![TensorInfo::new(x.info.dtype, reduced_dims(&x.info.dims, &set, *keep_dims))])
        }
        LayerKind::ArgMinMax { axis, keep_dims, .. } => {
            let x = numeric_input(kind, inputs, 0)?;
            let a = normalize_axis(*axis, x.info.rank())?;
            if x.info.dims[a] == 0 {
                kiln_bail!(InvalidValue, "arg-min/max over axis {} of size 0 has no answer", a);
            }
            Ok(vec![TensorInfo::new(DType::Int64, reduced_dims(&x.info.dims, &[a], *keep_dims))])
        }
        LayerKind::CumSum { .. } => {
            let x = numeric_input(kind, inputs, 0)?;
            let ax = input(kind, inputs, 1, "axis")?;
            if !matches!(ax.info.dtype, DType::Int32 | DType::Int64) || ax.info.dims.iter().product::<i64>() > 1 {
                kiln_bail!(InvalidNetwork, "cumsum axis must be an int32/int64 scalar, got {} {:?}", ax.info.dtype, ax.info.dims);
            }
            if let Some(v) = ax.value {
                let a = v.data.to_i64_vec();
                if let Some(&a) = a.first() {
                    normalize_axis(a, x.info.rank())?;
                }
            }
            Ok(vec![x.info.clone()])
        }
        LayerKind::TopK { axis, .. } => {
            let x = numeric_input(kind, inputs, 0)?;
            let a = normalize_axis(*axis, x.info.rank())?;
            let k = input(kind, inputs, 1, "k")?;
            let mut dims = x.info.dims.clone();
            dims[a] = match k.value {
                Some(v) => {
                    let kv = v.data.to_i64_vec();
                    if kv.len() != 1 || kv[0] < 0 {
                        kiln_bail!(InvalidValue, "top-k needs k as one non-negative integer, got {:?}", kv);
                    }
                    if x.info.dims[a] >= 0 && kv[0] > x.info.dims[a] {
                        kiln_bail!(InvalidValue, "top-k k = {} exceeds the axis size {} (dims {:?})", kv[0], x.info.dims[a], x.info.dims);
                    }
                    kv[0]
                }
                None => -1,
            };
            Ok(vec![TensorInfo::new(x.info.dtype, dims.clone()), TensorInfo::new(DType::Int64, dims)])
        }
        LayerKind::Resize { axes, keep_aspect_ratio_policy, .. } => {
            let x = input(kind, inputs, 0, "x")?;
            if !x.info.dtype.is_float() {
                kiln_bail!(UnsupportedDtype, "resize supports float inputs only, got {}", x.info.dtype);
            }
            let xd = &x.info.dims;
            let present = |i: usize| inputs.get(i).and_then(|p| p.as_ref()).filter(|p| p.info.dims.iter().product::<i64>() != 0);
            let (scales_in, sizes_in) = (present(2), present(3));
            let n_axes = axes.as_ref().map_or(xd.len(), |a| a.len());
            let unknown = |dims: &mut Vec<i64>| -> Result<()> {
                let ax: Vec<usize> = match axes {
                    Some(a) => normalize_axes(a, xd.len())?,
                    None => (0..xd.len()).collect(),
                };
                for a in ax {
                    dims[a] = -1;
                }
                Ok(())
            };
            let plan = match (scales_in, sizes_in) {
                (Some(s), None) => match s.value {
                    Some(v) => {
                        let sc: Vec<f32> = v.data.to_f64_vec().iter().map(|&f| f as f32).collect();
                        resize_plan(xd, Some(&sc), None, axes.as_deref(), *keep_aspect_ratio_policy)?.out
                    }
                    None => {
                        let mut d = xd.clone();
                        unknown(&mut d)?;
                        d
                    }
                },
                (None, Some(s)) => {
                    if !matches!(s.info.dtype, DType::Int64) {
                        kiln_bail!(InvalidNetwork, "resize sizes must be int64, got {}", s.info.dtype);
                    }
                    match s.value {
                        Some(v) => resize_plan(xd, None, Some(&v.data.to_i64_vec()), axes.as_deref(), *keep_aspect_ratio_policy)?.out,
                        None => {
                            let mut d = xd.clone();
                            unknown(&mut d)?;
                            d
                        }
                    }
                }
                (Some(_), Some(_)) => kiln_bail!(InvalidNetwork, "resize got both scales and sizes; give exactly one"),
                (None, None) => kiln_bail!(InvalidNetwork, "resize needs scales (input 2) or sizes (input 3) for its {} axes", n_axes),
            };
            Ok(vec![TensorInfo::new(x.info.dtype, plan)])
        }
        LayerKind::Softmax { axis, .. } => {
            let x = float_input(kind, inputs, 0, "x")?;
            normalize_axis(*axis, x.info.rank())?;
            Ok(vec![x.info.clone()])
        }
        other => kiln_bail!(Internal, "compute shape inference was asked about '{}'", other.type_name()),
    }
}

fn input<'b, 'a>(kind: &LayerKind, inputs: &'b [Option<InferInput<'a>>], i: usize, what: &str) -> Result<&'b InferInput<'a>> {
    match inputs.get(i).and_then(|x| x.as_ref()) {
        Some(x) => Ok(x),
        None => kiln_bail!(InvalidNetwork, "'{}' needs input {} ({}), which is missing", kind.type_name(), i, what),
    }
}

fn float_input<'b, 'a>(kind: &LayerKind, inputs: &'b [Option<InferInput<'a>>], i: usize, what: &str) -> Result<&'b InferInput<'a>> {
    let x = input(kind, inputs, i, what)?;
    if !x.info.dtype.is_float() {
        kiln_bail!(UnsupportedDtype, "'{}' input {} ({}) must be float32/float16/float64, got {}", kind.type_name(), i, what, x.info.dtype);
    }
    Ok(x)
}

fn numeric_input<'b, 'a>(kind: &LayerKind, inputs: &'b [Option<InferInput<'a>>], i: usize) -> Result<&'b InferInput<'a>> {
    let x = input(kind, inputs, i, "x")?;
    if x.info.dtype == DType::Bool {
        kiln_bail!(UnsupportedDtype, "'{}' does not accept bool input; cast it to a number first", kind.type_name());
    }
    Ok(x)
}

fn same_dtype(kind: &LayerKind, a: &InferInput, b: &InferInput, what: &str) -> Result<()> {
    if a.info.dtype != b.info.dtype {
        kiln_bail!(UnsupportedDtype, "'{}': {} is {} but the input is {}; cast them to one dtype", kind.type_name(), what, b.info.dtype, a.info.dtype);
    }
    Ok(())
}

fn check_bias(kind: &LayerKind, inputs: &[Option<InferInput>], i: usize, dtype: DType, channels: i64) -> Result<()> {
    if let Some(b) = inputs.get(i).and_then(|b| b.as_ref()) {
        if b.info.dtype != dtype {
            kiln_bail!(UnsupportedDtype, "'{}' bias is {} but the input is {}", kind.type_name(), b.info.dtype, dtype);
        }
        if b.info.rank() != 1 || (channels >= 0 && b.info.dims[0] >= 0 && b.info.dims[0] != channels) {
            kiln_bail!(ShapeMismatch, "'{}' bias must be [{}] (one per output channel), got {:?}", kind.type_name(), channels, b.info.dims);
        }
    }
    Ok(())
}

/// `small` must broadcast to `big` without changing it (right-aligned, dims 1 or equal).
fn check_unidirectional(small: &[i64], big: &[i64], what: &str) -> Result<()> {
    if small.len() > big.len() {
        kiln_bail!(ShapeMismatch, "{} {:?} has more dims than the target {:?}", what, small, big);
    }
    let off = big.len() - small.len();
    for (i, &d) in small.iter().enumerate() {
        let t = big[off + i];
        if d != 1 && d >= 0 && t >= 0 && d != t {
            kiln_bail!(ShapeMismatch, "{} {:?} does not broadcast to {:?}", what, small, big);
        }
    }
    Ok(())
}

/// numpy matmul output dims (1-D operands promoted then their axis dropped), after optional
/// transposes of the last two axes.
pub fn matmul_dims(a: &[i64], b: &[i64], ta: bool, tb: bool) -> Result<Vec<i64>> {
    if a.is_empty() || b.is_empty() {
        kiln_bail!(InvalidNetwork, "matrix multiply operands must have rank >= 1, got {:?} and {:?}", a, b);
    }
    let (m, ka) = if a.len() == 1 { (None, a[0]) } else {
        let (r, c) = (a[a.len() - 2], a[a.len() - 1]);
        if ta { (Some(c), r) } else { (Some(r), c) }
    };
    let (kb, n) = if b.len() == 1 { (b[0], None) } else {
        let (r, c) = (b[b.len() - 2], b[b.len() - 1]);
        if tb { (c, Some(r)) } else { (r, Some(c)) }
    };
    if ka >= 0 && kb >= 0 && ka != kb {
        kiln_bail!(ShapeMismatch, "matrix multiply inner dims differ: a {:?} has K = {} but b {:?} has K = {}", a, ka, b, kb);
    }
    let ba = if a.len() > 2 { &a[..a.len() - 2] } else { &[][..] };
    let bb = if b.len() > 2 { &b[..b.len() - 2] } else { &[][..] };
    let mut out = broadcast_dims(ba, bb).map_err(|e| e.context(format!("matrix multiply batch dims of {:?} and {:?}", a, b)))?;
    if let Some(m) = m {
        out.push(m);
    }
    if let Some(n) = n {
        out.push(n);
    }
    Ok(out)
}

/// Multidirectional broadcast of two dim lists (-1 unknown).
pub fn broadcast_dims(a: &[i64], b: &[i64]) -> Result<Vec<i64>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let x = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
        let y = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
        out[i] = match (x, y) {
            (1, y) => y,
            (x, 1) => x,
            (-1, y) | (y, -1) => y,
            (x, y) if x == y => x,
            (x, y) => kiln_bail!(ShapeMismatch, "dims {} and {} do not broadcast", x, y),
        };
    }
    Ok(out)
}

/// The normalised set of reduced axes (`[]` when the reduction is an identity).
pub fn reduce_axes(axes: Option<&[i64]>, rank: usize, noop_with_empty_axes: bool) -> Result<Vec<usize>> {
    match axes {
        Some(a) if !a.is_empty() => {
            let mut v = normalize_axes(a, rank)?;
            v.sort_unstable();
            Ok(v)
        }
        _ if noop_with_empty_axes => Ok(vec![]),
        _ => Ok((0..rank).collect()),
    }
}

/// Dims after reducing `axes` (kept as 1 or removed).
pub fn reduced_dims(dims: &[i64], axes: &[usize], keep_dims: bool) -> Vec<i64> {
    let mut out = Vec::with_capacity(dims.len());
    for (i, &d) in dims.iter().enumerate() {
        if axes.contains(&i) {
            if keep_dims {
                out.push(1);
            }
        } else {
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{KeepAspectRatioPolicy, PaddingMode};
    use crate::tensor::Tensor;

    fn inp(dtype: DType, dims: &[i64]) -> Option<InferInput<'static>> {
        Some(InferInput { info: TensorInfo::new(dtype, dims.to_vec()), value: None })
    }

    fn conv(groups: usize) -> LayerKind {
        LayerKind::Convolution { strides: vec![2, 2], pads: vec![1, 1, 1, 1], dilations: vec![], groups, padding_mode: PaddingMode::Explicit, activation: None }
    }

    #[test]
    fn conv_unknown_dims_propagate() {
        let r = infer(&conv(1), &[inp(DType::Float32, &[-1, 3, 224, -1]), inp(DType::Float32, &[64, 3, 7, 7])]).unwrap();
        assert_eq!(r[0].dims, vec![-1, 64, 110, -1]);
    }

    #[test]
    fn conv_channel_mismatch_is_coded() {
        let e = infer(&conv(1), &[inp(DType::Float32, &[1, 3, 8, 8]), inp(DType::Float32, &[8, 4, 3, 3])]).unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::ShapeMismatch);
        assert!(e.message.contains("3 channels"), "{}", e.message);
        let e = infer(&conv(3), &[inp(DType::Float32, &[1, 6, 8, 8]), inp(DType::Float32, &[8, 2, 3, 3])]).unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::ShapeMismatch);
    }

    #[test]
    fn resize_and_topk_with_unknown_values() {
        let kind = LayerKind::Resize {
            mode: crate::layer::ResizeMode::Nearest,
            coordinate_transform: crate::layer::CoordinateTransform::Asymmetric,
            nearest_mode: crate::layer::NearestMode::Floor,
            cubic_coeff_a: -0.75,
            exclude_outside: false,
            extrapolation_value: 0.0,
            antialias: false,
            axes: Some(vec![2, 3]),
            keep_aspect_ratio_policy: KeepAspectRatioPolicy::Stretch,
        };
        let r = infer(&kind, &[inp(DType::Float32, &[1, 3, 10, 10]), None, inp(DType::Float32, &[2])]).unwrap();
        assert_eq!(r[0].dims, vec![1, 3, -1, -1]);
        let s = Tensor::from_f32(vec![2], vec![2.0, 0.5]).unwrap();
        let known = [inp(DType::Float32, &[1, 3, 10, 10]), None, Some(InferInput { info: TensorInfo::new(DType::Float32, vec![2]), value: Some(&s) })];
        assert_eq!(infer(&kind, &known).unwrap()[0].dims, vec![1, 3, 20, 5]);
        let topk = LayerKind::TopK { axis: -1, largest: true, sorted: true };
        let r = infer(&topk, &[inp(DType::Float32, &[2, 9]), inp(DType::Int64, &[1])]).unwrap();
        assert_eq!(r[0].dims, vec![2, -1]);
        assert_eq!(r[1].dtype, DType::Int64);
    }

    #[test]
    fn matmul_and_reduce_dims() {
        assert_eq!(matmul_dims(&[2, 1, 3, 4], &[5, 4, 6], false, false).unwrap(), vec![2, 5, 3, 6]);
        assert_eq!(matmul_dims(&[4], &[4], false, false).unwrap(), Vec::<i64>::new());
        assert_eq!(matmul_dims(&[4, 3], &[5, 4], true, true).unwrap(), vec![3, 5]);
        assert!(matmul_dims(&[2, 3], &[4, 5], false, false).is_err());
        let red = LayerKind::Reduce { op: crate::layer::ReduceOp::Sum, axes: Some(vec![-1, 0]), keep_dims: false, noop_with_empty_axes: false };
        assert_eq!(infer(&red, &[inp(DType::Float32, &[2, -1, 4])]).unwrap()[0].dims, vec![-1]);
        let pool = LayerKind::Pooling {
            pooling: PoolingKind::Max,
            global: false,
            kernel_shape: vec![3, 3],
            strides: vec![2, 2],
            pads: vec![1, 1, 1, 1],
            dilations: vec![],
            ceil_mode: false,
            padding_mode: PaddingMode::Explicit,
        };
        assert_eq!(infer(&pool, &[inp(DType::Float32, &[1, 64, 112, 112])]).unwrap()[0].dims, vec![1, 64, 56, 56]);
    }
}
