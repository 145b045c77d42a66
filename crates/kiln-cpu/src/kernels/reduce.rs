//! Reductions (all `ReduceOp`s over any axis set), ArgMin/ArgMax, CumSum and TopK.
//!
//! Floats are accumulated in f64 (exact enough for every ONNX tolerance, and one code path for
//! f16/f32/f64); integers in wrapping i64, as a C accumulator of the input's width would wrap.

use super::matmul::common::{need_outputs, req};
use super::matmul::ints_from_i64;
use kiln_core::error::Result;
use kiln_core::infer::compute::{normalize_axis, reduce_axes};
use kiln_core::kiln_bail;
use kiln_core::layer::{LayerKind, ReduceOp};
use kiln_core::tensor::{strides, Tensor, TensorData};
use kiln_core::DType;
use rayon::prelude::*;

pub fn execute(kind: &LayerKind, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
    let x = req(inputs, 0, "x")?;
    if x.dtype() == DType::Bool {
        kiln_bail!(UnsupportedDtype, "'{}' does not accept bool input", kind.type_name());
    }
    match kind {
        LayerKind::Reduce { op, axes, keep_dims: _, noop_with_empty_axes } => {
            need_outputs(outputs, 1, "reduce")?;
            let set = reduce_axes(axes.as_deref(), x.rank(), *noop_with_empty_axes)?;
            reduce(*op, x, &set, &mut outputs[0])
        }
        LayerKind::ArgMinMax { max, axis, keep_dims: _, select_last_index } => {
            need_outputs(outputs, 1, "arg-min/max")?;
            let a = normalize_axis(*axis, x.rank())?;
            argminmax(x, a, *max, *select_last_index, &mut outputs[0])
        }
        LayerKind::CumSum { exclusive, reverse } => {
            need_outputs(outputs, 1, "cumsum")?;
            let ax = req(inputs, 1, "axis")?.data.to_i64_vec();
            let Some(&ax) = ax.first() else { kiln_bail!(InvalidInput, "cumsum axis tensor is empty") };
            let a = normalize_axis(ax, x.rank())?;
            cumsum(x, a, *exclusive, *reverse, &mut outputs[0])
        }
        LayerKind::TopK { axis, largest, sorted: _ } => {
            need_outputs(outputs, 2, "top-k")?;
            let a = normalize_axis(*axis, x.rank())?;
            let k = req(inputs, 1, "k")?.data.to_i64_vec();
            let Some(&k) = k.first() else { kiln_bail!(InvalidInput, "top-k k tensor is empty") };
            if k < 0 || k as usize > x.shape[a] {
                kiln_bail!(InvalidValue, "top-k k = {} is outside 0..={} (axis {} of {:?})", k, x.shape[a], a, x.shape);
            }
            let (vals, rest) = outputs.split_at_mut(1);
            topk(x, a, k as usize, *largest, &mut vals[0], &mut rest[0])
        }
        _ => kiln_bail!(Internal, "reduce kernel got '{}'", kind.type_name()),
    }
}

/// Splits `shape` into kept and reduced axes: `bases` are the flat offsets of every kept-index
/// combination (in output order), `offsets` those of every reduced-index combination.
pub fn partition(shape: &[usize], axes: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let st = strides(shape);
    let expand = |dims: Vec<usize>| -> Vec<usize> {
        let mut acc = vec![0usize];
        for d in dims {
            let mut next = Vec::with_capacity(acc.len() * shape[d]);
            for &a in &acc {
                for i in 0..shape[d] {
                    next.push(a + i * st[d]);
                }
            }
            acc = next;
        }
        acc
    };
    let kept: Vec<usize> = (0..shape.len()).filter(|d| !axes.contains(d)).collect();
    (expand(kept), expand(axes.to_vec()))
}

fn is_float(t: &Tensor) -> bool {
    t.dtype().is_float()
}

fn reduce(op: ReduceOp, x: &Tensor, axes: &[usize], out: &mut Tensor) -> Result<()> {
    let (bases, offs) = partition(&x.shape, axes);
    if bases.len() != out.numel() {
        kiln_bail!(Internal, "reduce output {:?} does not match input {:?} over axes {:?}", out.shape, x.shape, axes);
    }
    let big = x.numel() >= 1 << 15;
    if is_float(x) {
        let v = x.data.to_f64_vec();
        let f = |&b: &usize| reduce_f64(op, offs.iter().map(|&o| v[b + o]), offs.len());
        let res: Vec<f64> = if big { bases.par_iter().map(f).collect() } else { bases.iter().map(f).collect() };
        out.data = TensorData::from_f64_vec(out.dtype(), &res);
    } else {
        let v = x.data.to_i64_vec();
        let f = |&b: &usize| reduce_i64(op, offs.iter().map(|&o| v[b + o]), offs.len());
        let res: Vec<i64> = if big { bases.par_iter().map(f).collect() } else { bases.iter().map(f).collect() };
        out.data = ints_from_i64(out.dtype(), &res)?;
    }
    Ok(())
}

