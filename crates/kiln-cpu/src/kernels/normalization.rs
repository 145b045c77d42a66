//! Normalization layers: batch (inference), instance, layer, group (GroupNormalization-21:
//! per-channel affine), LRN, Lp and mean-variance. Statistics are accumulated in f64; rows or
//! planes run in parallel when the tensor is large.

use super::matmul::broadcast_fill;
use super::matmul::common::{need_outputs, req, view, with_out, KFloat};
use super::reduce::partition;
use kiln_core::error::Result;
use kiln_core::infer::compute::{normalize_axes, normalize_axis};
use kiln_core::kiln_bail;
use kiln_core::layer::{LayerKind, NormalizationKind};
use kiln_core::tensor::{Tensor, TensorData};
use rayon::prelude::*;

const PAR_MIN: usize = 1 << 15;

pub fn execute(kind: &LayerKind, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
    let LayerKind::Normalization { normalization } = kind else {
        kiln_bail!(Internal, "normalization kernel got '{}'", kind.type_name());
    };
    need_outputs(outputs, 1, "normalization")?;
    let x = req(inputs, 0, "x")?;
    if outputs[0].shape != x.shape {
        kiln_bail!(Internal, "normalization output {:?} differs from input {:?}", outputs[0].shape, x.shape);
    }
    match x.data {
        TensorData::F64(_) => run::<f64>(normalization, x, inputs, &mut outputs[0]),
        TensorData::F32(_) | TensorData::F16(_) => run::<f32>(normalization, x, inputs, &mut outputs[0]),
        _ => kiln_bail!(UnsupportedDtype, "normalization needs float input, got {}", x.dtype()),
    }
}

/// Per-channel parameter `i` as `T`, checked to hold `c` values.
fn channel_param<T: KFloat>(inputs: &[Option<&Tensor>], i: usize, c: usize, what: &str) -> Result<Vec<T>> {
    let t = req(inputs, i, what)?;
    if t.numel() != c {
        kiln_bail!(ShapeMismatch, "normalization {} has {} values but the input has {} channels", what, t.numel(), c);
    }
    Ok(view::<T>(t).into_owned())
}

/// Mean and population variance of `v` (f64 accumulation).
fn stats<T: KFloat>(v: impl Iterator<Item = T>) -> (f64, f64) {
    let (mut n, mut s, mut s2) = (0usize, 0.0f64, 0.0f64);
    for x in v {
        let x = x.f64();
        n += 1;
        s += x;
        s2 += x * x;
    }
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = s / n as f64;
    (mean, (s2 / n as f64 - mean * mean).max(0.0))
}

/// Two-pass mean/variance over a contiguous slice (more accurate than E[x²] - E[x]² when the
/// mean is large relative to the spread, as in layer norm over embeddings).
fn stats2<T: KFloat>(v: &[T]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let mean = v.iter().map(|x| x.f64()).sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x.f64() - mean).powi(2)).sum::<f64>() / v.len() as f64;
    (mean, var)
}

fn for_planes<T: KFloat>(o: &mut [T], plane: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if plane == 0 {
        return;
    }
    if o.len() >= PAR_MIN {
        o.par_chunks_mut(plane).enumerate().for_each(|(i, p)| f(i, p));
    } else {
        o.chunks_mut(plane).enumerate().for_each(|(i, p)| f(i, p));
    }
}

