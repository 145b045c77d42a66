//! Convolution and transposed convolution (1-D/2-D/3-D, groups, dilations, pads, auto_pad).
//!
//! Convolution = im2col + GEMM per (image, group); a 1×1 stride-1 unpadded conv multiplies the
//! input directly. Channel-wise convolutions (one input channel per group, e.g. depthwise) run
//! per output channel in parallel, which beats tiny GEMMs. Transposed convolution = GEMM
//! (weightsᵀ · x) then col2im. Geometry comes from `kiln_core::infer::compute` so output sizes
//! agree with shape inference.

#[path = "conv_im2col.rs"]
mod im2col;
#[path = "conv_winograd.rs"]
mod winograd;

use super::matmul::common::{apply_activation, float_width, gemm_parallelism, matmul_into, need_outputs, req, view, with_out, KFloat, Mat};
use im2col::{col2im_row, im2col_row, Window};
use kiln_core::error::Result;
use kiln_core::infer::compute::{deconv_geometry, window_geometry};
use kiln_core::kiln_bail;
use kiln_core::layer::{ActivationKind, LayerKind};
use kiln_core::tensor::{checked_numel, Tensor};
use rayon::prelude::*;

pub fn execute(kind: &LayerKind, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
    execute_tactic(kind, None, inputs, outputs)
}

/// Convolution algorithms (tactics). The ids are stable: plans and timing caches store them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvTactic {
    /// im2col + one GEMM per (image, group): works for every convolution.
    Im2colGemm,
    /// 1×1, stride 1, no padding: the input already is the GEMM operand.
    Direct1x1,
    /// Winograd F(2×2, 3×3): 3×3, stride 1, dilation 1, groups 1, 2-D.
    WinogradF2x3,
    /// One input channel per group: shifted multiply-adds per output channel.
    DepthwiseDirect,
}

impl ConvTactic {
    pub const ALL: [ConvTactic; 4] = [ConvTactic::Im2colGemm, ConvTactic::Direct1x1, ConvTactic::WinogradF2x3, ConvTactic::DepthwiseDirect];

    pub fn id(self) -> &'static str {
        match self {
            ConvTactic::Im2colGemm => "im2col_gemm",
            ConvTactic::Direct1x1 => "direct_1x1",
            ConvTactic::WinogradF2x3 => "winograd_f2x3",
            ConvTactic::DepthwiseDirect => "depthwise_direct",
        }
    }

    pub fn parse(id: &str) -> Option<ConvTactic> {
        ConvTactic::ALL.into_iter().find(|t| t.id() == id)
    }
}

/// What decides which convolution tactics apply.
pub struct ConvShape<'a> {
    pub cg: usize,
    pub groups: usize,
    pub kernel: &'a [usize],
    pub strides: &'a [usize],
    pub dilations: &'a [usize],
    pub pads_begin: &'a [usize],
    pub pads_end: &'a [usize],
    /// Winograd is offered for float32 (and float16, computed in f32) only.
    pub f32_compute: bool,
}

impl ConvShape<'_> {
    pub fn eligible(&self, t: ConvTactic) -> bool {
        match t {
            ConvTactic::Im2colGemm => true,
            ConvTactic::Direct1x1 => {
                self.kernel.iter().all(|&k| k == 1) && self.strides.iter().all(|&s| s == 1) && self.pads_begin.iter().chain(self.pads_end).all(|&q| q == 0)
            }
            ConvTactic::WinogradF2x3 => {
                self.f32_compute && self.groups == 1 && self.kernel == [3, 3] && self.strides == [1, 1] && self.dilations == [1, 1]
            }
            ConvTactic::DepthwiseDirect => self.cg == 1,
        }
    }

    /// The choice without timing (what the runtime always did before tactics existed).
    pub fn heuristic(&self) -> ConvTactic {
        if self.cg == 1 {
            ConvTactic::DepthwiseDirect
        } else if self.eligible(ConvTactic::Direct1x1) {
            ConvTactic::Direct1x1
        } else {
            ConvTactic::Im2colGemm
        }
    }
}

