//! Fused pointwise chains (built by the optimizer): the steps run per element on f32, over
//! contiguous blocks of the output so each step is a tight loop the compiler can vectorise;
//! blocks are spread over rayon threads for large tensors.

use super::broadcast::{par_rows, Broadcast};
use super::data_elem::{check_len, data_mut, req};
use super::pointwise_ops::{activation, binary_f32, unary_float};
use half::f16;
use kiln_core::dtype::DType;
use kiln_core::error::Result;
use kiln_core::kiln_bail;
use kiln_core::layer::{ActivationKind, ElementWiseOp, PointwiseStep};
use kiln_core::tensor::{Tensor, TensorData};
use std::borrow::Cow;

/// Elements processed per step before moving to the next step (fits in L1 with a few operands).
const BLOCK: usize = 1024;

fn as_f32(t: &Tensor) -> Cow<'_, [f32]> {
    match &t.data {
        TensorData::F32(v) => Cow::Borrowed(v.as_slice()),
        d => Cow::Owned(d.to_f64_vec().into_iter().map(|v| v as f32).collect()),
    }
}

/// A binary step's operand over one block: contiguous values or one repeated value.
#[derive(Clone, Copy)]
enum Operand<'a> {
    Block(&'a [f32]),
    Scalar(f32),
}

#[inline(always)]
fn apply(acc: &mut [f32], operand: Operand, f: impl Fn(f32, f32) -> f32) {
    match operand {
        Operand::Block(src) => acc.iter_mut().zip(src).for_each(|(v, &o)| *v = f(*v, o)),
        Operand::Scalar(o) => acc.iter_mut().for_each(|v| *v = f(*v, o)),
    }
}

/// `acc = acc op operand` (or `operand op acc`), with the common ops monomorphised so the loop
/// has no per-element branch on the op.
fn binary_step(op: ElementWiseOp, swapped: bool, acc: &mut [f32], operand: Operand) {
    use ElementWiseOp::*;
    match (op, swapped) {
        (Add, _) => apply(acc, operand, |a, o| a + o),
        (Mul, _) => apply(acc, operand, |a, o| a * o),
        (Sub, false) => apply(acc, operand, |a, o| a - o),
        (Sub, true) => apply(acc, operand, |a, o| o - a),
        (Div, false) => apply(acc, operand, |a, o| a / o),
        (Div, true) => apply(acc, operand, |a, o| o / a),
        (_, false) => apply(acc, operand, |a, o| binary_f32(op, a, o)),
        (_, true) => apply(acc, operand, |a, o| binary_f32(op, o, a)),
    }
}

pub fn run(steps: &[PointwiseStep], inputs: &[Option<&Tensor>], out: &mut Tensor) -> Result<()> {
    let x = req(inputs, 0, "x")?;
    if !x.dtype().is_float() || out.dtype() != x.dtype() {
        kiln_bail!(UnsupportedDtype, "pointwise chains compute on floats; input 0 is {} and the output {}", x.dtype(), out.dtype());
    }
    // Operands used by the chain, in input order; index 0 is the chain's start value.
    let mut used = vec![0usize];
    for (i, s) in steps.iter().enumerate() {
        if let PointwiseStep::Binary { operand, .. } = s {
            if inputs.get(*operand).copied().flatten().is_none() {
                kiln_bail!(InvalidNetwork, "pointwise chain step {i} refers to missing input {operand}");
            }
            if !used.contains(operand) {
                used.push(*operand);
            }
        }
    }
    let tensors: Vec<&Tensor> = used.iter().map(|&i| req(inputs, i, "operand")).collect::<Result<_>>()?;
    let values: Vec<Cow<[f32]>> = tensors.iter().map(|t| as_f32(t)).collect();
    let shapes: Vec<&[usize]> = tensors.iter().map(|t| t.shape.as_slice()).collect();
    let bc = Broadcast::new(&shapes, &out.shape)?;
    check_len(out, bc.rows * bc.inner)?;
    // Slot of each step's operand in `values`.
    let slot: Vec<usize> = steps
        .iter()
        .map(|s| match s {
            PointwiseStep::Binary { operand, .. } => used.iter().position(|u| u == operand).unwrap_or(0),
            _ => 0,
        })
        .collect();
    let inner = bc.inner;
    let compute = |first: usize, rows: usize, sink: &mut dyn FnMut(usize, &[f32])| {
        let mut acc = [0f32; BLOCK];
        bc.for_rows(first, first + rows, |row, offs| {
            let mut j0 = 0;
            while j0 < inner {
                let n = BLOCK.min(inner - j0);
                let acc = &mut acc[..n];
                let load = |k: usize, dst: &mut [f32]| {
                    if bc.inner_step[k] == 1 {
                        dst.copy_from_slice(&values[k][offs[k] + j0..offs[k] + j0 + n]);
                    } else {
                        dst.fill(values[k][offs[k]]);
                    }
                };
                load(0, acc);
                for (s, step) in steps.iter().enumerate() {
                    match step {
                        PointwiseStep::Activation { activation: ActivationKind::Relu } => {
                            acc.iter_mut().for_each(|v| *v = if *v < 0.0 { 0.0 } else { *v })
                        }
                        PointwiseStep::Activation { activation: a } => acc.iter_mut().for_each(|v| *v = activation(a, *v)),
                        PointwiseStep::Unary { op } => acc.iter_mut().for_each(|v| *v = unary_float(*op, *v)),
                        PointwiseStep::Binary { op, swapped, .. } => {
                            let k = slot[s];
                            let operand = if bc.inner_step[k] == 1 {
                                Operand::Block(&values[k][offs[k] + j0..offs[k] + j0 + n])
                            } else {
                                Operand::Scalar(values[k][offs[k]])
                            };
                            binary_step(*op, *swapped, acc, operand);
                        }
                    }
                }
                sink((row - first) * inner + j0, acc);
                j0 += n;
            }
        });
    };
    let rows_total = bc.rows;
    match out.dtype() {
        DType::Float32 => {
            let ov = data_mut::<f32>(out)?;
            par_rows(ov, inner, rows_total, |first, chunk| {
                compute(first, chunk.len() / inner, &mut |at, v| chunk[at..at + v.len()].copy_from_slice(v));
            });
        }
        DType::Float64 => {
            let ov = data_mut::<f64>(out)?;
            par_rows(ov, inner, rows_total, |first, chunk| {
                compute(first, chunk.len() / inner, &mut |at, v| {
                    chunk[at..at + v.len()].iter_mut().zip(v).for_each(|(o, &x)| *o = x as f64)
                });
            });
        }
        DType::Float16 => {
            let ov = data_mut::<f16>(out)?;
            par_rows(ov, inner, rows_total, |first, chunk| {
                compute(first, chunk.len() / inner, &mut |at, v| {
                    chunk[at..at + v.len()].iter_mut().zip(v).for_each(|(o, &x)| *o = f16::from_f32(x))
                });
            });
        }
        d => kiln_bail!(UnsupportedDtype, "pointwise chains produce floats; output is {d}"),
    }
    Ok(())
}
