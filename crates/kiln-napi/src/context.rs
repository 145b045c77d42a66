//! `NativeContext`: runs an engine. `run` executes on the libuv pool (`AsyncTask`), `runSync` on the caller.
//!
//! Each context owns its activation buffers behind a `Mutex`: runs on one context are serialized, runs on
//! different contexts of the same engine proceed in parallel.

use crate::error::{call, guard, reject_error, Result};
use crate::tensor::{from_native, to_native, NativeTensor};
use kiln_core::calibration::CalibrationStats;
use kiln_core::tensor::Tensor;
use kiln_cpu::CpuContext;
use kiln_cuda::{BenchOptions, BenchResult, CudaContext};
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;
use std::sync::{Arc, Mutex, PoisonError};

type Named = Vec<(String, Tensor)>;

/// A context of either backend.
pub enum AnyContext {
    Cpu(CpuContext),
    Cuda(CudaContext),
}

impl AnyContext {
    fn run(&mut self, inputs: &Named) -> kiln_core::Result<Named> {
        match self {
            AnyContext::Cpu(c) => c.run(inputs),
            AnyContext::Cuda(c) => c.run(inputs, false),
        }
    }

    /// Runs one batch in calibration mode (statistics on the host for CPU, on the GPU for CUDA).
    pub fn calibrate(&mut self, inputs: &Named) -> kiln_core::Result<()> {
        match self {
            AnyContext::Cpu(c) => c.calibrate(inputs),
            AnyContext::Cuda(c) => c.calibrate(inputs),
        }
    }

    pub fn calibration_stats(&self) -> &CalibrationStats {
        match self {
            AnyContext::Cpu(c) => c.calibration_stats(),
            AnyContext::Cuda(c) => c.calibration_stats(),
        }
    }

    pub fn reset_calibration(&mut self) {
        match self {
            AnyContext::Cpu(c) => c.reset_calibration(),
            AnyContext::Cuda(c) => c.reset_calibration(),
        }
    }

    fn benchmark(&mut self, inputs: &Named, opts: &BenchOptions) -> kiln_core::Result<BenchResult> {
        match self {
            AnyContext::Cuda(c) => c.benchmark(inputs, opts),
            AnyContext::Cpu(c) => {
                // Host timing: the whole run is compute; there are no transfers.
                for _ in 0..opts.warmup {
                    c.run(inputs)?;
                }
                let mut r = BenchResult { backend: "cpu".into(), iterations: opts.iterations, ..Default::default() };
                for _ in 0..opts.iterations {
                    let t = std::time::Instant::now();
                    c.run(inputs)?;
                    let ms = t.elapsed().as_secs_f64() * 1e3;
                    r.h2d_ms.push(0.0);
                    r.compute_ms.push(ms);
                    r.d2h_ms.push(0.0);
                    r.total_ms.push(ms);
                }
                if opts.use_cuda_graph {
                    r.cuda_graph_reason = Some("CUDA graphs need the cuda backend".into());
                }
                if opts.profile {
                    // A separate profiled pass, as on CUDA, so the timed iterations carry no timing overhead.
                    let runs = opts.iterations.clamp(1, 20);
                    c.set_profiling(true);
                    for _ in 0..runs {
                        c.run(inputs)?;
                    }
                    let sums = c.layer_times().map(|v| v.to_vec()).unwrap_or_default();
                    c.set_profiling(false);
                    let info = c.engine().info();
                    r.layers = Some(
                        info.layers
                            .iter()
                            .zip(sums)
                            .map(|(l, s)| kiln_cuda::runtime::LayerTime { name: l.name.clone(), layer_type: l.layer_type.clone(), tactic: l.tactic.clone().unwrap_or_default(), ms: s / runs as f64 })
                            .collect(),
                    );
                }
                Ok(r)
            }
        }
    }
}

#[napi]
pub struct NativeContext {
    ctx: Arc<Mutex<AnyContext>>,
}

impl NativeContext {
    pub(crate) fn new(ctx: Arc<Mutex<AnyContext>>) -> Self {
        NativeContext { ctx }
    }
}

fn convert_inputs(inputs: &[NativeTensor]) -> kiln_core::Result<Named> {
    inputs.iter().map(from_native).collect()
}

fn run_locked(ctx: &Mutex<AnyContext>, inputs: &Named) -> kiln_core::Result<Named> {
    // A panic inside `run` is caught by `guard` below while the lock is held, so the mutex is only poisoned if
    // the guard itself failed; the context's buffers are rewritten by every run, so reusing it is safe.
    let mut ctx = ctx.lock().unwrap_or_else(PoisonError::into_inner);
    guard("run", || ctx.run(inputs))
}