/// Like `execute`, running the named tactic where it applies to these inputs (a plan's tactic was
/// chosen at the opt shapes; one that does not fit falls back to the heuristic, same results).
pub fn execute_tactic(kind: &LayerKind, tactic: Option<&str>, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
    let tactic = match tactic {
        None => None,
        Some(id) => match ConvTactic::parse(id) {
            Some(t) => Some(t),
            None => kiln_bail!(Unsupported, "unknown convolution tactic '{id}' (known: im2col_gemm, direct_1x1, winograd_f2x3, depthwise_direct); rebuild the plan with this Kiln"),
        },
    };
    need_outputs(outputs, 1, kind.type_name())?;
    let x = req(inputs, 0, "x")?;
    let w = req(inputs, 1, "weights")?;
    let bias = inputs.get(2).copied().flatten();
    let wide = float_width(x, kind.type_name())? == 64;
    match kind {
        LayerKind::Convolution { .. } if wide => conv::<f64>(kind, x, w, bias, &mut outputs[0], tactic),
        LayerKind::Convolution { .. } => conv::<f32>(kind, x, w, bias, &mut outputs[0], tactic),
        LayerKind::Deconvolution { .. } if wide => deconv::<f64>(kind, x, w, bias, &mut outputs[0]),
        LayerKind::Deconvolution { .. } => deconv::<f32>(kind, x, w, bias, &mut outputs[0]),
        _ => kiln_bail!(Internal, "conv kernel got '{}'", kind.type_name()),
    }
}

/// Work below this many multiply-adds runs on the calling thread (rayon overhead dominates).
const PAR_MIN_WORK: usize = 1 << 15;

