//! Hand-checked cases for the pointwise and data-movement layers: inference sizes the outputs
//! (as the runtime does), then the kernel fills them.

use half::f16;
use kiln_core::layer::*;
use kiln_core::tensor::{Tensor, TensorData};
use kiln_core::{infer_concrete, DType, ErrorCode};

fn run(kind: &LayerKind, inputs: &[Option<&Tensor>]) -> kiln_core::Result<Vec<Tensor>> {
    let infos = infer_concrete(kind, inputs)?;
    let mut outs: Vec<Tensor> = infos.iter().map(|(dt, s)| Tensor::zeros(*dt, s).unwrap()).collect();
    kiln_cpu::execute(kind, inputs, &mut outs)?;
    Ok(outs)
}

fn run1(kind: LayerKind, inputs: &[&Tensor]) -> Tensor {
    let ins: Vec<Option<&Tensor>> = inputs.iter().map(|t| Some(*t)).collect();
    run(&kind, &ins).unwrap().remove(0)
}

fn f32t(shape: &[usize], v: &[f32]) -> Tensor {
    Tensor::from_f32(shape.to_vec(), v.to_vec()).unwrap()
}
fn i64t(shape: &[usize], v: &[i64]) -> Tensor {
    Tensor::from_i64(shape.to_vec(), v.to_vec()).unwrap()
}
fn t(shape: &[usize], d: TensorData) -> Tensor {
    Tensor::new(shape.to_vec(), d).unwrap()
}
fn ew(op: ElementWiseOp) -> LayerKind {
    LayerKind::ElementWise { op }
}

#[test]
fn elementwise_broadcast_and_int_semantics() {
    let a = f32t(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
    let b = f32t(&[3], &[10., 20., 30.]);
    let o = run1(ew(ElementWiseOp::Add), &[&a, &b]);
    assert_eq!(o.shape, vec![2, 3]);
    assert_eq!(o.data, TensorData::F32(vec![11., 22., 33., 14., 25., 36.]));
    let col = f32t(&[2, 1], &[1., 2.]);
    let o = run1(ew(ElementWiseOp::Sub), &[&col, &b]);
    assert_eq!(o.data, TensorData::F32(vec![-9., -19., -29., -8., -18., -28.]));

    let x = t(&[4], TensorData::I32(vec![-7, 7, -7, 7]));
    let y = t(&[4], TensorData::I32(vec![2, -2, -2, 2]));
    assert_eq!(run1(ew(ElementWiseOp::Div), &[&x, &y]).data, TensorData::I32(vec![-3, -3, 3, 3]));
    assert_eq!(run1(ew(ElementWiseOp::Mod), &[&x, &y]).data, TensorData::I32(vec![1, -1, -1, 1]));
    assert_eq!(run1(ew(ElementWiseOp::Fmod), &[&x, &y]).data, TensorData::I32(vec![-1, 1, -1, 1]));
    let fx = f32t(&[2], &[-7.5, 7.5]);
    let fy = f32t(&[2], &[2., -2.]);
    assert_eq!(run1(ew(ElementWiseOp::Mod), &[&fx, &fy]).data, TensorData::F32(vec![0.5, -0.5]));
    assert_eq!(run1(ew(ElementWiseOp::Fmod), &[&fx, &fy]).data, TensorData::F32(vec![-1.5, 1.5]));

    let zero = t(&[1], TensorData::I32(vec![0]));
    let e = run(&ew(ElementWiseOp::Div), &[Some(&x), Some(&zero)]).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidValue);
    let bad = f32t(&[4], &[0.; 4]);
    let e = run(&ew(ElementWiseOp::Add), &[Some(&a), Some(&bad)]).unwrap_err();
    assert_eq!(e.code, ErrorCode::ShapeMismatch);
    assert!(e.message.contains("dimension 1 is 3 vs 4"), "{}", e.message);
    let nan = f32t(&[2], &[f32::NAN, 1.]);
    let o = run1(ew(ElementWiseOp::Max), &[&nan, &fy]);
    let TensorData::F32(v) = o.data else { panic!() };
    assert!(v[0].is_nan() && v[1] == 1.0);
}

