//! INT8 calibration statistics: per tensor, the running max of |x| and a histogram of |x|.
//!
//! Pure data and histogram math, shared by every backend (the CPU runtime scans host buffers; a GPU
//! backend can produce the same `HistogramBatch` from device reductions). The histogram follows
//! pytorch-quantization's `HistogramCalibrator` (torch path), see docs/reference/calibration.md §1.1:
//! - the first batch whose max |x| is > 0 fixes the bin width `w = max / 2048` over [0, max];
//! - a later batch whose max exceeds the top edge keeps `w` and appends bins up to `ceil(max / w)`;
//!   old counts stay in the first bins (exactly pytorch's re-histogram-and-add, since edges are fixed);
//! - an element goes to bin `floor(|x| / w)`; a value exactly on the top edge goes to the last bin
//!   (torch.histc's closed last bin). pytorch computes `|x| · bins / top` in float32; we use f64
//!   `|x| / w`, which can differ only for values within rounding of a bin edge;
//! - non-finite values are skipped and counted (`non_finite`); they never move the range or amax;
//! - batches seen before any range exists (all zeros) are counted as zeros: while `bin_width` is 0,
//!   `counts` is `[zeros]` (one degenerate bin), and when the range appears those zeros go to bin 0.
//!
//! Growth is capped at `MAX_BINS` bins (memory per tensor stays bounded against extreme outliers);
//! values beyond the capped top edge go to the last bin, and `amax` still records the true maximum.

use crate::dtype::DType;
use half::f16;
use serde::{Deserialize, Serialize};

/// Bins of the first histogram (pytorch-quantization's and TensorRT's default).
pub const NUM_BINS: usize = 2048;

/// Most bins a histogram may grow to (128 × the first range).
pub const MAX_BINS: usize = NUM_BINS * 128;

/// Statistics of one tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TensorStats {
    pub name: String,
    pub dtype: DType,
    /// The layer type that produced it ("input" for network inputs).
    pub producer: String,
    /// Running max of |x| over finite values (0 before any non-zero value).
    pub amax: f32,
    /// Bin width; 0 while no non-zero value has been seen.
    pub bin_width: f64,
    /// Histogram counts of |x|; bin i covers [i·w, (i+1)·w).
    pub counts: Vec<u64>,
    /// NaN and ±infinity values skipped.
    pub non_finite: u64,
}

/// What one scan of (part of) a batch found. Scans of disjoint parts combine with `combine`, so a
/// backend can scan chunks in parallel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramBatch {
    /// Max |x| over finite values.
    pub max: f32,
    /// Finite values seen.
    pub finite: u64,
    pub non_finite: u64,
    /// Counts by `floor(|x| / w)` (only when scanned with a width); may extend past the current
    /// histogram (growth), at most to `MAX_BINS` bins.
    pub counts: Vec<u64>,
}

impl HistogramBatch {
    pub fn combine(mut self, other: HistogramBatch) -> HistogramBatch {
        self.max = self.max.max(other.max);
        self.finite += other.finite;
        self.non_finite += other.non_finite;
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self
    }
}

/// Scans f32 values: max/finite/non-finite always, bin counts when `width` is given.
pub fn scan_f32(values: &[f32], width: Option<f64>) -> HistogramBatch {
    scan(values.iter().copied(), width)
}

/// Scans f16 values (exactly widened to f32).
pub fn scan_f16(values: &[f16], width: Option<f64>) -> HistogramBatch {
    scan(values.iter().map(|h| h.to_f32()), width)
}

fn scan(values: impl Iterator<Item = f32>, width: Option<f64>) -> HistogramBatch {
    let mut b = HistogramBatch::default();
    for v in values {
        if !v.is_finite() {
            b.non_finite += 1;
            continue;
        }
        let a = v.abs();
        b.finite += 1;
        if a > b.max {
            b.max = a;
        }
        if let Some(w) = width {
            let idx = ((a as f64 / w) as usize).min(MAX_BINS - 1);
            if idx >= b.counts.len() {
                b.counts.resize((idx + 1).max(NUM_BINS), 0);
            }
            b.counts[idx] += 1;
        }
    }
    b
}

impl TensorStats {
    pub fn new(name: &str, dtype: DType, producer: &str) -> TensorStats {
        TensorStats { name: name.to_string(), dtype, producer: producer.to_string(), amax: 0.0, bin_width: 0.0, counts: Vec::new(), non_finite: 0 }
    }

    /// Accumulates one batch. `scan(width)` must scan the whole batch (see `scan_f32`); it is called
    /// once when the range is known, twice for the batch that establishes it (max first).
    pub fn observe(&mut self, scan: impl Fn(Option<f64>) -> HistogramBatch) {
        if self.bin_width > 0.0 {
            let batch = scan(Some(self.bin_width));
            self.add_batch(batch);
            return;
        }
        let probe = scan(None);
        if probe.max > 0.0 {
            let zeros = self.counts.first().copied().unwrap_or(0);
            self.bin_width = probe.max as f64 / NUM_BINS as f64;
            self.counts = vec![0; NUM_BINS];
            self.counts[0] = zeros;
            self.add_batch(scan(Some(self.bin_width)));
        } else {
            // Every finite value is 0: no range yet, only the zero count grows.
            if self.counts.is_empty() {
                self.counts.push(0);
            }
            self.counts[0] += probe.finite;
            self.non_finite += probe.non_finite;
        }
    }