fn conv<T: KFloat>(kind: &LayerKind, x: &Tensor, w: &Tensor, bias: Option<&Tensor>, out: &mut Tensor, tactic: Option<ConvTactic>) -> Result<()> {
    let LayerKind::Convolution { strides, pads, dilations, groups, padding_mode, activation } = kind else {
        kiln_bail!(Internal, "not a convolution");
    };
    if x.rank() < 3 || w.rank() != x.rank() {
        kiln_bail!(InvalidInput, "convolution needs x [N, C, spatial…] and weights of the same rank, got {:?} and {:?}", x.shape, w.shape);
    }
    let (n, c) = (x.shape[0], x.shape[1]);
    let m = w.shape[0];
    let g = *groups;
    if g == 0 || c % g != 0 || m % g != 0 || w.shape[1] * g != c {
        kiln_bail!(ShapeMismatch, "input has {} channels but the weights {:?} with groups {} expect {}", c, w.shape, g, w.shape[1] * g);
    }
    let (cg, mg) = (c / g, m / g);
    let geo = window_geometry(&x.shape[2..], &w.shape[2..], strides, pads, dilations, *padding_mode, false)?;
    let mut want = vec![n, m];
    want.extend(&geo.out);
    if want != out.shape {
        kiln_bail!(Internal, "convolution output is {:?} but the geometry gives {:?}", out.shape, want);
    }
    if let Some(b) = bias {
        if b.numel() != m {
            kiln_bail!(ShapeMismatch, "convolution bias has {} values for {} output channels", b.numel(), m);
        }
    }
    let win = Window { input: &x.shape[2..], out: &geo.out, kernel: &geo.kernel, strides: &geo.strides, dilations: &geo.dilations, pads_begin: &geo.pads_begin };
    let p_in = checked_numel(&x.shape[2..])?;
    let p = checked_numel(&geo.out)?;
    let taps = checked_numel(&geo.kernel)?;
    let kk = cg * taps;
    let shape = ConvShape {
        cg,
        groups: g,
        kernel: &geo.kernel,
        strides: &geo.strides,
        dilations: &geo.dilations,
        pads_begin: &geo.pads_begin,
        pads_end: &geo.pads_end,
        f32_compute: !matches!(x.data, kiln_core::tensor::TensorData::F64(_)),
    };
    let chosen = tactic.filter(|&t| shape.eligible(t)).unwrap_or_else(|| shape.heuristic());
    let xv = view::<T>(x);
    let wv = view::<T>(w);
    let bv = bias.map(view::<T>);
    with_out::<T>(out, |o| {
        if p == 0 || n == 0 || m == 0 {
            return Ok(());
        }
        if chosen == ConvTactic::DepthwiseDirect {
            channelwise(&xv, &wv, bv.as_deref(), o, &win, c, m, mg, p_in, p, taps);
        } else if chosen == ConvTactic::WinogradF2x3 {
            let wg = winograd::WinoGeom {
                n,
                c,
                m,
                h: x.shape[2],
                w: x.shape[3],
                oh: geo.out[0],
                ow: geo.out[1],
                pad_top: geo.pads_begin[0],
                pad_left: geo.pads_begin[1],
            };
            winograd::conv_f2x3(&xv, &wv, bv.as_deref(), o, &wg)?;
        } else {
            let direct = chosen == ConvTactic::Direct1x1;
            let mut col = if direct { Vec::new() } else { vec![T::zero(); kk * p] };
            for img in 0..n {
                let oimg = &mut o[img * m * p..(img + 1) * m * p];
                if let Some(b) = bv.as_deref() {
                    for (plane, &bb) in oimg.chunks_mut(p).zip(b.iter()) {
                        plane.iter_mut().for_each(|v| *v = bb);
                    }
                }
                for grp in 0..g {
                    let xoff = (img * c + grp * cg) * p_in;
                    let rhs = if direct {
                        Mat { data: &xv[..], offset: xoff, rs: p_in, cs: 1 }
                    } else {
                        let xg = &xv[xoff..xoff + cg * p_in];
                        let fill = |(r, row): (usize, &mut [T])| im2col_row(&xg[(r / taps) * p_in..(r / taps + 1) * p_in], &win, r % taps, row);
                        if kk * p >= PAR_MIN_WORK {
                            col.par_chunks_mut(p).enumerate().for_each(fill);
                        } else {
                            col.chunks_mut(p).enumerate().for_each(fill);
                        }
                        Mat { data: &col[..], offset: 0, rs: p, cs: 1 }
                    };
                    matmul_into(
                        mg,
                        p,
                        kk,
                        &mut oimg[grp * mg * p..(grp + 1) * mg * p],
                        p,
                        bv.is_some(),
                        Mat { data: &wv[..], offset: grp * mg * kk, rs: kk, cs: 1 },
                        rhs,
                        gemm_parallelism(mg, p, kk),
                    )?;
                }
            }
        }
        if let Some(act) = activation {
            activate(act, o, p);
        }
        Ok(())
    })
}

/// One input channel per group (depthwise and channel multipliers): each output plane is a
/// weighted sum of `taps` shifted copies of its input channel, built one im2col row at a time.
#[allow(clippy::too_many_arguments)]
fn channelwise<T: KFloat>(x: &[T], w: &[T], bias: Option<&[T]>, o: &mut [T], win: &Window, c: usize, m: usize, mg: usize, p_in: usize, p: usize, taps: usize) {
    let plane = |(idx, dst): (usize, &mut [T]), row: &mut Vec<T>| {
        let (img, oc) = (idx / m, idx % m);
        let ic = oc / mg;
        let src = &x[(img * c + ic) * p_in..(img * c + ic + 1) * p_in];
        let b = bias.map_or(T::zero(), |b| b[oc]);
        dst.iter_mut().for_each(|v| *v = b);
        row.resize(p, T::zero());
        for t in 0..taps {
            im2col_row(src, win, t, row);
            let wt = w[oc * taps + t];
            for (d, &r) in dst.iter_mut().zip(row.iter()) {
                *d = *d + wt * r;
            }
        }
    };
    if o.len() * taps >= PAR_MIN_WORK {
        o.par_chunks_mut(p).enumerate().for_each_init(Vec::new, |row, item| plane(item, row));
    } else {
        let mut row = Vec::new();
        o.chunks_mut(p).enumerate().for_each(|item| plane(item, &mut row));
    }
}