#[test]
fn pow_mixed_types_and_bitshift() {
    let base = i64t(&[3], &[1, 2, 3]);
    let e = f32t(&[3], &[4., 5., 6.]);
    assert_eq!(run1(ew(ElementWiseOp::Pow), &[&base, &e]).data, TensorData::I64(vec![1, 32, 729]));
    let fb = f32t(&[3], &[1., 2., 3.]);
    let ie = t(&[3], TensorData::I32(vec![4, 5, 6]));
    assert_eq!(run1(ew(ElementWiseOp::Pow), &[&fb, &ie]).data, TensorData::F32(vec![1., 32., 729.]));
    let x = t(&[3], TensorData::U8(vec![16, 4, 1]));
    let s = t(&[3], TensorData::U8(vec![1, 2, 3]));
    assert_eq!(run1(ew(ElementWiseOp::BitShiftRight), &[&x, &s]).data, TensorData::U8(vec![8, 1, 0]));
    assert_eq!(run1(ew(ElementWiseOp::BitShiftLeft), &[&x, &s]).data, TensorData::U8(vec![32, 16, 8]));
    let s9 = t(&[1], TensorData::U8(vec![9]));
    assert_eq!(run1(ew(ElementWiseOp::BitShiftLeft), &[&x, &s9]).data, TensorData::U8(vec![0, 0, 0]));
    let signed = t(&[1], TensorData::I8(vec![1]));
    assert!(run(&ew(ElementWiseOp::BitShiftLeft), &[Some(&signed), Some(&signed)]).is_err());
}

#[test]
fn comparisons_logic_select() {
    let a = f32t(&[3], &[1., 2., 3.]);
    let b = f32t(&[1], &[2.]);
    assert_eq!(run1(ew(ElementWiseOp::Greater), &[&a, &b]).data, TensorData::Bool(vec![false, false, true]));
    assert_eq!(run1(ew(ElementWiseOp::LessOrEqual), &[&a, &b]).data, TensorData::Bool(vec![true, true, false]));
    let p = t(&[2], TensorData::Bool(vec![true, false]));
    let q = t(&[2, 1], TensorData::Bool(vec![true, false]));
    assert_eq!(run1(ew(ElementWiseOp::Xor), &[&p, &q]).data, TensorData::Bool(vec![false, true, true, false]));
    let c = t(&[2, 1], TensorData::Bool(vec![true, false]));
    let x = f32t(&[3], &[1., 2., 3.]);
    let y = f32t(&[], &[9.]);
    let o = run1(LayerKind::Select, &[&c, &x, &y]);
    assert_eq!(o.shape, vec![2, 3]);
    assert_eq!(o.data, TensorData::F32(vec![1., 2., 3., 9., 9., 9.]));
}

#[test]
fn cast_matrix() {
    let x = f32t(&[4], &[-1.7, 2.9, f32::NAN, 300.0]);
    let cast = |to| LayerKind::Cast { to };
    assert_eq!(run1(cast(DType::Int32), &[&x]).data, TensorData::I32(vec![-1, 2, 0, 300]));
    assert_eq!(run1(cast(DType::Bool), &[&x]).data, TensorData::Bool(vec![true, true, true, true]));
    assert_eq!(run1(cast(DType::Uint8), &[&x]).data, TensorData::U8(vec![0, 2, 0, 255]));
    let i = t(&[2], TensorData::I32(vec![300, -1]));
    assert_eq!(run1(cast(DType::Uint8), &[&i]).data, TensorData::U8(vec![44, 255]));
    assert_eq!(run1(cast(DType::Float16), &[&i]).data, TensorData::F16(vec![f16::from_f32(300.), f16::from_f32(-1.)]));
    let b = t(&[2], TensorData::Bool(vec![true, false]));
    assert_eq!(run1(cast(DType::Float64), &[&b]).data, TensorData::F64(vec![1., 0.]));
    let h = t(&[1], TensorData::F16(vec![f16::from_f32(2.5)]));
    assert_eq!(run1(cast(DType::Int64), &[&h]).data, TensorData::I64(vec![2]));
    // Every pair runs.
    for &from in &DType::ALL {
        for &to in &DType::ALL {
            let x = Tensor::zeros(from, &[2]).unwrap();
            let o = run1(cast(to), &[&x]);
            assert_eq!(o.dtype(), to);
        }
    }
}

