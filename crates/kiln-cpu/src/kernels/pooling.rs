//! Pooling: max, average (count_include_pad) and Lp over N-D windows with strides, dilations,
//! explicit/auto pads and ceil_mode; global variants pool whole planes. Planes (n, c) are
//! independent and run in parallel. int8/uint8 max pooling goes through f32 (exact).

use super::matmul::common::{need_outputs, req, view, with_out, KFloat};
use kiln_core::error::Result;
use kiln_core::infer::compute::window_geometry;
use kiln_core::kiln_bail;
use kiln_core::layer::{LayerKind, PoolingKind};
use kiln_core::tensor::{checked_numel, strides, Tensor, TensorData};
use rayon::prelude::*;

pub fn execute(kind: &LayerKind, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
    need_outputs(outputs, 1, "pooling")?;
    let x = req(inputs, 0, "x")?;
    match x.data {
        TensorData::F64(_) => run::<f64>(kind, x, &mut outputs[0]),
        TensorData::F32(_) | TensorData::F16(_) | TensorData::I8(_) | TensorData::U8(_) => run::<f32>(kind, x, &mut outputs[0]),
        _ => kiln_bail!(UnsupportedDtype, "pooling does not support {} input", x.dtype()),
    }
}

/// The window of one output position along one axis: first valid input coordinate, how many
/// taps land inside the input, and how many land inside input + pads (the average divisor with
/// count_include_pad).
#[derive(Clone, Copy)]
struct AxisWindow {
    first: usize,
    valid: usize,
    padded: usize,
}

struct Plan {
    axes: Vec<Vec<AxisWindow>>,
    dil: Vec<usize>,
    in_strides: Vec<usize>,
}

fn run<T: KFloat>(kind: &LayerKind, x: &Tensor, out: &mut Tensor) -> Result<()> {
    let LayerKind::Pooling { pooling, global, kernel_shape, strides: st, pads, dilations, ceil_mode, padding_mode } = kind else {
        kiln_bail!(Internal, "pooling kernel got '{}'", kind.type_name());
    };
    if x.rank() < 3 {
        kiln_bail!(InvalidInput, "pooling input must be [N, C, spatial…], got {:?}", x.shape);
    }
    let sp = &x.shape[2..];
    let p_in = checked_numel(sp)?;
    let planes = x.shape[0] * x.shape[1];
    let xv = view::<T>(x);
    let pooling = *pooling;
    if *global {
        if out.numel() != planes {
            kiln_bail!(Internal, "global pooling output {:?} does not match input {:?}", out.shape, x.shape);
        }
        return with_out::<T>(out, |o| {
            let f = |(i, d): (usize, &mut T)| *d = global_plane(&xv[i * p_in..(i + 1) * p_in], pooling);
            if xv.len() >= 1 << 15 {
                o.par_iter_mut().enumerate().for_each(f);
            } else {
                o.iter_mut().enumerate().for_each(f);
            }
            Ok(())
        });
    }
    let geo = window_geometry(sp, kernel_shape, st, pads, dilations, *padding_mode, *ceil_mode)?;
    let mut want = x.shape[..2].to_vec();
    want.extend(&geo.out);
    if want != out.shape {
        kiln_bail!(Internal, "pooling output is {:?} but the geometry gives {:?}", out.shape, want);
    }
    let axes: Vec<Vec<AxisWindow>> = (0..sp.len())
        .map(|d| {
            (0..geo.out[d])
                .map(|o| {
                    let start = (o * geo.strides[d]) as isize - geo.pads_begin[d] as isize;
                    let (k, dl) = (geo.kernel[d] as isize, geo.dilations[d] as isize);
                    let coord = |t: isize| start + t * dl;
                    let inside = (0..k).filter(|&t| coord(t) >= 0 && coord(t) < sp[d] as isize);
                    let first_t = inside.clone().next();
                    let valid = inside.count();
                    let hi = (sp[d] + geo.pads_end[d]) as isize;
                    let padded = (0..k).filter(|&t| coord(t) < hi).count();
                    AxisWindow { first: first_t.map_or(0, |t| coord(t) as usize), valid, padded }
                })
                .collect()
        })
        .collect();
    let plan = Plan { axes, dil: geo.dilations.clone(), in_strides: strides(sp) };
    let p_out = checked_numel(&geo.out)?;
    let taps = checked_numel(&geo.kernel)?;
    with_out::<T>(out, |o| {
        if p_out == 0 {
            return Ok(());
        }
        let f = |(i, dst): (usize, &mut [T])| pool_plane(&xv[i * p_in..(i + 1) * p_in], dst, &plan, pooling);
        if o.len() * taps >= 1 << 15 {
            o.par_chunks_mut(p_out).enumerate().for_each(f);
        } else {
            o.chunks_mut(p_out).enumerate().for_each(f);
        }
        Ok(())
    })
}