/// Fused activation over the output, split into planes for large tensors.
fn activate<T: KFloat>(act: &ActivationKind, o: &mut [T], p: usize) {
    if o.len() >= PAR_MIN_WORK && p > 0 {
        o.par_chunks_mut(p.max(4096)).for_each(|ch| apply_activation(act, ch));
    } else {
        apply_activation(act, o);
    }
}

fn deconv<T: KFloat>(kind: &LayerKind, x: &Tensor, w: &Tensor, bias: Option<&Tensor>, out: &mut Tensor) -> Result<()> {
    let LayerKind::Deconvolution { strides, pads, dilations, groups, output_padding, output_shape, padding_mode } = kind else {
        kiln_bail!(Internal, "not a deconvolution");
    };
    if x.rank() < 3 || w.rank() != x.rank() {
        kiln_bail!(InvalidInput, "deconvolution needs x [N, C, spatial…] and weights of the same rank, got {:?} and {:?}", x.shape, w.shape);
    }
    let (n, c) = (x.shape[0], x.shape[1]);
    let g = *groups;
    if g == 0 || w.shape[0] != c || c % g != 0 {
        kiln_bail!(ShapeMismatch, "input has {} channels but the weights {:?} (groups {}) expect {}", c, w.shape, g, w.shape[0]);
    }
    let (cg, mg) = (c / g, w.shape[1]);
    let m = mg * g;
    let in_sp: Vec<i64> = x.shape[2..].iter().map(|&d| d as i64).collect();
    let geo = deconv_geometry(&in_sp, &w.shape[2..], strides, pads, dilations, output_padding, output_shape, *padding_mode)?;
    let out_sp: Vec<usize> = geo.out.iter().map(|&d| d.max(0) as usize).collect();
    let mut want = vec![n, m];
    want.extend(&out_sp);
    if want != out.shape {
        kiln_bail!(Internal, "deconvolution output is {:?} but the geometry gives {:?}", out.shape, want);
    }
    if let Some(b) = bias {
        if b.numel() != m {
            kiln_bail!(ShapeMismatch, "deconvolution bias has {} values for {} output channels", b.numel(), m);
        }
    }
    let zero_pads = vec![0usize; in_sp.len()];
    let win = Window { input: &x.shape[2..], out: &out_sp, kernel: &geo.kernel, strides: &geo.strides, dilations: &geo.dilations, pads_begin: &zero_pads };
    let p_in = checked_numel(&x.shape[2..])?;
    let p = checked_numel(&out_sp)?;
    let taps = checked_numel(&geo.kernel)?;
    let rows = mg * taps;
    let xv = view::<T>(x);
    let wv = view::<T>(w);
    let bv = bias.map(view::<T>);
    let pads_begin = geo.pads_begin.clone();
    with_out::<T>(out, |o| {
        o.iter_mut().for_each(|v| *v = T::zero());
        if p == 0 || n == 0 || m == 0 {
            return Ok(());
        }
        let mut col = vec![T::zero(); rows * p_in];
        for img in 0..n {
            for grp in 0..g {
                // col[(m, tap), i] = Σ_c w[c, m, tap] · x[c, i]  (wᵀ via strides, no copy).
                matmul_into(
                    rows,
                    p_in,
                    cg,
                    &mut col,
                    p_in,
                    false,
                    Mat { data: &wv[..], offset: grp * cg * rows, rs: 1, cs: rows },
                    Mat { data: &xv[..], offset: (img * c + grp * cg) * p_in, rs: p_in, cs: 1 },
                    gemm_parallelism(rows, p_in, cg),
                )?;
                let planes = &mut o[(img * m + grp * mg) * p..(img * m + (grp + 1) * mg) * p];
                let add = |(mi, plane): (usize, &mut [T])| {
                    for t in 0..taps {
                        let r = (mi * taps + t) * p_in;
                        col2im_row(&col[r..r + p_in], &win, t, &pads_begin, plane);
                    }
                };
                if rows * p_in >= PAR_MIN_WORK {
                    planes.par_chunks_mut(p).enumerate().for_each(add);
                } else {
                    planes.chunks_mut(p).enumerate().for_each(add);
                }
            }
        }
        if let Some(b) = bv.as_deref() {
            for (i, plane) in o.chunks_mut(p).enumerate() {
                let bb = b[i % m];
                plane.iter_mut().for_each(|v| *v = *v + bb);
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::layer::PaddingMode;

    /// Direct-loop reference convolution (2-D), straight from the definition.
    #[allow(clippy::too_many_arguments)]
    fn naive(x: &[f32], xs: [usize; 4], w: &[f32], ws: [usize; 4], b: &[f32], s: [usize; 2], pb: [usize; 2], d: [usize; 2], g: usize, os: [usize; 2]) -> Vec<f32> {
        let [n, c, h, wd] = xs;
        let [m, cg, kh, kw] = ws;
        let mg = m / g;
        let mut out = vec![0f32; n * m * os[0] * os[1]];
        for img in 0..n {
            for oc in 0..m {
                let grp = oc / mg;
                for oh in 0..os[0] {
                    for ow in 0..os[1] {
                        let mut acc = b.get(oc).copied().unwrap_or(0.);
                        for ci in 0..cg {
                            let ic = grp * cg + ci;
                            for i in 0..kh {
                                for j in 0..kw {
                                    let ih = (oh * s[0] + i * d[0]) as isize - pb[0] as isize;
                                    let iw = (ow * s[1] + j * d[1]) as isize - pb[1] as isize;
                                    if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < wd {
                                        acc += x[((img * c + ic) * h + ih as usize) * wd + iw as usize] * w[((oc * cg + ci) * kh + i) * kw + j];
                                    }
                                }
                            }
                        }
                        out[((img * m + oc) * os[0] + oh) * os[1] + ow] = acc;
                    }
                }
            }
        }
        out
    }

    fn data(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i * 31 + seed * 17) % 23) as f32 - 11.) / 8.).collect()
    }

    fn check(xs: [usize; 4], m: usize, k: [usize; 2], s: [usize; 2], pads: [usize; 4], d: [usize; 2], g: usize, with_bias: bool) {
        let cg = xs[1] / g;
        let ws = [m, cg, k[0], k[1]];
        let x = data(xs.iter().product(), 1);
        let w = data(ws.iter().product(), 2);
        let b: Vec<f32> = if with_bias { data(m, 3) } else { vec![0.; m] };
        let kind = LayerKind::Convolution {
            strides: s.to_vec(),
            pads: pads.to_vec(),
            dilations: d.to_vec(),
            groups: g,
            padding_mode: PaddingMode::Explicit,
            activation: None,
        };
        let xt = Tensor::from_f32(xs.to_vec(), x.clone()).unwrap();
        let wt = Tensor::from_f32(ws.to_vec(), w.clone()).unwrap();
        let bt = Tensor::from_f32(vec![m], b.clone()).unwrap();
        let ins = [Some(&xt), Some(&wt), if with_bias { Some(&bt) } else { None }];
        let shapes = kiln_core::infer::infer_concrete(&kind, &ins).unwrap();
        let os = [shapes[0].1[2], shapes[0].1[3]];
        let mut out = vec![Tensor::zeros(kiln_core::DType::Float32, &shapes[0].1).unwrap()];
        execute(&kind, &ins, &mut out).unwrap();
        let want = naive(&x, xs, &w, ws, if with_bias { &b } else { &[] }, s, [pads[0], pads[1]], d, g, os);
        let got = out[0].as_f32().unwrap();
        assert_eq!(got.len(), want.len());
        for (a, b) in got.iter().zip(want.iter()) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
    }

    #[test]
    fn conv_variants_match_naive() {
        check([1, 3, 7, 6], 4, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 1, true);
        check([2, 4, 9, 8], 6, [3, 2], [2, 3], [1, 0, 2, 1], [1, 1], 2, false);
        check([1, 4, 10, 10], 4, [3, 3], [1, 1], [2, 2, 2, 2], [2, 2], 4, true); // depthwise dilated
        check([1, 2, 6, 6], 4, [3, 3], [2, 1], [1, 1, 1, 1], [1, 1], 2, true); // channel multiplier 2
        check([1, 8, 5, 5], 16, [1, 1], [1, 1], [0, 0, 0, 0], [1, 1], 1, true); // direct 1x1
        check([1, 8, 5, 5], 16, [1, 1], [2, 2], [0, 0, 0, 0], [1, 1], 1, false); // strided 1x1
        check([1, 64, 20, 20], 64, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 1, true); // parallel path
    }

    #[test]
    fn conv_same_upper_and_relu() {
        let kind = LayerKind::Convolution {
            strides: vec![2, 2],
            pads: vec![],
            dilations: vec![],
            groups: 1,
            padding_mode: PaddingMode::SameUpper,
            activation: Some(ActivationKind::Relu),
        };
        let x = Tensor::from_f32(vec![1, 1, 5, 5], (0..25).map(|v| v as f32).collect()).unwrap();
        let w = Tensor::from_f32(vec![1, 1, 3, 3], vec![1.; 9]).unwrap();
        let shapes = kiln_core::infer::infer_concrete(&kind, &[Some(&x), Some(&w)]).unwrap();
        assert_eq!(shapes[0].1, vec![1, 1, 3, 3]);
        let mut out = vec![Tensor::zeros(kiln_core::DType::Float32, &shapes[0].1).unwrap()];
        execute(&kind, &[Some(&x), Some(&w)], &mut out).unwrap();
        // ONNX test_conv_with_autopad_same expected output.
        assert_eq!(out[0].as_f32().unwrap(), &[12., 27., 24., 63., 108., 81., 72., 117., 84.]);
    }

    #[test]
    fn deconv_matches_onnx_example() {
        // ONNX test_convtranspose: x 3x3 (0..9), weights ones [1, 2, 3, 3].
        let kind = LayerKind::Deconvolution {
            strides: vec![],
            pads: vec![],
            dilations: vec![],
            groups: 1,
            output_padding: vec![],
            output_shape: vec![],
            padding_mode: PaddingMode::Explicit,
        };
        let x = Tensor::from_f32(vec![1, 1, 3, 3], (0..9).map(|v| v as f32).collect()).unwrap();
        let w = Tensor::from_f32(vec![1, 2, 3, 3], vec![1.; 18]).unwrap();
        let shapes = kiln_core::infer::infer_concrete(&kind, &[Some(&x), Some(&w)]).unwrap();
        assert_eq!(shapes[0].1, vec![1, 2, 5, 5]);
        let mut out = vec![Tensor::zeros(kiln_core::DType::Float32, &shapes[0].1).unwrap()];
        execute(&kind, &[Some(&x), Some(&w)], &mut out).unwrap();
        let plane = [0., 1., 3., 3., 2., 3., 8., 15., 12., 7., 9., 21., 36., 27., 15., 9., 20., 33., 24., 13., 6., 13., 21., 15., 8.];
        assert_eq!(&out[0].as_f32().unwrap()[..25], &plane);
        assert_eq!(&out[0].as_f32().unwrap()[25..], &plane);
    }
}