#[test]
fn unary_and_activation() {
    let un = |op| LayerKind::Unary { op, detect_positive: true, detect_negative: true };
    let x = f32t(&[5], &[0.5, 1.5, 2.5, -2.5, -0.4]);
    assert_eq!(run1(un(UnaryOp::Round), &[&x]).data, TensorData::F32(vec![0., 2., 2., -2., -0.]));
    assert_eq!(run1(un(UnaryOp::Sign), &[&x]).data, TensorData::F32(vec![1., 1., 1., -1., -1.]));
    let inf = f32t(&[3], &[f32::INFINITY, f32::NEG_INFINITY, 1.]);
    let k = LayerKind::Unary { op: UnaryOp::IsInf, detect_positive: true, detect_negative: false };
    assert_eq!(run1(k, &[&inf]).data, TensorData::Bool(vec![true, false, false]));
    let i = t(&[3], TensorData::I32(vec![-3, 0, 4]));
    assert_eq!(run1(un(UnaryOp::Abs), &[&i]).data, TensorData::I32(vec![3, 0, 4]));
    assert_eq!(run1(un(UnaryOp::BitwiseNot), &[&i]).data, TensorData::I32(vec![2, -1, -5]));
    let e = run1(un(UnaryOp::Erf), &[&f32t(&[2], &[1.0, -3.0])]);
    let TensorData::F32(v) = e.data else { panic!() };
    assert!((v[0] - 0.842_700_8).abs() < 1e-6 && (v[1] + 0.999_977_9).abs() < 1e-6, "{v:?}");
    let act = |activation| LayerKind::Activation { activation };
    let g = run1(act(ActivationKind::Gelu { tanh: false }), &[&f32t(&[1], &[1.0])]);
    let TensorData::F32(v) = g.data else { panic!() };
    assert!((v[0] - 0.841_344_7).abs() < 1e-6);
    let hs = run1(act(ActivationKind::HardSwish), &[&f32t(&[3], &[-4., 1., 4.])]);
    let TensorData::F32(v) = hs.data else { panic!() };
    assert!((v[1] - 2.0 / 3.0).abs() < 1e-6 && v[0] == 0.0 && v[2] == 4.0);
    let c = run1(act(ActivationKind::Clip { min: -1.0, max: f32::INFINITY }), &[&i]);
    assert_eq!(c.data, TensorData::I32(vec![-1, 0, 4]));
    let h = t(&[2], TensorData::F16(vec![f16::from_f32(-1.), f16::from_f32(2.)]));
    assert_eq!(run1(act(ActivationKind::Relu), &[&h]).data, TensorData::F16(vec![f16::ZERO, f16::from_f32(2.)]));
}

