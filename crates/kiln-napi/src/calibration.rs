//! `NativeContext.calibrate` / `calibrateSync` / `calibrationStats` / `resetCalibration`: INT8 calibration
//! statistics gathered by the CPU or CUDA runtime, handed to JS as plain objects (counts as a Float64Array).

use crate::error::{call, guard, reject_error, Result};
use crate::tensor::NativeTensor;
use kiln_core::calibration::TensorStats;
use kiln_core::tensor::Tensor;
use crate::context::AnyContext;
use napi::bindgen_prelude::{AsyncTask, Float64Array};
use napi::{Env, Task};
use napi_derive::napi;
use std::sync::{Arc, Mutex, PoisonError};

type Named = Vec<(String, Tensor)>;

/// Statistics of one tensor: running max |x| and the |x| histogram (bin i covers [i·binWidth, (i+1)·binWidth);
/// binWidth is 0 while only zeros were seen, then counts = [number of zeros]).
#[napi(object)]
pub struct NativeCalibrationStat {
    pub name: String,
    pub dtype: String,
    pub amax: f64,
    pub bin_width: f64,
    pub counts: Float64Array,
    pub non_finite: f64,
    /// The layer type that produced the tensor, "input" for network inputs.
    pub producer: String,
}

fn to_js(s: &TensorStats) -> NativeCalibrationStat {
    NativeCalibrationStat {
        name: s.name.clone(),
        dtype: s.dtype.name().to_string(),
        amax: s.amax as f64,
        bin_width: s.bin_width,
        // Counts stay exact in f64 up to 2^53 elements per bin.
        counts: Float64Array::new(s.counts.iter().map(|&c| c as f64).collect()),
        non_finite: s.non_finite as f64,
        producer: s.producer.clone(),
    }
}

pub(crate) fn calibrate_locked(ctx: &Mutex<AnyContext>, inputs: &Named) -> kiln_core::Result<()> {
    // See `run_locked`: a poisoned lock only follows a caught panic; statistics are plain counters.
    let mut ctx = ctx.lock().unwrap_or_else(PoisonError::into_inner);
    guard("calibrate", || ctx.calibrate(inputs))
}

pub(crate) fn stats_locked(ctx: &Mutex<AnyContext>) -> kiln_core::Result<Vec<NativeCalibrationStat>> {
    let ctx = ctx.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(ctx.calibration_stats().tensors.iter().map(to_js).collect())
}

pub(crate) fn reset_locked(ctx: &Mutex<AnyContext>) -> kiln_core::Result<()> {
    ctx.lock().unwrap_or_else(PoisonError::into_inner).reset_calibration();
    Ok(())
}

pub struct CalibrateTask {
    pub(crate) ctx: Arc<Mutex<AnyContext>>,
    pub(crate) inputs: kiln_core::Result<Named>,
}

impl Task for CalibrateTask {
    type Output = kiln_core::Result<()>;
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let inputs = std::mem::replace(&mut self.inputs, Ok(Vec::new()));
        Ok(inputs.and_then(|inputs| calibrate_locked(&self.ctx, &inputs)))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<()> {
        output.map_err(|e| reject_error(&env, e))
    }
}

/// Converts JS inputs inside the panic guard (shared by `calibrate` and `calibrateSync`).
pub(crate) fn convert(inputs: &[NativeTensor]) -> kiln_core::Result<Named> {
    guard("calibrate", || inputs.iter().map(crate::tensor::from_native).collect())
}

pub(crate) fn calibrate_sync(ctx: &Mutex<AnyContext>, inputs: &[NativeTensor]) -> Result<()> {
    call("calibrateSync", || {
        let inputs = convert(inputs)?;
        calibrate_locked(ctx, &inputs)
    })
}

pub(crate) fn calibrate_async(ctx: Arc<Mutex<AnyContext>>, inputs: &[NativeTensor]) -> AsyncTask<CalibrateTask> {
    AsyncTask::new(CalibrateTask { ctx, inputs: convert(inputs) })
}

pub(crate) fn stats(ctx: &Mutex<AnyContext>) -> Result<Vec<NativeCalibrationStat>> {
    call("calibrationStats", || stats_locked(ctx))
}

pub(crate) fn reset(ctx: &Mutex<AnyContext>) -> Result<()> {
    call("resetCalibration", || {
        reset_locked(ctx)
    })
}
