//! Tactics: alternative kernels for one layer (e.g. im2col+GEMM vs Winograd convolution), the
//! timing samples the builder takes of them, and the normalized layer signature that keys the
//! timing cache.

use crate::dtype::DType;
use crate::layer::LayerKind;
use crate::sha256::sha256_hex;
use serde::{Deserialize, Serialize};

/// The tactic chosen for one layer of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TacticChoice {
    /// The backend's stable tactic id (e.g. "winograd_f2x3").
    pub tactic: String,
    /// Median time at the timing shapes, when it was timed or came from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ms: Option<f64>,
}

/// Statistics of timing one tactic on one layer (milliseconds per run).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimingSample {
    pub median_ms: f64,
    pub min_ms: f64,
    pub samples: u32,
}

impl TimingSample {
    /// Median and minimum of per-run times (ms); `None` for no runs or non-finite times.
    pub fn from_runs(runs: &[f64]) -> Option<TimingSample> {
        if runs.is_empty() || runs.iter().any(|t| !t.is_finite()) {
            return None;
        }
        let mut sorted = runs.to_vec();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let n = sorted.len();
        let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
        Some(TimingSample { median_ms: median, min_ms: sorted[0], samples: n as u32 })
    }
}

/// The concrete dtype and shape of one layer input or output at the timing shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSig {
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Constant inputs (weights) are part of the signature as "const": a kernel may pre-transform them.
    pub constant: bool,
}

/// The normalized, canonical signature of a layer as far as kernel choice is concerned: op type,
/// every input/output dtype and shape (NCHW row-major layout: Kiln has one layout today), whether
/// inputs are constants, and the attributes that change which kernels are eligible or how fast
/// they run. Layer and tensor names are deliberately left out so identical layers share entries.
pub fn canonical_signature(kind: &LayerKind, inputs: &[Option<TensorSig>], outputs: &[TensorSig]) -> String {
    let tensor = |t: &TensorSig| {
        let dims: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        format!("{}[{}]{}", t.dtype.name(), dims.join("x"), if t.constant { "c" } else { "" })
    };
    let ins: Vec<String> = inputs.iter().map(|t| t.as_ref().map(tensor).unwrap_or_else(|| "-".into())).collect();
    let outs: Vec<String> = outputs.iter().map(tensor).collect();
    // The serde JSON of the layer kind holds exactly its attributes, in declaration order (stable
    // for one Kiln version; the tactic-library version is part of the key anyway).
    let attrs = serde_json::to_string(kind).unwrap_or_else(|_| kind.type_name().to_string());
    format!("op={};in={};out={};layout=nchw;attrs={}", kind.type_name(), ins.join(","), outs.join(","), attrs)
}

/// The cache key: sha256 of the canonical signature and the backend's tactic-library version.
pub fn signature_key(canonical: &str, library_version: u32) -> String {
    sha256_hex(format!("{canonical};lib={library_version}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::PaddingMode;

    #[test]
    fn signature_ignores_names_and_tracks_attributes() {
        let conv = |s: usize| LayerKind::Convolution {
            strides: vec![s, s],
            pads: vec![1; 4],
            dilations: vec![1, 1],
            groups: 1,
            padding_mode: PaddingMode::Explicit,
            activation: None,
        };
        let x = TensorSig { dtype: DType::Float32, shape: vec![1, 8, 16, 16], constant: false };
        let w = TensorSig { dtype: DType::Float32, shape: vec![8, 8, 3, 3], constant: true };
        let y = TensorSig { dtype: DType::Float32, shape: vec![1, 8, 16, 16], constant: false };
        let a = canonical_signature(&conv(1), &[Some(x.clone()), Some(w.clone()), None], std::slice::from_ref(&y));
        let b = canonical_signature(&conv(2), &[Some(x), Some(w), None], &[y]);
        assert_ne!(a, b);
        assert!(a.starts_with("op=convolution;in=float32[1x8x16x16],float32[8x8x3x3]c,-;"), "{a}");
        assert_eq!(signature_key(&a, 1), signature_key(&a, 1));
        assert_ne!(signature_key(&a, 1), signature_key(&a, 2));
        assert_eq!(signature_key(&a, 1).len(), 64);
    }

    #[test]
    fn median_of_runs() {
        let s = TimingSample::from_runs(&[3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.median_ms, s.min_ms, s.samples), (2.5, 1.0, 4));
        assert!(TimingSample::from_runs(&[]).is_none());
    }
}