#[test]
fn pointwise_chain_matches_unfused() {
    let x = f32t(&[2, 3], &[-1., 2., -3., 4., -5., 6.]);
    let bias = f32t(&[3], &[1., 1., 10.]);
    let two = f32t(&[], &[2.]);
    let steps = vec![
        PointwiseStep::Binary { op: ElementWiseOp::Add, operand: 1, swapped: false },
        PointwiseStep::Activation { activation: ActivationKind::Relu },
        PointwiseStep::Binary { op: ElementWiseOp::Sub, operand: 2, swapped: true },
    ];
    let o = run1(LayerKind::PointwiseChain { steps }, &[&x, &bias, &two]);
    // relu(x + bias) then 2 - acc.
    assert_eq!(o.data, TensorData::F32(vec![2., -1., -5., -3., 2., -14.]));
    // Operand 0 is the chain's original input: x * sigmoid(x).
    let steps = vec![
        PointwiseStep::Activation { activation: ActivationKind::Sigmoid },
        PointwiseStep::Binary { op: ElementWiseOp::Mul, operand: 0, swapped: false },
    ];
    let o = run1(LayerKind::PointwiseChain { steps }, &[&f32t(&[1], &[2.0])]);
    let TensorData::F32(v) = o.data else { panic!() };
    assert!((v[0] - 2.0 / (1.0 + (-2.0f32).exp())).abs() < 1e-6);
    // Large enough to take the parallel path.
    let n = 300_000;
    let big = f32t(&[n / 3, 3], &(0..n).map(|i| i as f32 - 1000.0).collect::<Vec<_>>());
    let steps = vec![
        PointwiseStep::Binary { op: ElementWiseOp::Mul, operand: 1, swapped: false },
        PointwiseStep::Unary { op: UnaryOp::Abs },
    ];
    let o = run1(LayerKind::PointwiseChain { steps }, &[&big, &bias]);
    let TensorData::F32(v) = o.data else { panic!() };
    for i in [0usize, 2, 1001, n - 1] {
        let m = [1., 1., 10.][i % 3];
        assert_eq!(v[i], ((i as f32 - 1000.0) * m).abs());
    }
}

#[test]
fn slice_semantics() {
    let x = i64t(&[10], &(0..10).collect::<Vec<_>>());
    let s = |st: i64, en: i64, step: i64| {
        let (a, b, c, ax) = (i64t(&[1], &[st]), i64t(&[1], &[en]), i64t(&[1], &[step]), i64t(&[1], &[0]));
        run(&LayerKind::Slice, &[Some(&x), Some(&a), Some(&b), Some(&ax), Some(&c)]).unwrap().remove(0)
    };
    assert_eq!(s(-1, i64::MIN, -3).data, TensorData::I64(vec![9, 6, 3, 0]));
    assert_eq!(s(2, i64::MAX, 3).data, TensorData::I64(vec![2, 5, 8]));
    assert_eq!(s(-3, -1, 1).data, TensorData::I64(vec![7, 8]));
    assert_eq!(s(5, 2, 1).shape, vec![0]);
    assert_eq!(s(100, -100, -4).data, TensorData::I64(vec![9, 5, 1]));
    let m = f32t(&[3, 4], &(0..12).map(|v| v as f32).collect::<Vec<_>>());
    let (st, en, ax) = (i64t(&[2], &[1, -1]), i64t(&[2], &[3, 0]), i64t(&[2], &[0, 1]));
    let step = i64t(&[2], &[1, -2]);
    let o = run(&LayerKind::Slice, &[Some(&m), Some(&st), Some(&en), Some(&ax), Some(&step)]).unwrap().remove(0);
    assert_eq!(o.shape, vec![2, 2]);
    assert_eq!(o.data, TensorData::F32(vec![7., 5., 11., 9.]));
}

