//! Geometry shared by shape inference and the kernels (conv/pool windows, deconvolution pads,
//! resize scales, axis normalisation), so the two can never disagree about an output size.
//!
//! Dims are `i64` with -1 = unknown; an unknown input dim gives an unknown output dim.

use crate::error::Result;
use crate::kiln_bail;
use crate::layer::{KeepAspectRatioPolicy, PaddingMode};

/// Maps a possibly negative ONNX axis into `[0, rank)`.
pub fn normalize_axis(axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        kiln_bail!(InvalidNetwork, "axis {} is out of range for a tensor of rank {} (valid: {}..={})", axis, rank, -r, r - 1);
    }
    Ok(if axis < 0 { (axis + r) as usize } else { axis as usize })
}

/// Normalises a list of axes, rejecting duplicates.
pub fn normalize_axes(axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = normalize_axis(a, rank)?;
        if out.contains(&n) {
            kiln_bail!(InvalidNetwork, "axis {} appears twice in axes {:?}", a, axes);
        }
        out.push(n);
    }
    Ok(out)
}

/// Resolves an optional per-spatial-axis list (`[]` = all `default`), checking its length.
pub fn spatial_list(list: &[usize], n: usize, default: usize, what: &str) -> Result<Vec<usize>> {
    if list.is_empty() {
        return Ok(vec![default; n]);
    }
    if list.len() != n {
        kiln_bail!(InvalidNetwork, "{} has {} values but the input has {} spatial axes; give one per spatial axis", what, list.len(), n);
    }
    Ok(list.to_vec())
}

/// Resolves `pads` ([begin…, end…], `[]` = zeros) into (begin, end) lists.
pub fn spatial_pads(pads: &[usize], n: usize) -> Result<(Vec<usize>, Vec<usize>)> {
    if pads.is_empty() {
        return Ok((vec![0; n], vec![0; n]));
    }
    if pads.len() != 2 * n {
        kiln_bail!(InvalidNetwork, "pads has {} values but {} spatial axes need {} ([begin…, end…])", pads.len(), n, 2 * n);
    }
    Ok((pads[..n].to_vec(), pads[n..].to_vec()))
}

/// One spatial axis of a sliding window (convolution or pooling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowAxis {
    pub out: i64,
    pub pad_begin: usize,
    pub pad_end: usize,
}

/// Output size and effective pads of one window axis. `ceil_mode` only applies to pooling.
#[allow(clippy::too_many_arguments)]
pub fn window_axis(
    input: i64,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad_begin: usize,
    pad_end: usize,
    mode: PaddingMode,
    ceil_mode: bool,
) -> Result<WindowAxis> {
    if stride == 0 || dilation == 0 || kernel == 0 {
        kiln_bail!(InvalidNetwork, "kernel size, stride and dilation must be >= 1 (got kernel {}, stride {}, dilation {})", kernel, stride, dilation);
    }
    if input < 0 {
        return Ok(WindowAxis { out: -1, pad_begin, pad_end });
    }
    let extent = ((kernel - 1) * dilation + 1) as i64;
    let (s, inp) = (stride as i64, input);
    match mode {
        PaddingMode::SameUpper | PaddingMode::SameLower => {
            let out = (inp + s - 1) / s;
            let total = ((out - 1) * s + extent - inp).max(0) as usize;
            let small = total / 2;
            let (b, e) = if mode == PaddingMode::SameUpper { (small, total - small) } else { (total - small, small) };
            Ok(WindowAxis { out, pad_begin: b, pad_end: e })
        }
        PaddingMode::Valid | PaddingMode::Explicit => {
            let (b, e) = if mode == PaddingMode::Valid { (0, 0) } else { (pad_begin, pad_end) };
            let padded = inp + b as i64 + e as i64;
            if padded < extent {
                kiln_bail!(
                    ShapeMismatch,
                    "the window (kernel {}, dilation {}, extent {}) is larger than the padded input ({} + pads {}+{} = {}); use a smaller kernel or more padding",
                    kernel, dilation, extent, inp, b, e, padded
                );
            }
            let span = padded - extent;
            let mut out = if ceil_mode { (span + s - 1) / s + 1 } else { span / s + 1 };
            // As PyTorch and the ONNX reference: with ceil_mode the last window must start inside the
            // input or the begin padding, never entirely in the end padding.
            if ceil_mode && (out - 1) * s >= inp + b as i64 {
                out -= 1;
            }
            Ok(WindowAxis { out, pad_begin: b, pad_end: e })
        }
    }
}

