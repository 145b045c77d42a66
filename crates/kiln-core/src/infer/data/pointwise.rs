//! Inference for pointwise layers: elementwise (broadcasting), activation, unary, select, cast and
//! fused pointwise chains.

use super::params::broadcast_dims;
use super::{input, optional};
use crate::dtype::DType;
use crate::error::Result;
use crate::infer::{InferInput, TensorInfo};
use crate::kiln_bail;
use crate::layer::{ActivationKind, ElementWiseOp, PointwiseStep, UnaryOp};

/// Output dtype of an elementwise op given its operand dtypes, validating ONNX's type rules.
pub fn elementwise_dtype(op: ElementWiseOp, a: DType, b: DType) -> Result<DType> {
    use ElementWiseOp::*;
    if op != Pow && a != b {
        kiln_bail!(UnsupportedDtype, "elementwise {:?} needs both operands of one dtype, got {a} and {b}; insert a cast", op);
    }
    let numeric = |d: DType| d != DType::Bool;
    match op {
        Add | Sub | Mul | Div | Max | Min | Mod | Fmod | PRelu => {
            if !numeric(a) {
                kiln_bail!(UnsupportedDtype, "elementwise {:?} does not accept bool operands; cast to a numeric type first", op);
            }
            Ok(a)
        }
        Pow => {
            if !numeric(a) || !numeric(b) {
                kiln_bail!(UnsupportedDtype, "pow needs numeric base and exponent, got {a} and {b}");
            }
            Ok(a)
        }
        And | Or | Xor => {
            if a != DType::Bool {
                kiln_bail!(UnsupportedDtype, "logical {:?} needs bool operands, got {a}", op);
            }
            Ok(DType::Bool)
        }
        Equal => Ok(DType::Bool),
        Greater | GreaterOrEqual | Less | LessOrEqual => {
            if !numeric(a) {
                kiln_bail!(UnsupportedDtype, "comparison {:?} needs numeric operands, got {a}", op);
            }
            Ok(DType::Bool)
        }
        BitShiftLeft | BitShiftRight => {
            if !a.is_integer() || a.is_signed() {
                kiln_bail!(UnsupportedDtype, "bit shift needs unsigned integer operands (uint8/16/32/64), got {a}");
            }
            Ok(a)
        }
        BitwiseAnd | BitwiseOr | BitwiseXor => {
            if !a.is_integer() {
                kiln_bail!(UnsupportedDtype, "bitwise {:?} needs integer operands, got {a}", op);
            }
            Ok(a)
        }
    }
}

/// Checks that an activation accepts `dtype` (floats; Relu/Clip/LeakyRelu also for signed ints).
pub fn check_activation_dtype(act: &ActivationKind, dtype: DType) -> Result<()> {
    let ok = dtype.is_float()
        || (matches!(act, ActivationKind::Relu | ActivationKind::Clip { .. }) && dtype.is_integer())
        || (matches!(act, ActivationKind::LeakyRelu { .. }) && dtype.is_integer() && dtype.is_signed());
    if !ok {
        kiln_bail!(UnsupportedDtype, "activation {:?} does not accept {dtype} input", act);
    }
    Ok(())
}

/// Output dtype of a unary op, validating the input dtype.
pub fn unary_dtype(op: UnaryOp, dtype: DType) -> Result<DType> {
    use UnaryOp::*;
    match op {
        Not => {
            if dtype != DType::Bool {
                kiln_bail!(UnsupportedDtype, "not needs a bool input, got {dtype}");
            }
            Ok(DType::Bool)
        }
        BitwiseNot => {
            if !dtype.is_integer() {
                kiln_bail!(UnsupportedDtype, "bitwiseNot needs an integer input, got {dtype}");
            }
            Ok(dtype)
        }
        Abs | Neg | Sign => {
            if dtype == DType::Bool {
                kiln_bail!(UnsupportedDtype, "unary {:?} needs a numeric input, got bool", op);
            }
            Ok(dtype)
        }
        IsNan | IsInf => {
            if !dtype.is_float() {
                kiln_bail!(UnsupportedDtype, "unary {:?} needs a float input, got {dtype}", op);
            }
            Ok(DType::Bool)
        }
        _ => {
            if !dtype.is_float() {
                kiln_bail!(UnsupportedDtype, "unary {:?} needs a float input (float16/32/64), got {dtype}; insert a cast", op);
            }
            Ok(dtype)
        }
    }
}

pub fn infer_elementwise(op: ElementWiseOp, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let a = input(inputs, 0, "a")?;
    let b = input(inputs, 1, "b")?;
    let dtype = elementwise_dtype(op, a.info.dtype, b.info.dtype)?;
    let dims = broadcast_dims(&a.info.dims, &b.info.dims)?;
    Ok(vec![TensorInfo::new(dtype, dims)])
}

pub fn infer_activation(act: &ActivationKind, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    check_activation_dtype(act, x.info.dtype)?;
    Ok(vec![x.info.clone()])
}

pub fn infer_unary(op: UnaryOp, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    Ok(vec![TensorInfo::new(unary_dtype(op, x.info.dtype)?, x.info.dims.clone())])
}

pub fn infer_select(inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let c = input(inputs, 0, "condition")?;
    let a = input(inputs, 1, "x")?;
    let b = input(inputs, 2, "y")?;
    if c.info.dtype != DType::Bool {
        kiln_bail!(UnsupportedDtype, "select condition must be bool, got {}", c.info.dtype);
    }
    if a.info.dtype != b.info.dtype {
        kiln_bail!(UnsupportedDtype, "select branches must share a dtype, got {} and {}", a.info.dtype, b.info.dtype);
    }
    let dims = broadcast_dims(&broadcast_dims(&c.info.dims, &a.info.dims)?, &b.info.dims)?;
    Ok(vec![TensorInfo::new(a.info.dtype, dims)])
}

pub fn infer_cast(to: DType, inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    Ok(vec![TensorInfo::new(to, x.info.dims.clone())])
}

/// A chain computes in f32 on a float input 0; operands broadcast against everything. Operand 0
/// (the chain's original input) is allowed, e.g. `x * sigmoid(x)`.
pub fn infer_chain(steps: &[PointwiseStep], inputs: &[Option<InferInput>]) -> Result<Vec<TensorInfo>> {
    let x = input(inputs, 0, "x")?;
    if !x.info.dtype.is_float() {
        kiln_bail!(UnsupportedDtype, "pointwise chains compute on floats; input 0 is {}", x.info.dtype);
    }
    let mut dims = x.info.dims.clone();
    for (i, step) in steps.iter().enumerate() {
        if let PointwiseStep::Binary { operand, .. } = step {
            let Some(o) = optional(inputs, *operand) else {
                kiln_bail!(InvalidNetwork, "pointwise chain step {i} refers to missing input {operand}");
            };
            if o.info.dtype == DType::Bool {
                kiln_bail!(UnsupportedDtype, "pointwise chain operand {operand} is bool; chains take numeric operands");
            }
            dims = broadcast_dims(&dims, &o.info.dims)?;
        }
    }
    Ok(vec![TensorInfo::new(x.info.dtype, dims)])
}
