//! INT8 builds as exact fake quantization: Q→DQ pairs in front of every weighted layer.
//!
//! For each Convolution, Deconvolution and MatrixMultiply whose float inputs can all be quantized:
//! - a run-time (activation) input gets a per-tensor QuantizeLinear→DequantizeLinear with
//!   scale = amax / 127 and an int8 zero point 0, amax taken from `Int8Config::ranges` by tensor name;
//! - a constant weight gets a per-output-channel pair with scale_k = max|W_k| / 127 (1 where the
//!   channel is all zeros, as pytorch-quantization exports): axis 0 for Convolution weights
//!   [M, C/g, k…], axis 1 for Deconvolution weights [C, M/g, k…], the N axis of a MatrixMultiply B
//!   ([.., K, N], or [.., N, K] with transpose_b) and the M axis of a constant A.
//! Biases stay float (TensorRT and ModelOpt do not quantize them either). A layer with any run-time
//! input lacking a finite range stays float entirely and is counted. The builder then folds the weight
//! pairs into fake-quantized constants. This is TensorRT's Q/DQ placement for weighted layers
//! (docs/reference/calibration.md §4); the CPU runs it in float, so results equal INT8 arithmetic
//! with float accumulation.

use crate::dtype::DType;
use crate::error::Result;
use crate::kiln_bail;
use crate::layer::LayerKind;
use crate::network::{Layer, Network, TensorDesc, TensorId};
use crate::tensor::{Tensor, TensorData};
use half::f16;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// `BuilderConfig.int8`: dynamic ranges (amax = max |x| to represent) by tensor name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Int8Config {
    #[serde(default)]
    pub ranges: BTreeMap<String, f32>,
}

/// What the pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Int8Outcome {
    /// Layers whose inputs were quantized.
    pub quantized: usize,
    /// Weighted layers left in float because a run-time input had no (finite) range.
    pub missing_range: usize,
}

/// How one input of a weighted layer is quantized.
enum Plan {
    /// Per-tensor, from the configured range.
    Activation(f32),
    /// Per-channel along this axis (None: per-tensor), from the constant's values.
    Weight(Option<usize>),
}

/// Inserts the Q→DQ pairs; layers keep their topological order (pairs go right before their reader).
pub fn insert_qdq(net: &mut Network, config: &Int8Config) -> Result<Int8Outcome> {
    for (name, &amax) in &config.ranges {
        if amax.is_nan() || amax < 0.0 {
            kiln_bail!(InvalidValue, "int8 range for tensor '{name}' is {amax}; ranges are amax values (max |x|) >= 0");
        }
    }
    let mut outcome = Int8Outcome::default();
    let mut names: HashSet<String> = net.tensors.iter().map(|t| t.name.clone()).collect();
    // (tensor, axis or usize::MAX for per-tensor) → the dequantized tensor, so shared inputs get one pair.
    let mut done: HashMap<(TensorId, usize), TensorId> = HashMap::new();
    let old_layers = std::mem::take(&mut net.layers);
    let mut layers = Vec::with_capacity(old_layers.len());
    for mut layer in old_layers {
        let plans = match plan_layer(net, &layer, config) {
            Some(Ok(plans)) => plans,
            Some(Err(())) => {
                outcome.missing_range += 1;
                layers.push(layer);
                continue;
            }
            None => {
                layers.push(layer);
                continue;
            }
        };
        for (slot, plan) in plans {
            let Some(id) = layer.inputs[slot] else { continue };
            let key = (id, match plan {
                Plan::Weight(Some(a)) => a,
                _ => usize::MAX,
            });
            let dq = match done.get(&key) {
                Some(&dq) => dq,
                None => {
                    let dq = add_pair(net, &mut layers, &mut names, id, &plan)?;
                    done.insert(key, dq);
                    dq
                }
            };
            layer.inputs[slot] = Some(dq);
        }
        outcome.quantized += 1;
        layers.push(layer);
    }
    net.layers = layers;
    Ok(outcome)
}

/// None: not a weighted float layer. Some(Err): a run-time input lacks a range.
fn plan_layer(net: &Network, layer: &Layer, config: &Int8Config) -> Option<Result<Vec<(usize, Plan)>, ()>> {
    let slots: Vec<(usize, Option<usize>)> = match &layer.kind {
        // (input slot, per-channel axis if the input is a constant)
        LayerKind::Convolution { .. } => vec![(0, None), (1, Some(0))],
        LayerKind::Deconvolution { .. } => vec![(0, None), (1, Some(1))],
        LayerKind::MatrixMultiply { transpose_a, transpose_b, .. } => {
            let rank = |slot: usize| layer.inputs.get(slot).copied().flatten().map(|id| net.tensors[id].dims.len()).unwrap_or(0);
            let (ra, rb) = (rank(0), rank(1));
            let a_axis = (ra >= 2).then(|| if *transpose_a { ra - 1 } else { ra - 2 });
            let b_axis = (rb >= 2).then(|| if *transpose_b { rb - 2 } else { rb - 1 });
            vec![(0, a_axis), (1, b_axis)]
        }
        _ => return None,
    };
    let mut plans = Vec::new();
    for (slot, axis) in slots {
        let id = layer.inputs.get(slot).copied().flatten()?;
        let t = &net.tensors[id];
        if !matches!(t.dtype, DType::Float32 | DType::Float16) {
            return None;
        }
        match &t.value {
            Some(v) => {
                let values = v.data.to_f64_vec();
                if values.iter().any(|x| !x.is_finite()) {
                    return None; // non-finite weights cannot be given a scale; leave the layer alone
                }
                plans.push((slot, Plan::Weight(axis)));
            }
            None => match config.ranges.get(&t.name) {
                Some(&amax) if amax.is_finite() => plans.push((slot, Plan::Activation(amax))),
                _ => return Some(Err(())),
            },
        }
    }
    Some(Ok(plans))
}