    /// Convenience: one sequential scan of f32 values.
    pub fn observe_f32(&mut self, values: &[f32]) {
        self.observe(|w| scan_f32(values, w));
    }

    /// Adds a batch scanned with `self.bin_width`, growing the histogram as pytorch does.
    fn add_batch(&mut self, mut batch: HistogramBatch) {
        self.non_finite += batch.non_finite;
        self.amax = self.amax.max(batch.max);
        let top = self.counts.len() as f64 * self.bin_width;
        let mut bins = self.counts.len();
        if batch.max as f64 > top {
            bins = ((batch.max as f64 / self.bin_width).ceil() as usize).clamp(bins, MAX_BINS);
        }
        // A value exactly on the (new) top edge was binned one past the end: torch.histc puts it in
        // the last bin.
        if batch.counts.len() > bins {
            let extra: u64 = batch.counts[bins..].iter().sum();
            batch.counts.truncate(bins);
            batch.counts[bins - 1] += extra;
        }
        self.counts.resize(bins, 0);
        for (a, b) in self.counts.iter_mut().zip(&batch.counts) {
            *a += b;
        }
    }

    /// Merges statistics of the same tensor gathered elsewhere (another context, another run).
    /// With equal bin widths the counts add bin by bin; otherwise the finer histogram is re-binned
    /// into the coarser one by bin centre (an approximation: mass moves by at most one coarse bin).
    pub fn merge(&mut self, other: &TensorStats) {
        self.non_finite += other.non_finite;
        self.amax = self.amax.max(other.amax);
        match (self.bin_width > 0.0, other.bin_width > 0.0) {
            (_, false) => {
                let zeros = other.counts.first().copied().unwrap_or(0);
                if self.counts.is_empty() {
                    self.counts.push(0);
                }
                self.counts[0] += zeros;
            }
            (false, true) => {
                let zeros = self.counts.first().copied().unwrap_or(0);
                self.bin_width = other.bin_width;
                self.counts = other.counts.clone();
                self.counts[0] += zeros;
            }
            (true, true) => {
                if other.bin_width > self.bin_width {
                    let mine = std::mem::replace(&mut self.counts, other.counts.clone());
                    let w = std::mem::replace(&mut self.bin_width, other.bin_width);
                    self.add_rebinned(&mine, w);
                } else {
                    self.add_rebinned(&other.counts, other.bin_width);
                }
            }
        }
    }

    /// Adds `counts` of width `w` (≤ self.bin_width) into self's bins, growing them if needed.
    fn add_rebinned(&mut self, counts: &[u64], w: f64) {
        let same = w == self.bin_width;
        for (j, &c) in counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let idx = if same { j } else { (((j as f64 + 0.5) * w) / self.bin_width) as usize }.min(MAX_BINS - 1);
            if idx >= self.counts.len() {
                self.counts.resize(idx + 1, 0);
            }
            self.counts[idx] += c;
        }
    }
}

/// Statistics of every calibrated tensor, in network order (inputs, then layer outputs as executed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalibrationStats {
    pub tensors: Vec<TensorStats>,
}

impl CalibrationStats {
    pub fn get(&self, name: &str) -> Option<&TensorStats> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Merges another set (e.g. from another context or process): same-named tensors merge, new
    /// ones are appended.
    pub fn merge(&mut self, other: &CalibrationStats) {
        for t in &other.tensors {
            match self.tensors.iter_mut().find(|s| s.name == t.name) {
                Some(s) => s.merge(t),
                None => self.tensors.push(t.clone()),
            }
        }
    }
}

/// A calibrating context's statistics, addressed by the network's tensor ids: entries are created on
/// first sight, so they keep the order in which tensors were first observed (inputs, then layer
/// outputs as executed). Shared by the CPU and CUDA runtimes.
#[derive(Debug, Clone, Default)]
pub struct NetworkStats {
    pub stats: CalibrationStats,
    index: Vec<Option<usize>>,
}