fn reduce_f64(op: ReduceOp, it: impl Iterator<Item = f64> + Clone, n: usize) -> f64 {
    match op {
        ReduceOp::Sum => it.sum(),
        ReduceOp::Prod => it.product(),
        ReduceOp::Max => it.fold(f64::NEG_INFINITY, |a, b| if b > a || b.is_nan() { b } else { a }),
        ReduceOp::Min => it.fold(f64::INFINITY, |a, b| if b < a || b.is_nan() { b } else { a }),
        ReduceOp::Mean => it.sum::<f64>() / n as f64,
        ReduceOp::L1 => it.map(f64::abs).sum(),
        ReduceOp::L2 => it.map(|v| v * v).sum::<f64>().sqrt(),
        ReduceOp::LogSum => it.sum::<f64>().ln(),
        ReduceOp::LogSumExp => {
            let m = it.clone().fold(f64::NEG_INFINITY, f64::max);
            if m.is_infinite() {
                // All -inf (or empty): the sum of exps is 0 → -inf; +inf stays +inf.
                return if m > 0.0 { m } else { f64::NEG_INFINITY };
            }
            m + it.map(|v| (v - m).exp()).sum::<f64>().ln()
        }
        ReduceOp::SumSquare => it.map(|v| v * v).sum(),
    }
}

fn reduce_i64(op: ReduceOp, it: impl Iterator<Item = i64> + Clone, n: usize) -> i64 {
    match op {
        ReduceOp::Sum => it.fold(0i64, i64::wrapping_add),
        ReduceOp::Prod => it.fold(1i64, i64::wrapping_mul),
        ReduceOp::Max => it.max().unwrap_or(i64::MIN),
        ReduceOp::Min => it.min().unwrap_or(i64::MAX),
        ReduceOp::Mean => {
            let s = it.fold(0i64, i64::wrapping_add);
            if n == 0 { 0 } else { s / n as i64 }
        }
        ReduceOp::L1 => it.fold(0i64, |a, b| a.wrapping_add(b.wrapping_abs())),
        ReduceOp::SumSquare => it.fold(0i64, |a, b| a.wrapping_add(b.wrapping_mul(b))),
        ReduceOp::L2 | ReduceOp::LogSum | ReduceOp::LogSumExp => reduce_f64(op, it.map(|v| v as f64), n) as i64,
    }
}

/// [outer, len, inner] view of `shape` around axis `a`.
fn around(shape: &[usize], a: usize) -> (usize, usize, usize) {
    (shape[..a].iter().product(), shape[a], shape[a + 1..].iter().product())
}

/// Values as a totally comparable key: floats as f64, integers as i64.
enum Keys {
    F(Vec<f64>),
    I(Vec<i64>),
}

fn keys(x: &Tensor) -> Keys {
    if is_float(x) { Keys::F(x.data.to_f64_vec()) } else { Keys::I(x.data.to_i64_vec()) }
}

fn argminmax(x: &Tensor, a: usize, max: bool, last: bool, out: &mut Tensor) -> Result<()> {
    let (outer, len, inner) = around(&x.shape, a);
    if len == 0 || out.numel() != outer * inner {
        kiln_bail!(InvalidInput, "arg-min/max over axis {} of {:?} into {:?} is not possible", a, x.shape, out.shape);
    }
    fn pick<K: PartialOrd + Copy>(v: &[K], outer: usize, len: usize, inner: usize, max: bool, last: bool) -> Vec<i64> {
        let mut res = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                let at = |r: usize| v[(o * len + r) * inner + i];
                let mut best = 0usize;
                for r in 1..len {
                    let (c, b) = (at(r), at(best));
                    let better = if max { c > b || (last && c == b) } else { c < b || (last && c == b) };
                    if better {
                        best = r;
                    }
                }
                res.push(best as i64);
            }
        }
        res
    }
    let res = match keys(x) {
        Keys::F(v) => pick(&v, outer, len, inner, max, last),
        Keys::I(v) => pick(&v, outer, len, inner, max, last),
    };
    out.data = TensorData::I64(res);
    Ok(())
}

