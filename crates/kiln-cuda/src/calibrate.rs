//! INT8 calibration statistics on the GPU ("calibration mode" of a CUDA context).
//!
//! Same semantics and tensor order as `kiln_cpu::CpuContext::calibrate`: the float network inputs
//! (producer "input", in the order given), then every float layer output that is not a constant, in
//! execution order, producer = the layer type. The layers run without a CUDA graph; after each layer
//! its outputs are scanned where they live:
//! - device values by the `calib_scan_f32/f16` kernels (library.cu) into the context's scratch buffer;
//!   only the scan's max / counts and the histogram bins it touched come back to the host, never the
//!   activation. The kernel bins with the CPU's f64 division, so both backends produce identical
//!   `HistogramBatch`es for identical values (layout is irrelevant to a histogram, so NHWC storage is
//!   scanned as is);
//! - host-resident values (layers that ran on the host) by `kiln_cpu::calibrate::observe`.
//!
//! The histogram math itself (range, growth, merge) is `kiln_core::calibration`'s, shared with the CPU.

use crate::gpu::{self, DeviceBuffer, Stream};
use crate::kernels::{CalibScanArgs, CALIB_HEADER};
use crate::runtime::CudaContext;
use cudarc::driver::sys as cu;
use kiln_core::calibration::{CalibrationStats, HistogramBatch, NetworkStats, TensorStats, MAX_BINS, NUM_BINS};
use kiln_core::dtype::DType;
use kiln_core::error::{KilnError, Result};
use kiln_core::plan::check_inputs;
use kiln_core::tensor::Tensor;
use kiln_core::{kiln_bail, kiln_err};
use std::cell::RefCell;

/// Threads per block of the scan kernel.
const SCAN_BLOCK: u32 = 256;
/// At most this many blocks per SM: enough to saturate memory bandwidth while keeping the per-block
/// flush of the shared-memory bins (2048 atomics at most) a small part of the work.
const BLOCKS_PER_SM: u64 = 4;
/// Scratch words: the header (max bits, finite, non-finite) and every bin a histogram can grow to.
const SCRATCH_WORDS: usize = CALIB_HEADER + MAX_BINS;

/// A context's calibration state: the statistics with the tensor id → entry map, and the device
/// scratch buffer the scan kernels count into (allocated on the first `calibrate`, freed on drop).
/// Between scans every scratch word is zero: each scan re-zeroes exactly the words it could touch, and
/// every batch starts from a fully zeroed buffer.
#[derive(Default)]
pub(crate) struct Calibration {
    stats: NetworkStats,
    scratch: Option<DeviceBuffer>,
}

/// What a scan reads: a device buffer of `n` float32 or float16 values.
#[derive(Clone, Copy)]
struct DeviceValues {
    ptr: u64,
    n: usize,
    half: bool,
}

/// The scan kernels of a loaded plan.
#[derive(Clone, Copy)]
pub(crate) struct Scanner {
    f32: cu::CUfunction,
    f16: cu::CUfunction,
    scratch: u64,
    max_blocks: u64,
}

impl Scanner {
    /// One scan of `v` (see `kiln_core::calibration::scan_f32`): launches the kernel, waits, downloads
    /// the header and the bins up to the one holding the max, and re-zeroes what it used.
    fn scan(&self, stream: &Stream, v: DeviceValues, width: Option<f64>) -> Result<HistogramBatch> {
        if let Some(w) = width {
            if !(w > 0.0 && w.is_finite()) {
                kiln_bail!(Internal, "calibration scan with bin width {w}");
            }
        }
        if v.n > 0 {
            let mut args = CalibScanArgs { src: v.ptr, out: self.scratch, n: v.n as i64, width: width.unwrap_or(0.0) };
            let blocks = (v.n as u64).div_ceil(SCAN_BLOCK as u64).clamp(1, self.max_blocks) as u32;
            gpu::launch_grid(if v.half { self.f16 } else { self.f32 }, stream, blocks, SCAN_BLOCK, &mut args)?;
        }
        // Header and the first range's bins in one copy; bins past it only when the batch grew.
        let first = CALIB_HEADER + if width.is_some() { NUM_BINS } else { 0 };
        let mut words = download_words(stream, self.scratch, 0, first)?;
        let max = f32::from_bits(words[0] as u32);
        let (finite, non_finite) = (words[1], words[2]);
        let mut used = CALIB_HEADER;
        let mut counts = Vec::new();
        if let Some(w) = width {
            // No value can lie in a bin above the max's (the f64 division is monotone).
            let bins = (((max as f64 / w) as usize).min(MAX_BINS - 1) + 1).max(NUM_BINS);
            counts = words.split_off(CALIB_HEADER);
            if bins > NUM_BINS {
                counts.extend(download_words(stream, self.scratch, CALIB_HEADER + NUM_BINS, bins - NUM_BINS)?);
            }
            used += bins;
        }
        // Stream-ordered before the next launch: the scratch is all zero again for the next scan.
        stream.memset(self.scratch, used * 8)?;
        Ok(HistogramBatch { max, finite, non_finite, counts })
    }
}

/// Words `[from, from + n)` of the scratch buffer (waits for the stream).
fn download_words(stream: &Stream, scratch: u64, from: usize, n: usize) -> Result<Vec<u64>> {
    let mut bytes = vec![0u8; n * 8];
    stream.dtoh(&mut bytes, scratch + (from * 8) as u64)?;
    stream.sync()?;
    Ok(bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect())
}

