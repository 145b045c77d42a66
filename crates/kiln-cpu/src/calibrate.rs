//! Calibration statistics collection on the CPU: each float tensor is scanned where it lies, in
//! parallel chunks (rayon, on the context's pool), into `kiln_core::calibration` histograms. Nothing
//! of the activation is kept.

use kiln_core::calibration::{scan_f16, scan_f32, HistogramBatch, TensorStats};
use kiln_core::dtype::DType;
use kiln_core::tensor::{Tensor, TensorData};
use rayon::prelude::*;

/// Elements per parallel scan task (large enough that the per-task histogram is cheap to merge).
const CHUNK: usize = 1 << 16;

/// Whether a tensor of this dtype is calibrated (the quantizable float activations).
pub fn is_calibrated(dtype: DType) -> bool {
    matches!(dtype, DType::Float32 | DType::Float16)
}

/// Accumulates one batch of `t` into `stats`; other dtypes are ignored.
pub fn observe(stats: &mut TensorStats, t: &Tensor) {
    match &t.data {
        TensorData::F32(v) => stats.observe(|w| par_scan(v, w, scan_f32)),
        TensorData::F16(v) => stats.observe(|w| par_scan(v, w, scan_f16)),
        _ => {}
    }
}

fn par_scan<T: Sync>(values: &[T], width: Option<f64>, scan: fn(&[T], Option<f64>) -> HistogramBatch) -> HistogramBatch {
    if values.len() <= CHUNK {
        return scan(values, width);
    }
    values.par_chunks(CHUNK).map(|c| scan(c, width)).reduce(HistogramBatch::default, HistogramBatch::combine)
}