fn global_plane<T: KFloat>(v: &[T], pooling: PoolingKind) -> T {
    match pooling {
        PoolingKind::Max => v.iter().fold(T::neg_infinity(), |a, &b| if b > a || b.is_nan() { b } else { a }),
        PoolingKind::Average { .. } => {
            let s: f64 = v.iter().map(|x| x.f64()).sum();
            T::f(s / v.len().max(1) as f64)
        }
        PoolingKind::Lp { p } => {
            let p = p as f64;
            T::f(v.iter().map(|x| x.f64().abs().powf(p)).sum::<f64>().powf(1.0 / p))
        }
    }
}

/// Accumulator of one window: sum (or max) over valid taps.
fn window<T: KFloat>(src: &[T], plan: &Plan, idx: &[usize], d: usize, base: usize, acc: &mut T, f: &impl Fn(T, T) -> T) {
    let w = plan.axes[d][idx[d]];
    let step = plan.dil[d] * plan.in_strides[d];
    let mut off = base + w.first * plan.in_strides[d];
    if d + 1 == idx.len() {
        for _ in 0..w.valid {
            *acc = f(*acc, src[off]);
            off += step;
        }
    } else {
        for _ in 0..w.valid {
            window(src, plan, idx, d + 1, off, acc, f);
            off += step;
        }
    }
}

