//! Resize (ONNX Resize-19): nearest / linear / cubic, every coordinate transform, nearest modes,
//! exclude_outside, extrapolation (tf_crop_and_resize), antialiased downscaling, axes and
//! keep_aspect_ratio_policy.
//!
//! The interpolation is separable, so the tensor is resized one axis at a time, innermost axis
//! first (the order of the ONNX reference's nesting). Each axis gets a table of (source index,
//! weight) taps per output index, then rows are combined with whole-inner-block multiply-adds.

use super::matmul::common::{need_outputs, req, view, with_out, KFloat};
use kiln_core::error::Result;
use kiln_core::infer::compute::{normalize_axes, resize_plan};
use kiln_core::kiln_bail;
use kiln_core::layer::{CoordinateTransform, LayerKind, NearestMode, ResizeMode};
use kiln_core::tensor::{Tensor, TensorData};
use rayon::prelude::*;

pub fn execute(kind: &LayerKind, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
    need_outputs(outputs, 1, "resize")?;
    let x = req(inputs, 0, "x")?;
    match x.data {
        TensorData::F64(_) => run::<f64>(kind, x, inputs, &mut outputs[0]),
        TensorData::F32(_) | TensorData::F16(_) => run::<f32>(kind, x, inputs, &mut outputs[0]),
        _ => kiln_bail!(UnsupportedDtype, "resize needs float input, got {}", x.dtype()),
    }
}

/// Present and non-empty optional input (ONNX passes empty tensors for "not given").
fn opt<'a>(inputs: &[Option<&'a Tensor>], i: usize) -> Option<&'a Tensor> {
    inputs.get(i).copied().flatten().filter(|t| t.numel() > 0)
}

/// How one output index along an axis is computed.
enum Taps {
    /// tf_crop_and_resize sample outside the input.
    Extrapolate,
    /// Weighted source indices (already clamped to the input).
    Mix(Vec<(usize, f64)>),
}

struct AxisSpec {
    mode: ResizeMode,
    ct: CoordinateTransform,
    nearest: NearestMode,
    a: f64,
    exclude_outside: bool,
    antialias: bool,
}

fn run<T: KFloat>(kind: &LayerKind, x: &Tensor, inputs: &[Option<&Tensor>], out: &mut Tensor) -> Result<()> {
    let LayerKind::Resize { mode, coordinate_transform, nearest_mode, cubic_coeff_a, exclude_outside, extrapolation_value, antialias, axes, keep_aspect_ratio_policy } = kind else {
        kiln_bail!(Internal, "resize kernel got '{}'", kind.type_name());
    };
    let rank = x.rank();
    let in_dims: Vec<i64> = x.shape.iter().map(|&d| d as i64).collect();
    let scales: Option<Vec<f32>> = opt(inputs, 2).map(|t| t.data.to_f64_vec().iter().map(|&v| v as f32).collect());
    let sizes: Option<Vec<i64>> = opt(inputs, 3).map(|t| t.data.to_i64_vec());
    let plan = resize_plan(&in_dims, scales.as_deref(), sizes.as_deref(), axes.as_deref(), *keep_aspect_ratio_policy)?;
    let out_dims: Vec<usize> = plan.out.iter().map(|&d| d.max(0) as usize).collect();
    if out_dims != out.shape {
        kiln_bail!(Internal, "resize output is {:?} but the scales/sizes give {:?}", out.shape, out_dims);
    }
    let ax: Vec<usize> = match axes {
        Some(a) => normalize_axes(a, rank)?,
        None => (0..rank).collect(),
    };
    // roi = [starts…, ends…] over the resized axes; only tf_crop_and_resize reads it.
    let mut roi = vec![(0.0f64, 1.0f64); rank];
    if *coordinate_transform == CoordinateTransform::TfCropAndResize {
        let Some(r) = opt(inputs, 1) else {
            kiln_bail!(InvalidInput, "resize with tf_crop_and_resize needs an roi input ([starts…, ends…])");
        };
        let r = r.data.to_f64_vec();
        if r.len() != 2 * ax.len() {
            kiln_bail!(InvalidInput, "resize roi has {} values but {} resized axes need {}", r.len(), ax.len(), 2 * ax.len());
        }
        for (j, &a) in ax.iter().enumerate() {
            roi[a] = (r[j], r[j + ax.len()]);
        }
    }
    let spec = AxisSpec {
        mode: *mode,
        ct: *coordinate_transform,
        nearest: *nearest_mode,
        a: *cubic_coeff_a as f64,
        exclude_outside: *exclude_outside,
        antialias: *antialias,
    };
    let extrap = T::f(*extrapolation_value as f64);
    let mut cur: Vec<T> = view::<T>(x).into_owned();
    let mut shape = x.shape.clone();
    for a in (0..rank).rev() {
        let (lin, lout, s) = (shape[a], out_dims[a], plan.scales[a]);
        let identity = lin == lout && s == 1.0 && spec.ct != CoordinateTransform::TfCropAndResize;
        if identity {
            continue;
        }
        let taps: Vec<Taps> = (0..lout).map(|o| axis_taps(&spec, o, lin, lout, s, roi[a])).collect();
        let outer: usize = shape[..a].iter().product();
        let inner: usize = shape[a + 1..].iter().product();
        let mut next = vec![T::zero(); outer * lout * inner];
        let block = |(oi, dst): (usize, &mut [T])| {
            let src = &cur[oi * lin * inner..(oi + 1) * lin * inner];
            for (o, t) in taps.iter().enumerate() {
                let row = &mut dst[o * inner..(o + 1) * inner];
                match t {
                    Taps::Extrapolate => row.iter_mut().for_each(|v| *v = extrap),
                    Taps::Mix(w) => {
                        row.iter_mut().for_each(|v| *v = T::zero());
                        for &(i, wt) in w {
                            let wt = T::f(wt);
                            for (d, &sv) in row.iter_mut().zip(&src[i * inner..(i + 1) * inner]) {
                                *d = *d + wt * sv;
                            }
                        }
                    }
                }
            }
        };
        if lout * inner > 0 {
            if next.len() >= 1 << 15 && outer > 1 {
                next.par_chunks_mut(lout * inner).enumerate().for_each(block);
            } else {
                next.chunks_mut(lout * inner).enumerate().for_each(block);
            }
        }
        cur = next;
        shape[a] = lout;
    }
    with_out::<T>(out, |o| {
        if o.len() != cur.len() {
            kiln_bail!(Internal, "resize produced {} values for an output of {}", cur.len(), o.len());
        }
        o.copy_from_slice(&cur);
        Ok(())
    })
}