pub struct RunTask {
    ctx: Arc<Mutex<AnyContext>>,
    /// Inputs already copied out of the JS buffers (or why they could not be), so nothing JS-owned crosses threads.
    inputs: kiln_core::Result<Named>,
}

impl Task for RunTask {
    type Output = kiln_core::Result<Named>;
    type JsValue = Vec<NativeTensor>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let inputs = std::mem::replace(&mut self.inputs, Ok(Vec::new()));
        Ok(inputs.and_then(|inputs| run_locked(&self.ctx, &inputs)))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Vec<NativeTensor>> {
        output
            .map(|outs| outs.into_iter().map(|(name, t)| to_native(name, t)).collect())
            .map_err(|e| reject_error(&env, e))
    }
}

#[napi]
impl NativeContext {
    /// Runs inference off the JS thread. Inputs are matched by name; outputs come in the plan's output order.
    #[napi(ts_return_type = "Promise<Array<NativeTensor>>")]
    pub fn run(&self, inputs: Vec<NativeTensor>) -> AsyncTask<RunTask> {
        let converted = guard("run", || convert_inputs(&inputs));
        AsyncTask::new(RunTask { ctx: self.ctx.clone(), inputs: converted })
    }

    /// Runs the engine in calibration mode off the JS thread: accumulates, for every float network input
    /// and layer output, the running max |x| and the |x| histogram (read them with `calibrationStats`).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn calibrate(&self, inputs: Vec<NativeTensor>) -> AsyncTask<crate::calibration::CalibrateTask> {
        crate::calibration::calibrate_async(self.ctx.clone(), &inputs)
    }

    /// `calibrate` on the calling thread.
    #[napi]
    pub fn calibrate_sync(&self, inputs: Vec<NativeTensor>) -> Result<()> {
        crate::calibration::calibrate_sync(&self.ctx, &inputs)
    }

    /// The statistics gathered since the context was created or last reset, in network order.
    #[napi]
    pub fn calibration_stats(&self) -> Result<Vec<crate::calibration::NativeCalibrationStat>> {
        crate::calibration::stats(&self.ctx)
    }

    /// Forgets the gathered statistics.
    #[napi]
    pub fn reset_calibration(&self) -> Result<()> {
        crate::calibration::reset(&self.ctx)
    }

    /// Measures `iterations` runs off the JS thread; `optionsJson` = {iterations, warmup, useCudaGraph,
    /// noDataTransfers, profile}. Resolves to the result JSON (per-iteration h2dMs/computeMs/d2hMs/totalMs,
    /// cudaGraph, layers when profiling).
    #[napi(ts_return_type = "Promise<string>")]
    pub fn benchmark(&self, inputs: Vec<NativeTensor>, options_json: String) -> AsyncTask<BenchTask> {
        let converted = guard("benchmark", || convert_inputs(&inputs));
        AsyncTask::new(BenchTask { ctx: self.ctx.clone(), inputs: converted, options_json })
    }

    /// Runs inference on the calling thread.
    #[napi]
    pub fn run_sync(&self, inputs: Vec<NativeTensor>) -> Result<Vec<NativeTensor>> {
        call("runSync", || {
            let inputs = convert_inputs(&inputs)?;
            let outputs = run_locked(&self.ctx, &inputs)?;
            Ok(outputs.into_iter().map(|(name, t)| to_native(name, t)).collect())
        })
    }
}

pub struct BenchTask {
    ctx: Arc<Mutex<AnyContext>>,
    inputs: kiln_core::Result<Named>,
    options_json: String,
}

impl Task for BenchTask {
    type Output = kiln_core::Result<String>;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let inputs = std::mem::replace(&mut self.inputs, Ok(Vec::new()));
        let json = self.options_json.clone();
        let ctx = self.ctx.clone();
        Ok(guard("benchmark", move || {
            let inputs = inputs?;
            let opts: BenchOptions = serde_json::from_str(&json).map_err(|e| kiln_core::kiln_err!(InvalidValue, "benchmark options are not valid JSON ({e}); expected {{\"iterations\": n, \"warmup\": n, …}}"))?;
            let mut c = ctx.lock().unwrap_or_else(PoisonError::into_inner);
            let r = c.benchmark(&inputs, &opts)?;
            serde_json::to_string(&r).map_err(|e| kiln_core::kiln_err!(Internal, "encoding the benchmark result: {e}"))
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<String> {
        output.map_err(|e| reject_error(&env, e))
    }
}