#[test]
fn pad_modes() {
    let x = f32t(&[3], &[1., 2., 3.]);
    let p = |mode, pads: &[i64]| {
        let pads = i64t(&[2], pads);
        run(&LayerKind::Pad { mode }, &[Some(&x), Some(&pads)]).unwrap().remove(0).data
    };
    assert_eq!(p(PadMode::Reflect, &[2, 2]), TensorData::F32(vec![3., 2., 1., 2., 3., 2., 1.]));
    assert_eq!(p(PadMode::Edge, &[2, 2]), TensorData::F32(vec![1., 1., 1., 2., 3., 3., 3.]));
    assert_eq!(p(PadMode::Wrap, &[2, 2]), TensorData::F32(vec![2., 3., 1., 2., 3., 1., 2.]));
    assert_eq!(p(PadMode::Constant, &[1, 0]), TensorData::F32(vec![0., 1., 2., 3.]));
    assert_eq!(p(PadMode::Reflect, &[-1, 1]), TensorData::F32(vec![2., 3., 2.]));
    let m = f32t(&[2, 2], &[1., 2., 3., 4.]);
    let pads = i64t(&[4], &[1, 0, 0, 1]);
    let v = f32t(&[], &[9.]);
    let o = run(&LayerKind::Pad { mode: PadMode::Constant }, &[Some(&m), Some(&pads), Some(&v)]).unwrap().remove(0);
    assert_eq!(o.shape, vec![3, 3]);
    assert_eq!(o.data, TensorData::F32(vec![9., 9., 9., 1., 2., 9., 3., 4., 9.]));
    // axes input: pad only axis 1 (given as -1).
    let pads = i64t(&[2], &[0, 2]);
    let axes = i64t(&[1], &[-1]);
    let o = run(&LayerKind::Pad { mode: PadMode::Edge }, &[Some(&m), Some(&pads), None, Some(&axes)]).unwrap().remove(0);
    assert_eq!(o.data, TensorData::F32(vec![1., 2., 2., 2., 3., 4., 4., 4.]));
}

#[test]
fn gather_family() {
    let d = f32t(&[3, 2], &[1., 2., 3., 4., 5., 6.]);
    let i = i64t(&[2], &[-1, 0]);
    let o = run1(LayerKind::Gather { axis: 0 }, &[&d, &i]);
    assert_eq!((o.shape.clone(), o.data), (vec![2, 2], TensorData::F32(vec![5., 6., 1., 2.])));
    let i2 = t(&[1, 1], TensorData::I32(vec![1]));
    let o = run1(LayerKind::Gather { axis: -1 }, &[&d, &i2]);
    assert_eq!((o.shape.clone(), o.data), (vec![3, 1, 1], TensorData::F32(vec![2., 4., 6.])));
    let bad = i64t(&[1], &[3]);
    assert_eq!(run(&LayerKind::Gather { axis: 0 }, &[Some(&d), Some(&bad)]).unwrap_err().code, ErrorCode::InvalidValue);

    let ge = f32t(&[2, 2], &[1., 2., 3., 4.]);
    let gi = i64t(&[2, 2], &[0, 0, 1, -2]);
    assert_eq!(run1(LayerKind::GatherElements { axis: 1 }, &[&ge, &gi]).data, TensorData::F32(vec![1., 1., 4., 3.]));

    let nd = i64t(&[2, 2, 2], &[0, 1, 2, 3, 4, 5, 6, 7]);
    let ni = i64t(&[2, 1], &[1, 0]);
    let o = run1(LayerKind::GatherNd { batch_dims: 1 }, &[&nd, &ni]);
    assert_eq!((o.shape.clone(), o.data), (vec![2, 2], TensorData::I64(vec![2, 3, 4, 5])));
    let ni = i64t(&[2, 2], &[0, 1, 1, 0]);
    let o = run1(LayerKind::GatherNd { batch_dims: 0 }, &[&nd, &ni]);
    assert_eq!(o.data, TensorData::I64(vec![2, 3, 4, 5]));
}