fn cumsum(x: &Tensor, a: usize, exclusive: bool, reverse: bool, out: &mut Tensor) -> Result<()> {
    if out.shape != x.shape {
        kiln_bail!(Internal, "cumsum output {:?} differs from input {:?}", out.shape, x.shape);
    }
    let (outer, len, inner) = around(&x.shape, a);
    fn scan<K: Copy>(v: &[K], outer: usize, len: usize, inner: usize, excl: bool, rev: bool, zero: K, add: impl Fn(K, K) -> K) -> Vec<K> {
        let mut res = vec![zero; v.len()];
        for o in 0..outer {
            for i in 0..inner {
                let mut acc = zero;
                for step in 0..len {
                    let r = if rev { len - 1 - step } else { step };
                    let idx = (o * len + r) * inner + i;
                    if excl {
                        res[idx] = acc;
                        acc = add(acc, v[idx]);
                    } else {
                        acc = add(acc, v[idx]);
                        res[idx] = acc;
                    }
                }
            }
        }
        res
    }
    out.data = match keys(x) {
        Keys::F(v) => TensorData::from_f64_vec(out.dtype(), &scan(&v, outer, len, inner, exclusive, reverse, 0.0, |p, q| p + q)),
        Keys::I(v) => ints_from_i64(out.dtype(), &scan(&v, outer, len, inner, exclusive, reverse, 0i64, i64::wrapping_add))?,
    };
    Ok(())
}