fn pool_plane<T: KFloat>(src: &[T], dst: &mut [T], plan: &Plan, pooling: PoolingKind) {
    let nd = plan.axes.len();
    let mut idx = [0usize; 8];
    let idx = &mut idx[..nd.min(8)];
    if nd > 8 {
        return; // shape inference never produces more than 6 spatial axes in practice; stay panic-free
    }
    for d in dst.iter_mut() {
        let (valid, padded) = (0..nd).fold((1usize, 1usize), |(v, p), a| {
            let w = plan.axes[a][idx[a]];
            (v * w.valid, p * w.padded)
        });
        *d = match pooling {
            PoolingKind::Max => {
                let mut acc = T::neg_infinity();
                window(src, plan, idx, 0, 0, &mut acc, &|a: T, b: T| if b > a || b.is_nan() { b } else { a });
                acc
            }
            PoolingKind::Average { count_include_pad } => {
                let mut acc = T::zero();
                window(src, plan, idx, 0, 0, &mut acc, &|a: T, b: T| a + b);
                let n = if count_include_pad { padded } else { valid };
                if n == 0 { T::zero() } else { acc / T::f(n as f64) }
            }
            PoolingKind::Lp { p } => {
                let pp = T::f(p as f64);
                let mut acc = T::zero();
                window(src, plan, idx, 0, 0, &mut acc, &|a: T, b: T| a + b.abs().powf(pp));
                acc.powf(T::one() / pp)
            }
        };
        for a in (0..nd).rev() {
            idx[a] += 1;
            if idx[a] < plan.axes[a].len() {
                break;
            }
            idx[a] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::layer::PaddingMode;
    use kiln_core::DType;

    fn pool(kind: &LayerKind, x: &Tensor) -> Tensor {
        let shapes = kiln_core::infer::infer_concrete(kind, &[Some(x)]).unwrap();
        let mut out = vec![Tensor::zeros(x.dtype(), &shapes[0].1).unwrap()];
        execute(kind, &[Some(x)], &mut out).unwrap();
        out.pop().unwrap()
    }

    fn k(pooling: PoolingKind, kernel: &[usize], strides: &[usize], pads: &[usize], ceil: bool, mode: PaddingMode) -> LayerKind {
        LayerKind::Pooling {
            pooling,
            global: false,
            kernel_shape: kernel.to_vec(),
            strides: strides.to_vec(),
            pads: pads.to_vec(),
            dilations: vec![],
            ceil_mode: ceil,
            padding_mode: mode,
        }
    }

    #[test]
    fn maxpool_ceil_matches_onnx() {
        // test_maxpool_2d_ceil: 4x4 1..16, kernel 3, stride 2, ceil → [[11,12],[15,16]].
        let x = Tensor::from_f32(vec![1, 1, 4, 4], (1..=16).map(|v| v as f32).collect()).unwrap();
        let r = pool(&k(PoolingKind::Max, &[3, 3], &[2, 2], &[], true, PaddingMode::Explicit), &x);
        assert_eq!(r.shape, vec![1, 1, 2, 2]);
        assert_eq!(r.as_f32().unwrap(), &[11., 12., 15., 16.]);
    }

    #[test]
    fn avgpool_pads_and_count_include_pad() {
        // test_averagepool_2d_precomputed_pads(_count_include_pad): 5x5 1..25, kernel 5, pads 2.
        let x = Tensor::from_f32(vec![1, 1, 5, 5], (1..=25).map(|v| v as f32).collect()).unwrap();
        let r = pool(&k(PoolingKind::Average { count_include_pad: false }, &[5, 5], &[], &[2, 2, 2, 2], false, PaddingMode::Explicit), &x);
        assert_eq!(&r.as_f32().unwrap()[..5], &[7., 7.5, 8., 8.5, 9.]);
        let r = pool(&k(PoolingKind::Average { count_include_pad: true }, &[5, 5], &[], &[2, 2, 2, 2], false, PaddingMode::Explicit), &x);
        let want = [2.52, 3.6, 4.8, 4.08, 3.24];
        for (a, b) in r.as_f32().unwrap()[..5].iter().zip(want) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn same_upper_and_global_and_uint8() {
        // test_averagepool_2d_precomputed_same_upper: 5x5, kernel 3, stride 2.
        let x = Tensor::from_f32(vec![1, 1, 5, 5], (1..=25).map(|v| v as f32).collect()).unwrap();
        let r = pool(&k(PoolingKind::Average { count_include_pad: false }, &[3, 3], &[2, 2], &[], false, PaddingMode::SameUpper), &x);
        assert_eq!(r.as_f32().unwrap(), &[4., 5.5, 7., 11.5, 13., 14.5, 19., 20.5, 22.]);
        let g = LayerKind::Pooling {
            pooling: PoolingKind::Max,
            global: true,
            kernel_shape: vec![],
            strides: vec![],
            pads: vec![],
            dilations: vec![],
            ceil_mode: false,
            padding_mode: PaddingMode::Explicit,
        };
        assert_eq!(pool(&g, &x).as_f32().unwrap(), &[25.]);
        let xu = Tensor::new(vec![1, 1, 2, 2], TensorData::U8(vec![1, 200, 3, 4])).unwrap();
        let r = pool(&k(PoolingKind::Max, &[2, 2], &[], &[], false, PaddingMode::Explicit), &xu);
        assert_eq!(r.data, TensorData::U8(vec![200]));
        assert_eq!(r.dtype(), DType::Uint8);
    }
}