fn unique(names: &mut HashSet<String>, wanted: String) -> String {
    let name = if names.contains(&wanted) { (1..).map(|i| format!("{wanted}_{i}")).find(|n| !names.contains(n)).unwrap() } else { wanted };
    names.insert(name.clone());
    name
}

fn scale_tensor(dtype: DType, scales: &[f32]) -> Tensor {
    let shape = if scales.len() == 1 { vec![] } else { vec![scales.len()] };
    let data = match dtype {
        DType::Float16 => TensorData::F16(scales.iter().map(|&s| f16::from_f32(s)).collect()),
        _ => TensorData::F32(scales.to_vec()),
    };
    Tensor { shape, data }
}

/// amax → scale; an all-zero range quantizes everything to 0 with any scale, 1 keeps it finite.
fn to_scale(amax: f32) -> f32 {
    if amax > 0.0 {
        amax / 127.0
    } else {
        1.0
    }
}

/// Per-channel (or whole-tensor) max |w| of a constant.
fn channel_amax(value: &Tensor, axis: Option<usize>) -> Vec<f32> {
    let values = value.data.to_f64_vec();
    let Some(a) = axis.filter(|&a| a < value.shape.len()) else {
        return vec![values.iter().fold(0.0f64, |m, v| m.max(v.abs())) as f32];
    };
    let channels = value.shape[a];
    let inner: usize = value.shape[a + 1..].iter().product::<usize>().max(1);
    let mut amax = vec![0.0f64; channels];
    if channels > 0 {
        for (block, chunk) in values.chunks(inner).enumerate() {
            let c = block % channels;
            amax[c] = chunk.iter().fold(amax[c], |m, v| m.max(v.abs()));
        }
    }
    amax.into_iter().map(|m| m as f32).collect()
}

/// Adds constants scale/zero point and the Q and DQ layers for tensor `id`; returns the DQ output.
fn add_pair(net: &mut Network, layers: &mut Vec<Layer>, names: &mut HashSet<String>, id: TensorId, plan: &Plan) -> Result<TensorId> {
    let t = net.tensors[id].clone();
    let (scales, axis) = match plan {
        Plan::Activation(amax) => (vec![to_scale(*amax)], None),
        Plan::Weight(axis) => {
            let Some(value) = t.value.as_ref() else {
                kiln_bail!(Internal, "int8: weight '{}' was planned as a constant but has no value", t.name);
            };
            let amax = channel_amax(value, *axis);
            let axis = if amax.len() > 1 { *axis } else { None };
            (amax.into_iter().map(to_scale).collect::<Vec<_>>(), axis)
        }
    };
    let scale = scale_tensor(t.dtype, &scales);
    let zero = Tensor { shape: scale.shape.clone(), data: TensorData::I8(vec![0; scales.len()]) };
    let mut constant = |names: &mut HashSet<String>, name: String, value: Tensor| {
        let name = unique(names, name);
        let dims = value.shape.iter().map(|&d| d as i64).collect();
        net.tensors.push(TensorDesc { name, dtype: value.dtype(), dims, value: Some(value) });
        net.tensors.len() - 1
    };
    let scale_id = constant(names, format!("{}:int8_scale", t.name), scale);
    let zero_id = constant(names, format!("{}:int8_zero_point", t.name), zero);
    let axis = axis.map(|a| a as i64).unwrap_or(1);
    let q_name = unique(names, format!("{}:quantize", t.name));
    net.tensors.push(TensorDesc { name: q_name.clone(), dtype: DType::Int8, dims: t.dims.clone(), value: None });
    let q_out = net.tensors.len() - 1;
    let dq_name = unique(names, format!("{}:dequantize", t.name));
    net.tensors.push(TensorDesc { name: dq_name.clone(), dtype: t.dtype, dims: t.dims.clone(), value: None });
    let dq_out = net.tensors.len() - 1;
    layers.push(Layer {
        name: q_name,
        kind: LayerKind::QuantizeLinear { axis, saturate: true },
        inputs: vec![Some(id), Some(scale_id), Some(zero_id)],
        outputs: vec![q_out],
        fused_from: vec![],
    });
    layers.push(Layer {
        name: dq_name,
        kind: LayerKind::DequantizeLinear { axis },
        inputs: vec![Some(q_out), Some(scale_id), Some(zero_id)],
        outputs: vec![dq_out],
        fused_from: vec![],
    });
    Ok(dq_out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::BuilderConfig;

    #[test]
    fn config_json_form() {
        // What the binding and @kiln/core send.
        let c: BuilderConfig = serde_json::from_str(r#"{"profiles": [], "calibration": true, "int8": {"ranges": {"x": 1.5}}}"#).unwrap();
        assert!(c.calibration);
        assert_eq!(c.int8.unwrap().ranges["x"], 1.5);
        let c: BuilderConfig = serde_json::from_str(r#"{"profiles": []}"#).unwrap();
        assert!(!c.calibration && c.int8.is_none());
    }

    #[test]
    fn channel_amax_per_axis() {
        let w = Tensor::from_f32(vec![2, 3], vec![1.0, -4.0, 2.0, 0.5, 0.25, -0.75]).unwrap();
        assert_eq!(channel_amax(&w, Some(0)), vec![4.0, 0.75]);
        assert_eq!(channel_amax(&w, Some(1)), vec![1.0, 4.0, 2.0]);
        assert_eq!(channel_amax(&w, None), vec![4.0]);
        assert_eq!(to_scale(0.0), 1.0);
        assert_eq!(to_scale(127.0), 1.0);
    }
}