/// Concrete window geometry of all spatial axes, for the kernels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowGeometry {
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads_begin: Vec<usize>,
    pub pads_end: Vec<usize>,
    pub out: Vec<usize>,
}

/// Resolves the window geometry for concrete spatial input dims.
#[allow(clippy::too_many_arguments)]
pub fn window_geometry(
    input: &[usize],
    kernel: &[usize],
    strides: &[usize],
    pads: &[usize],
    dilations: &[usize],
    mode: PaddingMode,
    ceil_mode: bool,
) -> Result<WindowGeometry> {
    let n = input.len();
    if kernel.len() != n {
        kiln_bail!(InvalidNetwork, "kernel has {} spatial axes but the input has {}", kernel.len(), n);
    }
    let strides = spatial_list(strides, n, 1, "strides")?;
    let dilations = spatial_list(dilations, n, 1, "dilations")?;
    let (pb, pe) = spatial_pads(pads, n)?;
    let mut g = WindowGeometry {
        kernel: kernel.to_vec(),
        strides: strides.clone(),
        dilations: dilations.clone(),
        pads_begin: vec![0; n],
        pads_end: vec![0; n],
        out: vec![0; n],
    };
    for i in 0..n {
        let a = window_axis(input[i] as i64, kernel[i], strides[i], dilations[i], pb[i], pe[i], mode, ceil_mode)?;
        g.pads_begin[i] = a.pad_begin;
        g.pads_end[i] = a.pad_end;
        g.out[i] = a.out as usize;
    }
    Ok(g)
}

/// Transposed-convolution geometry. Pads may be negative when `output_shape` asks for more than
/// the natural size (the extra rows are then computed as if the input were padded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeconvGeometry {
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads_begin: Vec<i64>,
    pub out: Vec<i64>,
}

/// ONNX ConvTranspose output size and pads (dims may be -1).
#[allow(clippy::too_many_arguments)]
pub fn deconv_geometry(
    input: &[i64],
    kernel: &[usize],
    strides: &[usize],
    pads: &[usize],
    dilations: &[usize],
    output_padding: &[usize],
    output_shape: &[usize],
    mode: PaddingMode,
) -> Result<DeconvGeometry> {
    let n = input.len();
    if kernel.len() != n {
        kiln_bail!(InvalidNetwork, "kernel has {} spatial axes but the input has {}", kernel.len(), n);
    }
    let strides = spatial_list(strides, n, 1, "strides")?;
    let dilations = spatial_list(dilations, n, 1, "dilations")?;
    let opad = spatial_list(output_padding, n, 0, "output_padding")?;
    let (pb, pe) = spatial_pads(pads, n)?;
    // output_shape may list only the spatial dims, or (as some exporters do) N, C and the spatial dims.
    let oshape: Vec<usize> = if output_shape.len() == n + 2 { output_shape[2..].to_vec() } else { output_shape.to_vec() };
    if !oshape.is_empty() && oshape.len() != n {
        kiln_bail!(InvalidNetwork, "output_shape has {} values but the input has {} spatial axes", output_shape.len(), n);
    }
    let mut g = DeconvGeometry { kernel: kernel.to_vec(), strides: strides.clone(), dilations: dilations.clone(), pads_begin: vec![0; n], out: vec![-1; n] };
    for i in 0..n {
        if strides[i] == 0 || dilations[i] == 0 || kernel[i] == 0 {
            kiln_bail!(InvalidNetwork, "kernel size, stride and dilation must be >= 1");
        }
        if opad[i] >= strides[i] && opad[i] >= dilations[i] {
            kiln_bail!(InvalidNetwork, "output_padding {} must be smaller than the stride {} or the dilation {}", opad[i], strides[i], dilations[i]);
        }
        let (s, k, d, op) = (strides[i] as i64, kernel[i] as i64, dilations[i] as i64, opad[i] as i64);
        let natural = |inp: i64| s * (inp - 1) + op + (k - 1) * d + 1;
        let target = if !oshape.is_empty() {
            Some(oshape[i] as i64)
        } else if matches!(mode, PaddingMode::SameUpper | PaddingMode::SameLower) {
            if input[i] < 0 { None } else { Some(input[i] * s) }
        } else {
            None
        };
        if let Some(t) = target {
            g.out[i] = t;
            if input[i] >= 0 {
                let total = natural(input[i]) - t;
                // ONNX: SAME_UPPER puts the smaller half first; otherwise the larger half goes first.
                // A negative total (output larger than natural) extends the end, as output_padding does.
                g.pads_begin[i] = if total < 0 {
                    0
                } else if mode == PaddingMode::SameLower {
                    total - total / 2
                } else {
                    total / 2
                };
            }
        } else {
            let (b, e) = if mode == PaddingMode::Valid { (0, 0) } else { (pb[i] as i64, pe[i] as i64) };
            g.pads_begin[i] = b;
            if input[i] >= 0 {
                let out = natural(input[i]) - b - e;
                if out < 1 {
                    kiln_bail!(ShapeMismatch, "transposed convolution output size would be {} on spatial axis {} (input {}, kernel {}, stride {}, pads {}+{}); reduce the pads", out, i, input[i], k, s, b, e);
                }
                g.out[i] = out;
            }
        }
    }
    Ok(g)
}

