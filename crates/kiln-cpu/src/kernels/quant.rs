//! QuantizeLinear / DequantizeLinear kernels (ONNX semantics; int8/uint8 quantized values, int32 too
//! for DequantizeLinear).
//!
//! Quantize: `saturate(round_half_even(x / scale) + zero_point)`, computed in f32 like the ONNX reference
//! (`x / scale`, not `x * (1 / scale)`, so results match bit for bit). NaN inputs give the zero point
//! (they dequantize to 0); ONNX leaves that case undefined.
//! Dequantize: `(x - zero_point) * scale`, in f32 (rounded once to f16 when the scale is f16).

use half::f16;
use kiln_core::error::Result;
use kiln_core::infer::quant::quant_axis;
use kiln_core::layer::LayerKind;
use kiln_core::tensor::{Tensor, TensorData};
use kiln_core::{kiln_bail, kiln_err};
use rayon::prelude::*;

/// Elements per parallel task when the whole tensor shares one scale.
const CHUNK: usize = 1 << 15;

pub fn execute(kind: &LayerKind, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
    let x = inputs.first().copied().flatten().ok_or_else(|| kiln_err!(InvalidNetwork, "missing input x"))?;
    let scale = inputs.get(1).copied().flatten().ok_or_else(|| kiln_err!(InvalidNetwork, "missing input scale"))?;
    let zero_point = inputs.get(2).copied().flatten();
    let out = outputs.first_mut().ok_or_else(|| kiln_err!(Internal, "quantization layer without an output"))?;
    let axis = match kind {
        LayerKind::QuantizeLinear { axis, .. } | LayerKind::DequantizeLinear { axis } => *axis,
        _ => kiln_bail!(Internal, "'{}' is not a quantization layer", kind.type_name()),
    };
    let params = Params::new(x, scale, zero_point, axis)?;
    match kind {
        LayerKind::QuantizeLinear { .. } => quantize(x, &params, out),
        _ => dequantize(x, &params, out),
    }
}

/// Scales and zero points as f32, with the (channels, inner) layout that maps an element to its channel.
struct Params {
    scales: Vec<f32>,
    zero_points: Vec<f32>,
    channels: usize,
    /// Elements per channel run (product of the dims after the axis); per-tensor: a chunk size.
    inner: usize,
}

impl Params {
    fn new(x: &Tensor, scale: &Tensor, zero_point: Option<&Tensor>, axis: i64) -> Result<Params> {
        let scale_dims: Vec<i64> = scale.shape.iter().map(|&d| d as i64).collect();
        let scales: Vec<f32> = scale.data.to_f64_vec().into_iter().map(|v| v as f32).collect();
        let zero_points: Vec<f32> = match zero_point {
            Some(z) => z.data.to_f64_vec().into_iter().map(|v| v as f32).collect(),
            None => vec![0.0; scales.len()],
        };
        if zero_points.len() != scales.len() {
            kiln_bail!(ShapeMismatch, "the zero point has {} elements but the scale has {}", zero_points.len(), scales.len());
        }
        match quant_axis(&scale_dims, x.rank(), axis)? {
            None => {
                if scales.len() != 1 {
                    kiln_bail!(ShapeMismatch, "a per-tensor scale must have one element, got {}", scales.len());
                }
                Ok(Params { scales, zero_points, channels: 1, inner: CHUNK })
            }
            Some(a) => {
                if x.shape[a] != scales.len() {
                    kiln_bail!(ShapeMismatch, "a per-axis scale of length {} does not match input shape {:?} on axis {a}", scales.len(), x.shape);
                }
                let inner = x.shape[a + 1..].iter().product::<usize>().max(1);
                let channels = scales.len();
                Ok(Params { scales, zero_points, channels, inner })
            }
        }
    }