/// Source coordinate of output index `o` (ONNX coordinate_transformation_mode). As in the ONNX
/// reference, the "resized length" in the formulas is the unrounded `input * scale`.
fn source_coord(ct: CoordinateTransform, o: usize, lin: usize, lout: usize, s: f64, roi: (f64, f64)) -> f64 {
    let (xo, li) = (o as f64, lin as f64);
    let lo = li * s;
    match ct {
        CoordinateTransform::HalfPixel => (xo + 0.5) / s - 0.5,
        CoordinateTransform::HalfPixelSymmetric => {
            let adj = lout as f64 / lo;
            let center = li / 2.0;
            center * (1.0 - adj) + (xo + 0.5) / s - 0.5
        }
        CoordinateTransform::PytorchHalfPixel => {
            if lo == 1.0 { -0.5 } else { (xo + 0.5) / s - 0.5 }
        }
        CoordinateTransform::AlignCorners => {
            if lo == 1.0 { 0.0 } else { xo * (li - 1.0) / (lo - 1.0) }
        }
        CoordinateTransform::Asymmetric => xo / s,
        CoordinateTransform::TfHalfPixelForNn => (xo + 0.5) / s,
        CoordinateTransform::TfCropAndResize => {
            let (st, en) = roi;
            let base = if lo == 1.0 { (en - st) * (li - 1.0) / 2.0 } else { xo * (en - st) * (li - 1.0) / (lo - 1.0) };
            base + st * (li - 1.0)
        }
    }
}