#[test]
fn scatter_family() {
    let d = f32t(&[1, 5], &[1., 2., 3., 4., 5.]);
    let i = i64t(&[1, 2], &[1, -2]);
    let u = f32t(&[1, 2], &[1.1, 2.1]);
    let k = LayerKind::ScatterElements { axis: 1, reduction: ScatterReduction::None };
    assert_eq!(run1(k, &[&d, &i, &u]).data, TensorData::F32(vec![1., 1.1, 3., 2.1, 5.]));
    let i = i64t(&[1, 2], &[1, 1]);
    let k = LayerKind::ScatterElements { axis: 1, reduction: ScatterReduction::Add };
    assert_eq!(run1(k, &[&d, &i, &u]).data, TensorData::F32(vec![1., 2. + 1.1 + 2.1, 3., 4., 5.]));
    let d = i64t(&[8], &[1, 2, 3, 4, 5, 6, 7, 8]);
    let i = i64t(&[4, 1], &[4, 3, 1, 7]);
    let u = i64t(&[4], &[9, 10, 11, 12]);
    let k = LayerKind::ScatterNd { reduction: ScatterReduction::None };
    assert_eq!(run1(k, &[&d, &i, &u]).data, TensorData::I64(vec![1, 11, 3, 10, 9, 6, 7, 12]));
    let k = LayerKind::ScatterNd { reduction: ScatterReduction::Mul };
    assert_eq!(run1(k, &[&d, &i, &u]).data, TensorData::I64(vec![1, 22, 3, 40, 45, 6, 7, 96]));
}

#[test]
fn shuffles() {
    let x = i64t(&[2, 3, 4], &(0..24).collect::<Vec<_>>());
    let o = run1(LayerKind::Transpose { perm: vec![2, 0, 1] }, &[&x]);
    assert_eq!(o.shape, vec![4, 2, 3]);
    let TensorData::I64(v) = &o.data else { panic!() };
    for (a, b, c) in [(0, 0, 0), (3, 1, 2), (1, 0, 2)] {
        assert_eq!(v[a * 6 + b * 3 + c], (b * 12 + c * 4 + a) as i64);
    }
    let o = run1(LayerKind::Transpose { perm: vec![] }, &[&x]);
    assert_eq!(o.shape, vec![4, 3, 2]);

    let r = run1(LayerKind::Reshape { allow_zero: false }, &[&x, &i64t(&[2], &[0, -1])]);
    assert_eq!(r.shape, vec![2, 12]);
    let e = run(&LayerKind::Reshape { allow_zero: false }, &[Some(&x), Some(&i64t(&[1], &[5]))]).unwrap_err();
    assert_eq!(e.code, ErrorCode::ShapeMismatch);

    let s = f32t(&[3, 1], &[1., 2., 3.]);
    let o = run1(LayerKind::Expand, &[&s, &i64t(&[3], &[2, 1, 2])]);
    assert_eq!(o.shape, vec![2, 3, 2]);
    assert_eq!(o.data, TensorData::F32(vec![1., 1., 2., 2., 3., 3., 1., 1., 2., 2., 3., 3.]));

    let m = f32t(&[2, 2], &[1., 2., 3., 4.]);
    let o = run1(LayerKind::Tile, &[&m, &i64t(&[2], &[1, 2])]);
    assert_eq!(o.data, TensorData::F32(vec![1., 2., 1., 2., 3., 4., 3., 4.]));

    let a = f32t(&[2, 1], &[1., 2.]);
    let o = run1(LayerKind::Concatenation { axis: -1 }, &[&a, &m]);
    assert_eq!(o.data, TensorData::F32(vec![1., 1., 2., 2., 3., 4.]));

    let seven = i64t(&[7], &(0..7).collect::<Vec<_>>());
    let outs = run(&LayerKind::Split { axis: 0, num_outputs: 3 }, &[Some(&seven)]).unwrap();
    assert_eq!(outs.iter().map(|t| t.shape[0]).collect::<Vec<_>>(), vec![3, 3, 1]);
    assert_eq!(outs[2].data, TensorData::I64(vec![6]));
    let sizes = i64t(&[2], &[2, 5]);
    let outs = run(&LayerKind::Split { axis: 0, num_outputs: 2 }, &[Some(&seven), Some(&sizes)]).unwrap();
    assert_eq!(outs[1].data, TensorData::I64(vec![2, 3, 4, 5, 6]));

    let sq = run1(LayerKind::Squeeze { axes: None }, &[&f32t(&[1, 3, 1], &[1., 2., 3.])]);
    assert_eq!(sq.shape, vec![3]);
    let un = run1(LayerKind::Unsqueeze { axes: vec![0, -1] }, &[&sq]);
    assert_eq!(un.shape, vec![1, 3, 1]);
    let fl = run1(LayerKind::Flatten { axis: 2 }, &[&x]);
    assert_eq!(fl.shape, vec![6, 4]);
}