    /// Applies `f(value, scale, zero_point)` element-wise, in parallel over channel runs.
    fn map<T: Copy + Sync, U: Send>(&self, x: &[T], out: &mut [U], f: impl Fn(T, f32, f32) -> U + Sync) {
        out.par_chunks_mut(self.inner).zip(x.par_chunks(self.inner)).enumerate().for_each(|(block, (o, xs))| {
            let c = block % self.channels;
            let (s, z) = (self.scales[c], self.zero_points[c]);
            for (o, &v) in o.iter_mut().zip(xs) {
                *o = f(v, s, z);
            }
        });
    }
}

/// `round_half_even(v / s) + z`, saturated to [lo, hi]; NaN → z.
#[inline]
pub fn quantize_value(v: f32, s: f32, z: f32, lo: f32, hi: f32) -> f32 {
    let q = (v / s).round_ties_even() + z;
    if q.is_nan() {
        z
    } else {
        q.clamp(lo, hi)
    }
}

fn quantize(x: &Tensor, p: &Params, out: &mut Tensor) -> Result<()> {
    let values: std::borrow::Cow<[f32]> = match &x.data {
        TensorData::F32(v) => std::borrow::Cow::Borrowed(v.as_slice()),
        TensorData::F16(v) => std::borrow::Cow::Owned(v.iter().map(|h| h.to_f32()).collect()),
        TensorData::I32(v) => std::borrow::Cow::Owned(v.iter().map(|&i| i as f32).collect()),
        other => kiln_bail!(UnsupportedDtype, "QuantizeLinear input must be float32, float16 or int32, got {}", other.dtype()),
    };
    if out.numel() != values.len() {
        kiln_bail!(Internal, "QuantizeLinear output has {} elements, input {}", out.numel(), values.len());
    }
    match &mut out.data {
        TensorData::I8(o) => p.map(&values, o, |v, s, z| quantize_value(v, s, z, -128.0, 127.0) as i8),
        TensorData::U8(o) => p.map(&values, o, |v, s, z| quantize_value(v, s, z, 0.0, 255.0) as u8),
        other => kiln_bail!(UnsupportedDtype, "QuantizeLinear output must be int8 or uint8, got {}", other.dtype()),
    }
    Ok(())
}