/// Resolved resize parameters over all axes of the input.
#[derive(Debug, Clone, PartialEq)]
pub struct ResizePlan {
    /// Scale per axis (output / input in coordinate terms); 1 for axes not resized.
    pub scales: Vec<f64>,
    /// Output dims (-1 unknown).
    pub out: Vec<i64>,
}

/// ONNX Resize-19 output sizes. `scales`/`sizes` refer to `axes` (all axes when `None`).
pub fn resize_plan(
    input: &[i64],
    scales: Option<&[f32]>,
    sizes: Option<&[i64]>,
    axes: Option<&[i64]>,
    policy: KeepAspectRatioPolicy,
) -> Result<ResizePlan> {
    let rank = input.len();
    let axes: Vec<usize> = match axes {
        Some(a) => normalize_axes(a, rank)?,
        None => (0..rank).collect(),
    };
    let mut plan = ResizePlan { scales: vec![1.0; rank], out: input.to_vec() };
    match (scales, sizes) {
        (Some(_), Some(_)) => kiln_bail!(InvalidNetwork, "resize got both scales and sizes; give exactly one"),
        (None, None) => kiln_bail!(InvalidNetwork, "resize needs scales or sizes; give exactly one"),
        (Some(sc), None) => {
            if sc.len() != axes.len() {
                kiln_bail!(InvalidNetwork, "resize scales has {} values but {} axes are resized", sc.len(), axes.len());
            }
            for (j, &a) in axes.iter().enumerate() {
                if !(sc[j] > 0.0) || !sc[j].is_finite() {
                    kiln_bail!(InvalidValue, "resize scale {} on axis {} must be a positive finite number", sc[j], a);
                }
                plan.scales[a] = sc[j] as f64;
                // Resize-19: output = floor(input * scale); computed in f64 so 0.6 * 5 stays 3.
                plan.out[a] = if input[a] < 0 { -1 } else { ((input[a] as f64) * (sc[j] as f64) + 1e-9).floor() as i64 };
            }
        }
        (None, Some(sz)) => {
            if sz.len() != axes.len() {
                kiln_bail!(InvalidNetwork, "resize sizes has {} values but {} axes are resized", sz.len(), axes.len());
            }
            if sz.iter().any(|&s| s < 0) {
                kiln_bail!(InvalidValue, "resize sizes {:?} must not be negative", sz);
            }
            if policy == KeepAspectRatioPolicy::Stretch {
                for (j, &a) in axes.iter().enumerate() {
                    plan.out[a] = sz[j];
                    if input[a] > 0 {
                        plan.scales[a] = sz[j] as f64 / input[a] as f64;
                    }
                }
            } else {
                if axes.iter().any(|&a| input[a] < 0) {
                    for &a in &axes {
                        plan.out[a] = -1;
                    }
                    return Ok(plan);
                }
                let ratios = axes.iter().enumerate().filter(|(_, &a)| input[a] > 0).map(|(j, &a)| sz[j] as f64 / input[a] as f64);
                let scale = if policy == KeepAspectRatioPolicy::NotLarger {
                    ratios.fold(f64::INFINITY, f64::min)
                } else {
                    ratios.fold(0.0, f64::max)
                };
                let scale = if scale.is_finite() { scale } else { 1.0 };
                for &a in &axes {
                    plan.scales[a] = scale;
                    plan.out[a] = ((input[a] as f64) * scale).round_ties_even() as i64;
                }
            }
        }
    }
    Ok(plan)
}