#[test]
fn depth_space() {
    let x = i64t(&[1, 8, 1, 1], &(0..8).collect::<Vec<_>>());
    let dcr = run1(LayerKind::DepthToSpace { block_size: 2, mode: DepthToSpaceMode::Dcr }, &[&x]);
    assert_eq!(dcr.shape, vec![1, 2, 2, 2]);
    assert_eq!(dcr.data, TensorData::I64(vec![0, 2, 4, 6, 1, 3, 5, 7]));
    let crd = run1(LayerKind::DepthToSpace { block_size: 2, mode: DepthToSpaceMode::Crd }, &[&x]);
    assert_eq!(crd.data, TensorData::I64((0..8).collect()));
    let back = run1(LayerKind::SpaceToDepth { block_size: 2 }, &[&dcr]);
    assert_eq!(back, x);
}

#[test]
fn generators_and_misc() {
    let vals = f32t(&[2], &[0., 1.]);
    let idx = i64t(&[3], &[0, -1, 5]);
    let depth = i64t(&[], &[3]);
    let o = run1(LayerKind::OneHot { axis: -1 }, &[&idx, &depth, &vals]);
    assert_eq!(o.shape, vec![3, 3]);
    assert_eq!(o.data, TensorData::F32(vec![1., 0., 0., 0., 0., 1., 0., 0., 0.]));
    let o = run1(LayerKind::OneHot { axis: 0 }, &[&idx, &depth, &vals]);
    assert_eq!(o.data, TensorData::F32(vec![1., 0., 0., 0., 0., 0., 0., 1., 0.]));

    let nz = run1(LayerKind::NonZero, &[&f32t(&[2, 2], &[1., 0., 1., 1.])]);
    assert_eq!((nz.shape.clone(), nz.data), (vec![2, 3], TensorData::I64(vec![0, 1, 1, 0, 0, 1])));

    let m = i64t(&[3, 3], &(1..10).collect::<Vec<_>>());
    let k = i64t(&[], &[1]);
    let o = run1(LayerKind::Trilu { upper: true }, &[&m, &k]);
    assert_eq!(o.data, TensorData::I64(vec![0, 2, 3, 0, 0, 6, 0, 0, 0]));
    let o = run(&LayerKind::Trilu { upper: false }, &[Some(&m)]).unwrap().remove(0);
    assert_eq!(o.data, TensorData::I64(vec![1, 0, 0, 4, 5, 0, 7, 8, 9]));

    let r = run1(LayerKind::Range, &[&i64t(&[], &[1]), &i64t(&[], &[10]), &i64t(&[], &[3])]);
    assert_eq!(r.data, TensorData::I64(vec![1, 4, 7]));
    let r = run1(LayerKind::Range, &[&f32t(&[], &[0.]), &f32t(&[], &[1.]), &f32t(&[], &[0.3])]);
    assert_eq!(r.shape, vec![4]);
    let r = run1(LayerKind::Range, &[&i64t(&[], &[10]), &i64t(&[], &[4]), &i64t(&[], &[-3])]);
    assert_eq!(r.data, TensorData::I64(vec![10, 7]));

    let x = f32t(&[2, 3, 4], &[0.; 24]);
    let s = run1(LayerKind::Shape { start: Some(-1), end: None }, &[&x]);
    assert_eq!(s.data, TensorData::I64(vec![4]));
    let s = run1(LayerKind::Shape { start: Some(-10), end: Some(10) }, &[&x]);
    assert_eq!(s.data, TensorData::I64(vec![2, 3, 4]));
    assert_eq!(run1(LayerKind::Size, &[&x]).data, TensorData::I64(vec![24]));
    let f = run1(LayerKind::Fill { value: 7.0, dtype: DType::Int32 }, &[&i64t(&[2], &[2, 2])]);
    assert_eq!(f.data, TensorData::I32(vec![7; 4]));
    let e = run1(LayerKind::EyeLike { k: 1, dtype: Some(DType::Float32) }, &[&i64t(&[2, 3], &[0; 6])]);
    assert_eq!(e.data, TensorData::F32(vec![0., 1., 0., 0., 0., 1.]));
}