fn topk(x: &Tensor, a: usize, k: usize, largest: bool, values: &mut Tensor, indices: &mut Tensor) -> Result<()> {
    let (outer, len, inner) = around(&x.shape, a);
    if values.numel() != outer * k * inner || indices.numel() != outer * k * inner || values.dtype() != x.dtype() {
        kiln_bail!(Internal, "top-k outputs {:?}/{:?} do not match input {:?} with k {}", values.shape, indices.shape, x.shape, k);
    }
    // Ties keep the lower index first (stable order by index), as ONNX requires; NaN sorts as
    // the largest value, like onnxruntime.
    fn order<K: PartialOrd + Copy>(v: &[K], outer: usize, len: usize, inner: usize, k: usize, largest: bool, nan: impl Fn(K) -> bool) -> Vec<usize> {
        let mut res = vec![0usize; outer * k * inner];
        let mut idx: Vec<usize> = Vec::with_capacity(len);
        for o in 0..outer {
            for i in 0..inner {
                let at = |r: usize| v[(o * len + r) * inner + i];
                idx.clear();
                idx.extend(0..len);
                let cmp = |p: &usize, q: &usize| {
                    let (x, y) = (at(*p), at(*q));
                    let ord = match (nan(x), nan(y)) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                    };
                    let ord = if largest { ord.reverse() } else { ord };
                    ord.then(p.cmp(q))
                };
                if k < len {
                    idx.select_nth_unstable_by(k.saturating_sub(1).min(len - 1), cmp);
                    idx.truncate(k);
                }
                idx.sort_unstable_by(cmp);
                for (j, &r) in idx.iter().take(k).enumerate() {
                    res[(o * k + j) * inner + i] = r;
                }
            }
        }
        res
    }
    let pos = match keys(x) {
        Keys::F(v) => order(&v, outer, len, inner, k, largest, f64::is_nan),
        Keys::I(v) => order(&v, outer, len, inner, k, largest, |_| false),
    };
    // Flat input offset of every selected element, in output order.
    let src: Vec<usize> = pos.iter().enumerate().map(|(j, &r)| ((j / inner) / k * len + r) * inner + j % inner).collect();
    indices.data = TensorData::I64(pos.iter().map(|&r| r as i64).collect());
    macro_rules! gather {
        ($($v:ident),*) => {
            match (&x.data, &mut values.data) {
                $((TensorData::$v(s), TensorData::$v(d)) => {
                    for (dst, &i) in d.iter_mut().zip(&src) {
                        *dst = s[i];
                    }
                })*
                _ => kiln_bail!(Internal, "top-k values dtype {} differs from input {}", values.dtype(), x.dtype()),
            }
        };
    }
    gather!(F32, F16, F64, I8, U8, I16, U16, I32, U32, I64, U64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kind: &LayerKind, ins: &[Option<&Tensor>]) -> Vec<Tensor> {
        let shapes = kiln_core::infer::infer_concrete(kind, ins).unwrap();
        let mut outs: Vec<Tensor> = shapes.iter().map(|(d, s)| Tensor::zeros(*d, s).unwrap()).collect();
        execute(kind, ins, &mut outs).unwrap();
        outs
    }

    #[test]
    fn reduce_ops() {
        let x = Tensor::from_f32(vec![2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap();
        let k = |op, axes: Option<Vec<i64>>, keep| LayerKind::Reduce { op, axes, keep_dims: keep, noop_with_empty_axes: false };
        let r = run(&k(ReduceOp::Sum, Some(vec![1]), true), &[Some(&x)]);
        assert_eq!(r[0].shape, vec![2, 1]);
        assert_eq!(r[0].as_f32().unwrap(), &[6., 15.]);
        let r = run(&k(ReduceOp::Mean, None, false), &[Some(&x)]);
        assert_eq!(r[0].shape, Vec::<usize>::new());
        assert_eq!(r[0].as_f32().unwrap(), &[3.5]);
        let r = run(&k(ReduceOp::Max, Some(vec![0]), false), &[Some(&x)]);
        assert_eq!(r[0].as_f32().unwrap(), &[4., 5., 6.]);
        let r = run(&k(ReduceOp::LogSumExp, Some(vec![-1]), false), &[Some(&x)]);
        assert!((r[0].as_f32().unwrap()[0] - 3.4076059).abs() < 1e-5);
        let xi = Tensor::from_i64(vec![2, 2], vec![1, -2, 3, 4]).unwrap();
        let r = run(&k(ReduceOp::Prod, Some(vec![0]), false), &[Some(&xi)]);
        assert_eq!(r[0].data, TensorData::I64(vec![3, -8]));
        // Empty reduced set: sum 0, keep dims.
        let e = Tensor::from_f32(vec![2, 0, 4], vec![]).unwrap();
        let r = run(&k(ReduceOp::Sum, Some(vec![1]), true), &[Some(&e)]);
        assert_eq!(r[0].shape, vec![2, 1, 4]);
        assert!(r[0].as_f32().unwrap().iter().all(|&v| v == 0.));
        // noop_with_empty_axes: identity.
        let noop = LayerKind::Reduce { op: ReduceOp::Sum, axes: None, keep_dims: true, noop_with_empty_axes: true };
        assert_eq!(run(&noop, &[Some(&x)])[0], x);
    }

    #[test]
    fn argmax_last_index_and_cumsum_and_topk() {
        let x = Tensor::from_f32(vec![2, 2], vec![2., 2., 3., 10.]).unwrap();
        let am = |last| LayerKind::ArgMinMax { max: true, axis: 1, keep_dims: true, select_last_index: last };
        assert_eq!(run(&am(false), &[Some(&x)])[0].data, TensorData::I64(vec![0, 1]));
        assert_eq!(run(&am(true), &[Some(&x)])[0].data, TensorData::I64(vec![1, 1]));

        let c = Tensor::from_f32(vec![5], vec![1., 2., 3., 4., 5.]).unwrap();
        let axis = Tensor::new(vec![], TensorData::I32(vec![0])).unwrap();
        let cs = |exclusive, reverse| LayerKind::CumSum { exclusive, reverse };
        assert_eq!(run(&cs(false, false), &[Some(&c), Some(&axis)])[0].as_f32().unwrap(), &[1., 3., 6., 10., 15.]);
        assert_eq!(run(&cs(true, true), &[Some(&c), Some(&axis)])[0].as_f32().unwrap(), &[14., 12., 9., 5., 0.]);

        // test_topk: 3x4 0..11, k=3 along axis 1 → [[3,2,1],...].
        let t = Tensor::from_f32(vec![3, 4], (0..12).map(|v| v as f32).collect()).unwrap();
        let kk = Tensor::from_i64(vec![1], vec![3]).unwrap();
        let r = run(&LayerKind::TopK { axis: -1, largest: true, sorted: true }, &[Some(&t), Some(&kk)]);
        assert_eq!(r[0].as_f32().unwrap(), &[3., 2., 1., 7., 6., 5., 11., 10., 9.]);
        assert_eq!(r[1].data, TensorData::I64(vec![3, 2, 1, 3, 2, 1, 3, 2, 1]));
        // Ties: lower index first; smallest.
        let t = Tensor::from_i64(vec![5], vec![3, 1, 3, 1, 2]).unwrap();
        let r = run(&LayerKind::TopK { axis: 0, largest: false, sorted: true }, &[Some(&t), Some(&kk)]);
        assert_eq!(r[0].data, TensorData::I64(vec![1, 1, 2]));
        assert_eq!(r[1].data, TensorData::I64(vec![1, 3, 4]));
        let r = run(&LayerKind::TopK { axis: 0, largest: true, sorted: true }, &[Some(&t), Some(&kk)]);
        assert_eq!(r[1].data, TensorData::I64(vec![0, 2, 4]));
    }
}