impl NetworkStats {
    /// The statistics of tensor `id` of `net` (produced by a layer of type `producer`).
    pub fn entry(&mut self, net: &crate::network::Network, id: usize, producer: &str) -> &mut TensorStats {
        if self.index.len() < net.tensors.len() {
            self.index.resize(net.tensors.len(), None);
        }
        let k = match self.index[id] {
            Some(k) => k,
            None => {
                let t = &net.tensors[id];
                self.stats.tensors.push(TensorStats::new(&t.name, t.dtype, producer));
                self.index[id] = Some(self.stats.tensors.len() - 1);
                self.stats.tensors.len() - 1
            }
        };
        &mut self.stats.tensors[k]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> TensorStats {
        TensorStats::new("t", DType::Float32, "input")
    }

    #[test]
    fn first_batch_fixes_width_over_zero_to_max() {
        let mut s = stats();
        s.observe_f32(&[-2048.0, 0.0, 0.5, 1.0, 1.5, 2047.9, f32::NAN, f32::INFINITY]);
        assert_eq!(s.bin_width, 1.0);
        assert_eq!(s.amax, 2048.0);
        assert_eq!(s.counts.len(), 2048);
        assert_eq!((s.counts[0], s.counts[1], s.counts[2047]), (2, 2, 2)); // 2048 lands in the last bin
        assert_eq!(s.counts.iter().sum::<u64>(), 6);
        assert_eq!(s.non_finite, 2);
    }

    #[test]
    fn growth_keeps_width_and_appends_bins() {
        let mut s = stats();
        s.observe_f32(&[4.0]); // w = 4/2048 = 1/512
        assert_eq!(s.bin_width, 1.0 / 512.0);
        assert_eq!(s.counts[2047], 1);
        // max 5.001 → ceil(5.001 · 512) = 2561 bins; 4.5 → bin 2304; 5.001 → bin 2560.
        s.observe_f32(&[4.5, 5.001, 0.001]);
        assert_eq!(s.counts.len(), 2561);
        assert_eq!(s.counts[2304], 1);
        assert_eq!(s.counts[2560], 1);
        assert_eq!(s.counts[0], 1);
        assert_eq!(s.counts[2047], 1);
        assert_eq!(s.amax, 5.001);
        // Exactly on a bin edge: max = 6 → 3072 bins, 6 itself goes to the last one (3071).
        s.observe_f32(&[6.0]);
        assert_eq!(s.counts.len(), 3072);
        assert_eq!(s.counts[3071], 1);
        // Below the top edge: no growth.
        s.observe_f32(&[5.9]);
        assert_eq!(s.counts.len(), 3072);
        assert_eq!(s.counts.iter().sum::<u64>(), 6);
    }

    #[test]
    fn zero_batches_before_range_count_as_zeros() {
        let mut s = stats();
        s.observe_f32(&[0.0, -0.0, 0.0, f32::NAN]);
        assert_eq!((s.bin_width, s.counts.clone(), s.non_finite), (0.0, vec![3], 1));
        s.observe_f32(&[2.0, 1.0]);
        assert_eq!(s.bin_width, 2.0 / 2048.0);
        assert_eq!((s.counts[0], s.counts[1024], s.counts[2047]), (3, 1, 1));
    }

    #[test]
    fn parallel_chunks_equal_sequential_scan() {
        let values: Vec<f32> = (0..10_000).map(|i| ((i * 7919) % 1000) as f32 / 37.0 - 13.0).collect();
        let mut a = stats();
        a.observe_f32(&values[..100]);
        a.observe_f32(&values);
        let mut b = stats();
        b.observe_f32(&values[..100]);
        b.observe(|w| values.chunks(777).map(|c| scan_f32(c, w)).fold(HistogramBatch::default(), HistogramBatch::combine));
        assert_eq!(a, b);
    }

    #[test]
    fn merge_same_and_different_widths() {
        let mut a = stats();
        a.observe_f32(&[2.0, 1.0]); // w = 1/1024
        let mut b = stats();
        b.observe_f32(&[2.0, 0.5]);
        let mut m = a.clone();
        m.merge(&b);
        assert_eq!(m.bin_width, a.bin_width);
        assert_eq!((m.counts[512], m.counts[1024], m.counts[2047]), (1, 1, 2));
        // b' has width 4/2048 = 2 × a's: a's bins move into b's grid by centre.
        let mut c = stats();
        c.observe_f32(&[4.0]);
        let mut m = a.clone();
        m.merge(&c);
        assert_eq!(m.bin_width, c.bin_width);
        assert_eq!(m.counts.len(), 2048);
        assert_eq!((m.counts[512], m.counts[1023], m.counts[2047]), (1, 1, 1));
        assert_eq!(m.amax, 4.0);
        // Zeros-only statistics merge into bin 0.
        let mut z = stats();
        z.observe_f32(&[0.0, 0.0]);
        let mut m = a.clone();
        m.merge(&z);
        assert_eq!(m.counts[0], 2);
        z.merge(&a);
        assert_eq!((z.bin_width, z.counts[0], z.counts[2047]), (a.bin_width, 2, 1));
        let mut set = CalibrationStats { tensors: vec![a.clone()] };
        set.merge(&CalibrationStats { tensors: vec![b.clone(), TensorStats::new("u", DType::Float16, "relu")] });
        assert_eq!(set.tensors.len(), 2);
        assert_eq!(set.get("t").unwrap().counts.iter().sum::<u64>(), 4);
    }
}