#[test]
fn transpose_tiled_and_large() {
    // NCHW -> NHWC and back on a tensor big enough for the tiled path.
    let (n, c, h, w) = (2usize, 37usize, 19usize, 41usize);
    let x = i64t(&[n, c, h, w], &(0..(n * c * h * w) as i64).collect::<Vec<_>>());
    let nhwc = run1(LayerKind::Transpose { perm: vec![0, 2, 3, 1] }, &[&x]);
    let TensorData::I64(v) = &nhwc.data else { panic!() };
    for (ni, ci, hi, wi) in [(0, 0, 0, 0), (1, 36, 18, 40), (1, 5, 7, 9), (0, 20, 3, 33)] {
        assert_eq!(v[((ni * h + hi) * w + wi) * c + ci], (((ni * c + ci) * h + hi) * w + wi) as i64);
    }
    let back = run1(LayerKind::Transpose { perm: vec![0, 3, 1, 2] }, &[&nhwc]);
    assert_eq!(back, x);
    let m = f32t(&[300, 500], &(0..150_000).map(|v| v as f32).collect::<Vec<_>>());
    let mt = run1(LayerKind::Transpose { perm: vec![] }, &[&m]);
    let TensorData::F32(v) = &mt.data else { panic!() };
    assert_eq!(v[7 * 300 + 11], (11 * 500 + 7) as f32);
}

/// Rough throughput check: `cargo test -p kiln-cpu --test data_layers -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let n = 1 << 22;
    let x = f32t(&[64, n / 64], &vec![0.5; n]);
    let b = f32t(&[n / 64], &vec![1.5; n / 64]);
    let time = |name: &str, kind: LayerKind, ins: &[&Tensor]| {
        run1(kind.clone(), ins);
        let t0 = std::time::Instant::now();
        for _ in 0..5 {
            run1(kind.clone(), ins);
        }
        let dt = t0.elapsed().as_secs_f64() / 5.0;
        println!("{name}: {:.2} ms ({:.2} Gelem/s)", dt * 1e3, n as f64 / dt / 1e9);
    };
    time("add broadcast row", ew(ElementWiseOp::Add), &[&x, &b]);
    let steps = vec![
        PointwiseStep::Binary { op: ElementWiseOp::Mul, operand: 1, swapped: false },
        PointwiseStep::Binary { op: ElementWiseOp::Add, operand: 1, swapped: false },
        PointwiseStep::Activation { activation: ActivationKind::Relu },
    ];
    time("chain mul+add+relu", LayerKind::PointwiseChain { steps }, &[&x, &b]);
    time("sigmoid", LayerKind::Activation { activation: ActivationKind::Sigmoid }, &[&x]);
    let img = f32t(&[1, 64, 256, 256], &vec![1.0; n]);
    time("transpose nchw->nhwc", LayerKind::Transpose { perm: vec![0, 2, 3, 1] }, &[&img]);
    time("cast f32->f16", LayerKind::Cast { to: DType::Float16 }, &[&x]);
}