fn run<T: KFloat>(kind: &NormalizationKind, x: &Tensor, inputs: &[Option<&Tensor>], out: &mut Tensor) -> Result<()> {
    let xv = view::<T>(x);
    let shape = x.shape.clone();
    let c = shape.get(1).copied().unwrap_or(1);
    let spatial: usize = shape.iter().skip(2).product();
    match kind {
        NormalizationKind::Batch { epsilon } => {
            if shape.len() < 2 {
                kiln_bail!(InvalidInput, "batch normalization needs rank >= 2, got {:?}", shape);
            }
            let scale = channel_param::<T>(inputs, 1, c, "scale")?;
            let bias = channel_param::<T>(inputs, 2, c, "bias")?;
            let mean = channel_param::<T>(inputs, 3, c, "mean")?;
            let var = channel_param::<T>(inputs, 4, c, "variance")?;
            // Fold into y = x * a + b per channel.
            let a: Vec<T> = (0..c).map(|i| T::f(scale[i].f64() / (var[i].f64() + *epsilon as f64).sqrt())).collect();
            let b: Vec<T> = (0..c).map(|i| T::f(bias[i].f64() - mean[i].f64() * a[i].f64())).collect();
            with_out::<T>(out, |o| {
                for_planes(o, spatial, |i, p| {
                    let (aa, bb) = (a[i % c], b[i % c]);
                    let src = &xv[i * spatial..(i + 1) * spatial];
                    p.iter_mut().zip(src).for_each(|(d, &s)| *d = s * aa + bb);
                });
                Ok(())
            })
        }
        NormalizationKind::Instance { epsilon } => {
            let scale = channel_param::<T>(inputs, 1, c, "scale")?;
            let bias = channel_param::<T>(inputs, 2, c, "bias")?;
            with_out::<T>(out, |o| {
                for_planes(o, spatial, |i, p| {
                    let src = &xv[i * spatial..(i + 1) * spatial];
                    let (m, v) = stats2(src);
                    let a = scale[i % c].f64() / (v + *epsilon as f64).sqrt();
                    let b = bias[i % c].f64() - m * a;
                    p.iter_mut().zip(src).for_each(|(d, &s)| *d = T::f(s.f64() * a + b));
                });
                Ok(())
            })
        }
        NormalizationKind::Group { num_groups, epsilon } => {
            let g = *num_groups;
            if g == 0 || c % g != 0 {
                kiln_bail!(ShapeMismatch, "group normalization: {} channels are not divisible into {} groups", c, g);
            }
            let scale = channel_param::<T>(inputs, 1, c, "scale")?;
            let bias = channel_param::<T>(inputs, 2, c, "bias")?;
            let cg = c / g;
            let block = cg * spatial;
            with_out::<T>(out, |o| {
                for_planes(o, block, |i, p| {
                    let src = &xv[i * block..(i + 1) * block];
                    let (m, v) = stats2(src);
                    let inv = 1.0 / (v + *epsilon as f64).sqrt();
                    let g0 = (i % g) * cg;
                    for (ci, (dp, sp)) in p.chunks_mut(spatial.max(1)).zip(src.chunks(spatial.max(1))).enumerate() {
                        let a = scale[g0 + ci].f64() * inv;
                        let b = bias[g0 + ci].f64() - m * a;
                        dp.iter_mut().zip(sp).for_each(|(d, &s)| *d = T::f(s.f64() * a + b));
                    }
                });
                Ok(())
            })
        }
        NormalizationKind::Layer { axis, epsilon } => {
            let a = normalize_axis(*axis, shape.len())?;
            let inner: usize = shape[a..].iter().product();
            let expand = |i: usize, what: &str| -> Result<Option<Vec<T>>> {
                match inputs.get(i).copied().flatten() {
                    None if i == 2 => Ok(None),
                    None => kiln_bail!(InvalidInput, "layer normalization needs a {} input", what),
                    Some(t) => {
                        let mut full = vec![T::zero(); inner];
                        broadcast_fill(&view::<T>(t), &t.shape, &mut full, &shape[a..])?;
                        Ok(Some(full))
                    }
                }
            };
            let scale = expand(1, "scale")?.unwrap_or_default();
            let bias = expand(2, "bias")?;
            with_out::<T>(out, |o| {
                for_planes(o, inner, |i, p| {
                    let src = &xv[i * inner..(i + 1) * inner];
                    let (m, v) = stats2(src);
                    let inv = 1.0 / (v + *epsilon as f64).sqrt();
                    for (j, (d, &s)) in p.iter_mut().zip(src).enumerate() {
                        let y = T::f((s.f64() - m) * inv) * scale[j];
                        *d = match &bias {
                            Some(b) => y + b[j],
                            None => y,
                        };
                    }
                });
                Ok(())
            })
        }
        NormalizationKind::Lrn { size, alpha, beta, bias } => {
            if shape.len() < 3 || *size == 0 {
                kiln_bail!(InvalidInput, "LRN needs [N, C, spatial…] input and size >= 1");
            }
            // ONNX: channels [c - floor((size-1)/2), c + ceil((size-1)/2)], clipped.
            let (lo, hi) = ((size - 1) / 2, (size - 1) - (size - 1) / 2);
            let (alpha, beta, bias, size) = (*alpha as f64, *beta as f64, *bias as f64, *size as f64);
            with_out::<T>(out, |o| {
                for_planes(o, c * spatial, |img, p| {
                    let src = &xv[img * c * spatial..(img + 1) * c * spatial];
                    for ch in 0..c {
                        let c0 = ch.saturating_sub(lo);
                        let c1 = (ch + hi).min(c - 1);
                        for s in 0..spatial {
                            let sq: f64 = (c0..=c1).map(|k| src[k * spatial + s].f64().powi(2)).sum();
                            let v = src[ch * spatial + s].f64();
                            p[ch * spatial + s] = T::f(v / (bias + alpha / size * sq).powf(beta));
                        }
                    }
                });
                Ok(())
            })
        }
        NormalizationKind::LpNorm { axis, p } => {
            let a = normalize_axis(*axis, shape.len())?;
            let (bases, offs) = partition(&shape, &[a]);
            let pw = *p;
            with_out::<T>(out, |o| {
                for &b in &bases {
                    let norm = if pw == 1 {
                        offs.iter().map(|&q| xv[b + q].f64().abs()).sum::<f64>()
                    } else {
                        offs.iter().map(|&q| xv[b + q].f64().powi(2)).sum::<f64>().sqrt()
                    };
                    for &q in &offs {
                        o[b + q] = if norm == 0.0 { T::zero() } else { T::f(xv[b + q].f64() / norm) };
                    }
                }
                Ok(())
            })
        }
        NormalizationKind::MeanVariance { axes } => {
            let mut ax = normalize_axes(axes, shape.len())?;
            ax.sort_unstable();
            let (bases, offs) = partition(&shape, &ax);
            with_out::<T>(out, |o| {
                for &b in &bases {
                    let (m, v) = stats(offs.iter().map(|&q| xv[b + q]));
                    // ONNX MVN: (x - mean) / (sqrt(var) + 1e-9).
                    let den = v.sqrt() + 1e-9;
                    for &q in &offs {
                        o[b + q] = T::f((xv[b + q].f64() - m) / den);
                    }
                }
                Ok(())
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(k: NormalizationKind, ins: &[Option<&Tensor>]) -> Vec<f32> {
        let kind = LayerKind::Normalization { normalization: k };
        let shapes = kiln_core::infer::infer_concrete(&kind, ins).unwrap();
        let mut out = vec![Tensor::zeros(shapes[0].0, &shapes[0].1).unwrap()];
        execute(&kind, ins, &mut out).unwrap();
        out[0].as_f32().unwrap().to_vec()
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-4, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn batchnorm_example() {
        // test_batchnorm_example: x [1,2,1,3] = [-1,0,1,2,3,4], scale [1,1.5], bias [0,1], mean [0,3], var [1,1.5].
        let x = Tensor::from_f32(vec![1, 2, 1, 3], vec![-1., 0., 1., 2., 3., 4.]).unwrap();
        let p = |v: Vec<f32>| Tensor::from_f32(vec![2], v).unwrap();
        let (s, b, m, v) = (p(vec![1., 1.5]), p(vec![0., 1.]), p(vec![0., 3.]), p(vec![1., 1.5]));
        let r = norm(NormalizationKind::Batch { epsilon: 1e-5 }, &[Some(&x), Some(&s), Some(&b), Some(&m), Some(&v)]);
        close(&r, &[-0.999995, 0., 0.999995, -0.22474074, 1., 2.2247407]);
    }

    #[test]
    fn layer_instance_group() {
        let x = Tensor::from_f32(vec![1, 2, 2], vec![1., 2., 3., 4.]).unwrap();
        let ones = Tensor::from_f32(vec![2], vec![1., 1.]).unwrap();
        let zeros = Tensor::from_f32(vec![2], vec![0., 0.]).unwrap();
        let r = norm(NormalizationKind::Layer { axis: -1, epsilon: 0. }, &[Some(&x), Some(&ones), Some(&zeros)]);
        close(&r, &[-1., 1., -1., 1.]);
        let r = norm(NormalizationKind::Instance { epsilon: 0. }, &[Some(&x), Some(&ones), Some(&zeros)]);
        close(&r, &[-1., 1., -1., 1.]);
        let r = norm(NormalizationKind::Group { num_groups: 1, epsilon: 0. }, &[Some(&x), Some(&ones), Some(&zeros)]);
        let s = 1.118034; // std of 1..4
        close(&r, &[-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]);
        let r = norm(NormalizationKind::LpNorm { axis: -1, p: 2 }, &[Some(&x)]);
        close(&r, &[1. / 5f32.sqrt(), 2. / 5f32.sqrt(), 0.6, 0.8]);
    }

    #[test]
    fn lrn_matches_formula() {
        let x = Tensor::from_f32(vec![1, 3, 1, 1], vec![1., 2., 3.]).unwrap();
        let r = norm(NormalizationKind::Lrn { size: 3, alpha: 0.0001, beta: 0.75, bias: 1. }, &[Some(&x)]);
        let f = |v: f32, sq: f32| v / (1. + 0.0001 / 3. * sq).powf(0.75);
        close(&r, &[f(1., 5.), f(2., 14.), f(3., 13.)]);
    }
}