/// Accumulates one batch into `stats` with device scans. `observe` takes an infallible closure, so a
/// failed scan is kept aside and the statistics are only replaced when every scan succeeded.
fn observe_device(stats: &mut TensorStats, scanner: &Scanner, stream: &Stream, v: DeviceValues) -> Result<()> {
    let failure: RefCell<Option<KilnError>> = RefCell::new(None);
    let mut updated = stats.clone();
    updated.observe(|w| {
        if failure.borrow().is_some() {
            return HistogramBatch::default();
        }
        scanner.scan(stream, v, w).unwrap_or_else(|e| {
            *failure.borrow_mut() = Some(e);
            HistogramBatch::default()
        })
    });
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    *stats = updated;
    Ok(())
}

fn is_calibrated(dtype: DType) -> bool {
    kiln_cpu::calibrate::is_calibrated(dtype)
}

impl CudaContext {
    /// Runs the engine on `inputs` in calibration mode and accumulates, for every float32/float16
    /// network input and layer output, the running max |x| and the |x| histogram, on the GPU (see the
    /// module doc). Build the engine with `BuilderConfig.calibration` so that every tensor keeps its
    /// network name. A batch that fails part way leaves the statistics of the layers before it counted.
    pub fn calibrate(&mut self, inputs: &[(String, Tensor)]) -> Result<()> {
        let engine = self.engine.clone();
        engine.gpu.bind()?;
        check_inputs(&engine.body, inputs)?;
        let scanner = self.scanner()?;
        self.upload_inputs(inputs)?;
        let net = &engine.body.network;
        for (name, t) in inputs {
            let Some(id) = net.inputs.iter().copied().find(|&i| &net.tensors[i].name == name) else {
                kiln_bail!(InvalidInput, "'{name}' is not an input of this engine");
            };
            if is_calibrated(t.dtype()) {
                self.observe_tensor(&scanner, id, "input").map_err(|e| e.context(format!("calibrating input '{name}'")))?;
            }
        }
        // No graph: the scans run between the layers, while each output is still in the arena.
        self.calibrating = Some(scanner);
        let r = self.execute_layers();
        self.calibrating = None;
        r?;
        self.finish_run()
    }

    /// The statistics gathered by `calibrate` since the context was created or last reset.
    pub fn calibration_stats(&self) -> &CalibrationStats {
        &self.calibration.stats.stats
    }

    /// Forgets the statistics (the scratch buffer stays allocated for the next `calibrate`).
    pub fn reset_calibration(&mut self) {
        self.calibration.stats = NetworkStats::default();
    }

    /// The scan kernels and the scratch buffer (allocated and zeroed on first use).
    fn scanner(&mut self) -> Result<Scanner> {
        let missing = |e: KilnError| kiln_err!(PlanMismatch, "this plan has no GPU calibration kernels (it was built by an older Kiln: {}); rebuild the plan", e.message);
        let f32 = self.engine.module.function("calib_scan_f32").map_err(missing)?;
        let f16 = self.engine.module.function("calib_scan_f16").map_err(missing)?;
        if self.calibration.scratch.is_none() {
            self.calibration.scratch = Some(DeviceBuffer::alloc(&self.engine.gpu, SCRATCH_WORDS * 8, "the calibration scratch buffer")?);
        }
        let scratch = self.calibration.scratch.as_ref().map(|b| b.ptr).ok_or_else(|| kiln_err!(Internal, "calibration scratch buffer missing"))?;
        // Zeroed once per batch (2 MiB, microseconds): a batch that failed between a scan and its re-zeroing
        // cannot leave counts behind for the next one.
        self.stream.memset(scratch, SCRATCH_WORDS * 8)?;
        let max_blocks = (self.engine.gpu.info.sm_count.max(1) as u64) * BLOCKS_PER_SM;
        Ok(Scanner { f32, f16, scratch, max_blocks })
    }

    /// Called by `execute_layers` after layer `i` while calibrating: scans its float outputs that are
    /// not constants.
    pub(crate) fn observe_layer(&mut self, i: usize) -> Result<()> {
        let Some(scanner) = self.calibrating else { return Ok(()) };
        let engine = self.engine.clone();
        let net = &engine.body.network;
        let layer = &net.layers[i];
        for &o in &layer.outputs {
            let dtype = self.vals[o].dtype.unwrap_or(net.tensors[o].dtype);
            if is_calibrated(dtype) && net.tensors[o].value.is_none() {
                self.observe_tensor(&scanner, o, layer.kind.type_name())?;
            }
        }
        Ok(())
    }

    /// Accumulates the current value of tensor `id` into its statistics, where it lives.
    fn observe_tensor(&mut self, scanner: &Scanner, id: usize, producer: &str) -> Result<()> {
        let engine = self.engine.clone();
        let stats = self.calibration.stats.entry(&engine.body.network, id, producer);
        let v = &self.vals[id];
        match (v.dev, v.dtype, &v.host) {
            (Some(ptr), Some(dtype), _) => {
                let n = kiln_core::tensor::checked_numel(&v.shape)?;
                observe_device(stats, scanner, &self.stream, DeviceValues { ptr, n, half: dtype == DType::Float16 })
            }
            (None, _, Some(t)) => {
                kiln_cpu::calibrate::observe(stats, t);
                Ok(())
            }
            _ => kiln_bail!(Internal, "tensor '{}' has no value to calibrate", engine.body.network.tensors[id].name),
        }
    }
}

// The scan's constants must match library.cu's.
const _: () = assert!(CALIB_HEADER == 3 && MAX_BINS == 2048 * 128 && NUM_BINS == 2048);
