//! Softmax / LogSoftmax / Hardmax along one axis (ONNX-13 semantics). The tensor is viewed as
//! [outer, axis, inner]; each outer block is independent (parallel for large tensors) and is
//! processed with per-inner running max/sum arrays so strided axes stay cache friendly.

use super::matmul::common::{need_outputs, req, view, with_out, KFloat};
use kiln_core::error::Result;
use kiln_core::infer::compute::normalize_axis;
use kiln_core::kiln_bail;
use kiln_core::layer::{LayerKind, SoftmaxKind};
use kiln_core::tensor::{Tensor, TensorData};
use rayon::prelude::*;

pub fn execute(kind: &LayerKind, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
    let LayerKind::Softmax { kind: sk, axis } = kind else {
        kiln_bail!(Internal, "softmax kernel got '{}'", kind.type_name());
    };
    need_outputs(outputs, 1, "softmax")?;
    let x = req(inputs, 0, "x")?;
    if outputs[0].shape != x.shape {
        kiln_bail!(Internal, "softmax output {:?} differs from input {:?}", outputs[0].shape, x.shape);
    }
    let a = normalize_axis(*axis, x.rank())?;
    let outer: usize = x.shape[..a].iter().product();
    let len = x.shape[a];
    let inner: usize = x.shape[a + 1..].iter().product();
    match x.data {
        TensorData::F64(_) => run::<f64>(*sk, x, &mut outputs[0], outer, len, inner),
        TensorData::F32(_) | TensorData::F16(_) => run::<f32>(*sk, x, &mut outputs[0], outer, len, inner),
        _ => kiln_bail!(UnsupportedDtype, "softmax needs float input, got {}", x.dtype()),
    }
}

fn run<T: KFloat>(sk: SoftmaxKind, x: &Tensor, out: &mut Tensor, outer: usize, len: usize, inner: usize) -> Result<()> {
    let xv = view::<T>(x);
    let block = len * inner;
    with_out::<T>(out, |o| {
        if block == 0 || outer == 0 {
            return Ok(());
        }
        let f = |(b, dst): (usize, &mut [T])| softmax_block(sk, &xv[b * block..(b + 1) * block], dst, len, inner);
        if o.len() >= 1 << 14 && outer > 1 {
            o.par_chunks_mut(block).enumerate().for_each(f);
        } else {
            o.chunks_mut(block).enumerate().for_each(f);
        }
        Ok(())
    })
}

/// One [len, inner] block: normalise each of the `inner` columns along `len`.
pub fn softmax_block<T: KFloat>(sk: SoftmaxKind, src: &[T], dst: &mut [T], len: usize, inner: usize) {
    let mut mx = vec![T::neg_infinity(); inner];
    for r in 0..len {
        for (m, &v) in mx.iter_mut().zip(&src[r * inner..(r + 1) * inner]) {
            if v > *m || v.is_nan() {
                *m = v;
            }
        }
    }
    match sk {
        SoftmaxKind::Hardmax => {
            // 1 at the first maximum of each column, 0 elsewhere.
            dst.iter_mut().for_each(|v| *v = T::zero());
            for j in 0..inner {
                if let Some(r) = (0..len).find(|&r| src[r * inner + j] == mx[j]) {
                    dst[r * inner + j] = T::one();
                }
            }
        }
        SoftmaxKind::Softmax | SoftmaxKind::LogSoftmax => {
            let mut sum = vec![T::zero(); inner];
            for r in 0..len {
                let row = r * inner..(r + 1) * inner;
                for ((d, &v), (s, &m)) in dst[row.clone()].iter_mut().zip(&src[row]).zip(sum.iter_mut().zip(&mx)) {
                    let e = (v - m).exp();
                    *d = e;
                    *s = *s + e;
                }
            }
            if sk == SoftmaxKind::Softmax {
                let inv: Vec<T> = sum.iter().map(|&s| T::one() / s).collect();
                for r in 0..len {
                    for (d, &i) in dst[r * inner..(r + 1) * inner].iter_mut().zip(&inv) {
                        *d = *d * i;
                    }
                }
            } else {
                // (x - max) - ln Σ: subtracting max first keeps precision for large inputs.
                let ls: Vec<T> = sum.iter().map(|&s| s.ln()).collect();
                for r in 0..len {
                    let row = r * inner..(r + 1) * inner;
                    for (((d, &v), &l), &m) in dst[row.clone()].iter_mut().zip(&src[row]).zip(&ls).zip(&mx) {
                        *d = (v - m) - l;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sm(sk: SoftmaxKind, axis: i64, x: &Tensor) -> Vec<f32> {
        let mut out = vec![Tensor::zeros(x.dtype(), &x.shape).unwrap()];
        execute(&LayerKind::Softmax { kind: sk, axis }, &[Some(x)], &mut out).unwrap();
        out[0].as_f32().unwrap().to_vec()
    }

    #[test]
    fn softmax_example_and_axis0() {
        // test_softmax_example: [-1, 0, 1] → [0.09003057, 0.24472847, 0.66524096].
        let x = Tensor::from_f32(vec![1, 3], vec![-1., 0., 1.]).unwrap();
        let r = sm(SoftmaxKind::Softmax, -1, &x);
        for (a, b) in r.iter().zip([0.09003057, 0.24472847, 0.66524096]) {
            assert!((a - b).abs() < 1e-6);
        }
        let r = sm(SoftmaxKind::LogSoftmax, 1, &x);
        for (a, b) in r.iter().zip([-2.40760596, -1.40760596, -0.40760596]) {
            assert!((a - b).abs() < 1e-6);
        }
        // Axis 0 of a 2x2: columns normalise independently; large values stay finite.
        let x = Tensor::from_f32(vec![2, 2], vec![1000., 0., 1000., 1.]).unwrap();
        let r = sm(SoftmaxKind::Softmax, 0, &x);
        assert!((r[0] - 0.5).abs() < 1e-6 && (r[2] - 0.5).abs() < 1e-6);
        assert!((r[1] - 0.26894142).abs() < 1e-6 && (r[3] - 0.7310586).abs() < 1e-6);
    }

    #[test]
    fn hardmax_first_max() {
        let x = Tensor::from_f32(vec![2, 3], vec![3., 3., 1., 0., 2., 2.]).unwrap();
        assert_eq!(sm(SoftmaxKind::Hardmax, 1, &x), vec![1., 0., 0., 0., 1., 0.]);
    }
}