/// Interpolation taps of one output index, as the ONNX reference computes them: the n source
/// points nearest the coordinate (edge-clamped), weighted by the mode's kernel.
fn axis_taps(sp: &AxisSpec, o: usize, lin: usize, lout: usize, s: f64, roi: (f64, f64)) -> Taps {
    let x = source_coord(sp.ct, o, lin, lout, s, roi);
    if lin == 0 {
        return Taps::Mix(vec![]);
    }
    if sp.ct == CoordinateTransform::TfCropAndResize && (x < 0.0 || x > (lin - 1) as f64) {
        return Taps::Extrapolate;
    }
    let clamp = |i: i64| i.clamp(0, lin as i64 - 1) as usize;
    // The reference keeps ratio in (0, 1]: an integral coordinate counts as "1 past" the
    // previous integer, so the neighbour window is the same as for x - ε.
    let fl = if x.fract() == 0.0 { x as i64 - 1 } else { x.floor() as i64 };
    let ratio = x - fl as f64;
    match sp.mode {
        ResizeMode::Nearest => {
            let up = if ratio == 1.0 {
                true
            } else {
                match sp.nearest {
                    NearestMode::RoundPreferFloor => ratio > 0.5,
                    NearestMode::RoundPreferCeil => ratio >= 0.5,
                    NearestMode::Floor => false,
                    NearestMode::Ceil => true,
                }
            };
            Taps::Mix(vec![(clamp(if up { fl + 1 } else { fl }), 1.0)])
        }
        ResizeMode::Linear | ResizeMode::Cubic => {
            let fs = if sp.antialias && s < 1.0 { s } else { 1.0 };
            let cubic = sp.mode == ResizeMode::Cubic;
            // Support half-width in source samples: 1 (linear) or 2 (cubic), widened by 1/scale.
            let start = if cubic { (-2.0 / fs).floor() as i64 + 1 } else { (-1.0 / fs).floor() as i64 + 1 };
            let n = 2 - 2 * start;
            let a = sp.a;
            let kernel = |t: f64| -> f64 {
                let t = t.abs();
                if cubic {
                    if t <= 1.0 {
                        (a + 2.0) * t * t * t - (a + 3.0) * t * t + 1.0
                    } else if t < 2.0 {
                        a * t * t * t - 5.0 * a * t * t + 8.0 * a * t - 4.0 * a
                    } else {
                        0.0
                    }
                } else {
                    (1.0 - t).clamp(0.0, 1.0)
                }
            };
            let mut w: Vec<(i64, f64)> = (0..n).map(|j| (fl + start + j, kernel(fs * ((start + j) as f64 - ratio)))).collect();
            let mut total: f64 = w.iter().map(|p| p.1).sum();
            if sp.exclude_outside {
                for p in w.iter_mut() {
                    if p.0 < 0 || p.0 >= lin as i64 {
                        p.1 = 0.0;
                    }
                }
                total = w.iter().map(|p| p.1).sum();
            }
            let norm = if total != 0.0 { total } else { 1.0 };
            Taps::Mix(w.into_iter().filter(|p| p.1 != 0.0).map(|(i, wt)| (clamp(i), wt / norm)).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::layer::KeepAspectRatioPolicy;

    fn kind(mode: ResizeMode, ct: CoordinateTransform, nm: NearestMode) -> LayerKind {
        LayerKind::Resize {
            mode,
            coordinate_transform: ct,
            nearest_mode: nm,
            cubic_coeff_a: -0.75,
            exclude_outside: false,
            extrapolation_value: 0.0,
            antialias: false,
            axes: None,
            keep_aspect_ratio_policy: KeepAspectRatioPolicy::Stretch,
        }
    }

    fn resize(k: &LayerKind, x: &Tensor, scales: &[f32]) -> Tensor {
        let s = Tensor::from_f32(vec![scales.len()], scales.to_vec()).unwrap();
        let ins = [Some(x), None, Some(&s)];
        let shapes = kiln_core::infer::infer_concrete(k, &ins).unwrap();
        let mut out = vec![Tensor::zeros(x.dtype(), &shapes[0].1).unwrap()];
        execute(k, &ins, &mut out).unwrap();
        out.pop().unwrap()
    }

    #[test]
    fn nearest_upsample() {
        // test_resize_upsample_scales_nearest: [[1,2],[3,4]] scales [1,1,2,3].
        let x = Tensor::from_f32(vec![1, 1, 2, 2], vec![1., 2., 3., 4.]).unwrap();
        let r = resize(&kind(ResizeMode::Nearest, CoordinateTransform::HalfPixel, NearestMode::RoundPreferFloor), &x, &[1., 1., 2., 3.]);
        assert_eq!(r.shape, vec![1, 1, 4, 6]);
        let row1 = [1., 1., 1., 2., 2., 2.];
        let row2 = [3., 3., 3., 4., 4., 4.];
        let want: Vec<f32> = [row1, row1, row2, row2].concat();
        assert_eq!(r.as_f32().unwrap(), &want[..]);
    }

    #[test]
    fn linear_downsample_and_align_corners() {
        // test_resize_downsample_scales_linear: 2x4 1..8, scales [1,1,0.6,0.6] → [[2.6666665, 4.3333331]].
        let x = Tensor::from_f32(vec![1, 1, 2, 4], (1..=8).map(|v| v as f32).collect()).unwrap();
        let r = resize(&kind(ResizeMode::Linear, CoordinateTransform::HalfPixel, NearestMode::RoundPreferFloor), &x, &[1., 1., 0.6, 0.6]);
        assert_eq!(r.shape, vec![1, 1, 1, 2]);
        let v = r.as_f32().unwrap();
        assert!((v[0] - 2.6666665).abs() < 1e-5 && (v[1] - 4.3333335).abs() < 1e-5, "{v:?}");
        // ..._linear_align_corners → [[1, 3.142857]].
        let r = resize(&kind(ResizeMode::Linear, CoordinateTransform::AlignCorners, NearestMode::RoundPreferFloor), &x, &[1., 1., 0.6, 0.6]);
        let v = r.as_f32().unwrap();
        assert!((v[0] - 1.0).abs() < 1e-5 && (v[1] - 3.142857).abs() < 1e-5, "{v:?}");
    }

    #[test]
    fn cubic_upsample_matches_reference_corner() {
        // test_resize_upsample_scales_cubic: 4x4 1..16, scales 2 → first values 0.47265625, 0.76953125.
        let x = Tensor::from_f32(vec![1, 1, 4, 4], (1..=16).map(|v| v as f32).collect()).unwrap();
        let r = resize(&kind(ResizeMode::Cubic, CoordinateTransform::HalfPixel, NearestMode::RoundPreferFloor), &x, &[1., 1., 2., 2.]);
        let v = r.as_f32().unwrap();
        assert!((v[0] - 0.47265625).abs() < 1e-5 && (v[1] - 0.76953125).abs() < 1e-5, "{:?}", &v[..4]);
    }
}