fn dequantize(x: &Tensor, p: &Params, out: &mut Tensor) -> Result<()> {
    if out.numel() != x.numel() {
        kiln_bail!(Internal, "DequantizeLinear output has {} elements, input {}", out.numel(), x.numel());
    }
    macro_rules! run {
        ($xs:expr) => {
            match &mut out.data {
                TensorData::F32(o) => p.map($xs, o, |v, s, z| (v as f32 - z) * s),
                TensorData::F16(o) => p.map($xs, o, |v, s, z| f16::from_f32((v as f32 - z) * s)),
                other => kiln_bail!(UnsupportedDtype, "DequantizeLinear output must be float32 or float16, got {}", other.dtype()),
            }
        };
    }
    match &x.data {
        TensorData::I8(v) => run!(v.as_slice()),
        TensorData::U8(v) => run!(v.as_slice()),
        TensorData::I32(v) => run!(v.as_slice()),
        other => kiln_bail!(UnsupportedDtype, "DequantizeLinear input must be int8, uint8 or int32, got {}", other.dtype()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(axis: i64) -> LayerKind {
        LayerKind::QuantizeLinear { axis, saturate: true }
    }

    fn run(kind: &LayerKind, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
        let shapes = kiln_core::infer::infer_concrete(kind, inputs)?;
        let mut outs: Vec<Tensor> = shapes.iter().map(|(d, s)| Tensor::zeros(*d, s).unwrap()).collect();
        execute(kind, inputs, &mut outs)?;
        Ok(outs.remove(0))
    }

    #[test]
    fn rounds_half_to_even_and_saturates_int8() {
        let x = Tensor::from_f32(vec![9], vec![0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1000.0, -1000.0, f32::NAN]).unwrap();
        let s = Tensor::scalar_f32(1.0);
        let z = Tensor { shape: vec![], data: TensorData::I8(vec![0]) };
        let y = run(&q(1), &[Some(&x), Some(&s), Some(&z)]).unwrap();
        assert_eq!(y.data, TensorData::I8(vec![0, 2, 2, 0, -2, -2, 127, -128, 0]));
    }

    #[test]
    fn uint8_default_zero_point_and_offset() {
        let x = Tensor::from_f32(vec![5], vec![-1.0, 0.0, 0.3, 2.5, 600.0]).unwrap();
        let s = Tensor::scalar_f32(0.2);
        // No zero point: uint8 with zero point 0, negatives saturate to 0.
        let y = run(&q(1), &[Some(&x), Some(&s)]).unwrap();
        assert_eq!(y.data, TensorData::U8(vec![0, 0, 2, 12, 255]));  // 0.3f/0.2f rounds to 1.5 → 2; 2.5f/0.2f to 12.5 → 12
    }

    #[test]
    fn per_axis_quantize_dequantize() {
        // x [2, 3], axis 1: scales per column.
        let x = Tensor::from_f32(vec![2, 3], vec![1.0, 1.0, 1.0, -3.0, 5.0, 7.5]).unwrap();
        let s = Tensor::from_f32(vec![3], vec![0.5, 1.0, 2.0]).unwrap();
        let z = Tensor { shape: vec![3], data: TensorData::I8(vec![0, 1, -1]) };
        let y = run(&q(1), &[Some(&x), Some(&s), Some(&z)]).unwrap();
        // col0: 2, -6; col1: 1+1=2, 5+1=6; col2: round(0.5)=0 → -1, round(3.75)=4 → 3.
        assert_eq!(y.data, TensorData::I8(vec![2, 2, -1, -6, 6, 3]));
        let d = run(&LayerKind::DequantizeLinear { axis: -1 }, &[Some(&y), Some(&s), Some(&z)]).unwrap();
        assert_eq!(d.data, TensorData::F32(vec![1.0, 1.0, 0.0, -3.0, 5.0, 8.0]));
        // Per-axis on axis 0 of a [3, 2] tensor (the convolution-weight layout).
        let w = Tensor::from_f32(vec![3, 2], vec![1.0, -1.0, 2.0, 3.0, 0.25, 0.75]).unwrap();
        let y = run(&q(0), &[Some(&w), Some(&s), Some(&z)]).unwrap();
        assert_eq!(y.data, TensorData::I8(vec![2, -2, 3, 4, -1, -1]));
    }

    #[test]
    fn dequantize_int32_and_uint8() {
        let x = Tensor { shape: vec![3], data: TensorData::U8(vec![0, 128, 255]) };
        let s = Tensor::scalar_f32(0.5);
        let z = Tensor { shape: vec![], data: TensorData::U8(vec![128]) };
        let d = run(&LayerKind::DequantizeLinear { axis: 1 }, &[Some(&x), Some(&s), Some(&z)]).unwrap();
        assert_eq!(d.data, TensorData::F32(vec![-64.0, 0.0, 63.5]));
        let x = Tensor { shape: vec![2], data: TensorData::I32(vec![-1000, 7]) };
        let d = run(&LayerKind::DequantizeLinear { axis: 1 }, &[Some(&x), Some(&s)]).unwrap();
        assert_eq!(d.data, TensorData::F32(vec![-500.0, 3.5]));
    }

    #[test]
    fn per_axis_length_mismatch_is_coded() {
        let x = Tensor::from_f32(vec![2, 3], vec![0.0; 6]).unwrap();
        let s = Tensor::from_f32(vec![2], vec![1.0, 1.0]).unwrap();
        let mut outs = vec![Tensor::zeros(kiln_core::DType::Uint8, &[2, 3]).unwrap()];
        let e = execute(&q(1), &[Some(&x), Some(&s)], &mut outs).unwrap_err();
        assert_eq!(e.code.as_str(), "KILN_E_SHAPE_MISMATCH");
    }
}
