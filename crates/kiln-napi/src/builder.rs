//! `buildPlan` / `buildPlanSync` / `readPlanHeader`: network + builder config JSON → plan bytes.
//!
//! The async variant clones the network on the JS thread (the JS object stays usable and mutable) and runs the
//! whole build, config parsing included, on the libuv pool, so every failure arrives as a promise rejection.

use crate::backends::{resolve_backend, Backend};
use crate::error::{call, guard, reject_error, Result};
use crate::network::NativeNetwork;
use kiln_core::builder::{build_plan as core_build_plan, BuilderConfig};
use kiln_core::error::{ErrorCode, KilnError};
use kiln_core::network::Network;
use kiln_core::builder::{BuildBackend, WithProgress};
use napi::bindgen_prelude::{AsyncTask, Buffer, FnArgs, Uint8Array, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Task};
use napi_derive::napi;

/// Parses the builder config (serde JSON of `BuilderConfig`, camelCase); an empty string means defaults.
fn parse_config(json: &str) -> kiln_core::Result<BuilderConfig> {
    if json.trim().is_empty() {
        return Ok(BuilderConfig::default());
    }
    serde_json::from_str(json).map_err(|e| {
        KilnError::new(ErrorCode::InvalidProfile, format!("the builder config is not valid ({e}); expected {{\"profiles\": [{{\"shapes\": {{\"<input>\": {{\"min\": [..], \"opt\": [..], \"max\": [..]}}}}}}]}}"))
    })
}

fn build(network: &Network, config_json: &str, backend: &str) -> kiln_core::Result<Vec<u8>> {
    let config = parse_config(config_json)?;
    match resolve_backend(backend)? {
        Backend::Cpu => core_build_plan(network, &config, &kiln_cpu::CpuBackend),
        Backend::Cuda => core_build_plan(network, &config, &kiln_cuda::CudaBuildBackend::new(&config)?),
    }
}

pub struct BuildTask {
    network: Network,
    config_json: String,
    backend: String,
}

impl Task for BuildTask {
    type Output = kiln_core::Result<Vec<u8>>;
    type JsValue = Buffer;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(guard("buildPlan", || build(&self.network, &self.config_json, &self.backend)))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Buffer> {
        output.map(Buffer::from).map_err(|e| reject_error(&env, e))
    }
}

/// Builds a plan off the JS thread. `configJson` is the serde JSON of the builder config; `backend` is
/// `"cpu"` or `"cuda"` (KILN_E_BACKEND_UNAVAILABLE without a GPU, its driver or the CUDA libraries).
#[napi(ts_return_type = "Promise<Buffer>")]
pub fn build_plan(network: &NativeNetwork, config_json: String, backend: String) -> AsyncTask<BuildTask> {
    AsyncTask::new(BuildTask { network: network.inner.clone(), config_json, backend })
}

/// Builds a plan on the calling thread.
#[napi]
pub fn build_plan_sync(network: &NativeNetwork, config_json: String, backend: String) -> Result<Buffer> {
    call("buildPlanSync", || build(&network.inner, &config_json, &backend)).map(Buffer::from)
}

#[napi(object)]
pub struct NativePlanHeader {
    pub format_version: u32,
    pub kiln_version: String,
    pub backend: String,
    pub device: String,
}

/// Reads and validates a plan's header without loading it.
#[napi]
pub fn read_plan_header(plan: Uint8Array) -> Result<NativePlanHeader> {
    call("readPlanHeader", || {
        let h = kiln_core::plan::read_header(&plan)?;
        Ok(NativePlanHeader { format_version: h.format_version, kiln_version: h.kiln_version, backend: h.backend, device: h.device })
    })
}

/// The plan, the build report and the updated timing cache of `buildPlanWithReport`.
#[napi(object)]
pub struct NativeBuildResult {
    pub plan: Buffer,
    /// `BuildReport` as JSON: {buildMs, tacticTimeMs, timingCache: {hits, misses, entries, rejected?},
    /// builderOptimizationLevel, stats, warnings}.
    pub report_json: String,
    /// The input cache plus this build's measurements.
    pub timing_cache: Buffer,
}

type ReportOutput = (Vec<u8>, String, Vec<u8>);

/// `onProgress(done, total)`: called from the JS thread (queued, non-blocking) as tactic selection goes.
pub type ProgressFn = ThreadsafeFunction<FnArgs<(u32, u32)>, Unknown<'static>, FnArgs<(u32, u32)>, napi::Status, false>;

fn build_with_report(network: &Network, config_json: &str, backend: &str, cache: Option<Vec<u8>>, progress: Option<&ProgressFn>) -> kiln_core::Result<ReportOutput> {
    let mut config = parse_config(config_json)?;
    config.timing_cache = cache;
    let cuda;
    let backend: &dyn BuildBackend = match resolve_backend(backend)? {
        Backend::Cpu => &kiln_cpu::CpuBackend,
        Backend::Cuda => {
            cuda = kiln_cuda::CudaBuildBackend::new(&config)?;
            &cuda
        }
    };
    let report_to_js = |done: usize, total: usize| {
        if let Some(f) = progress {
            // FnArgs spreads the pair into two JS arguments (a plain tuple would arrive as one array).
            f.call(FnArgs::from((done as u32, total as u32)), ThreadsafeFunctionCallMode::NonBlocking);
        }
    };
    let with_progress = WithProgress { backend, progress: &report_to_js };
    let (plan, report) = kiln_core::builder::build_plan_with_report(network, &config, &with_progress)?;
    let json = serde_json::to_string(&report).map_err(|e| KilnError::new(ErrorCode::Internal, format!("encoding the build report: {e}")))?;
    Ok((plan, json, report.updated_cache))
}

pub struct BuildReportTask {
    network: Network,
    config_json: String,
    backend: String,
    cache: Option<Vec<u8>>,
    progress: Option<ProgressFn>,
}

impl Task for BuildReportTask {
    type Output = kiln_core::Result<ReportOutput>;
    type JsValue = NativeBuildResult;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(guard("buildPlanWithReport", || build_with_report(&self.network, &self.config_json, &self.backend, self.cache.take(), self.progress.as_ref())))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<NativeBuildResult> {
        output
            .map(|(plan, report_json, cache)| NativeBuildResult { plan: plan.into(), report_json, timing_cache: cache.into() })
            .map_err(|e| reject_error(&env, e))
    }
}

/// Builds a plan off the JS thread with tactic timing against `timingCache` (bytes of a timing
/// cache, or absent/empty for none); resolves to the plan, the report and the updated cache.
/// `onProgress(done, total)`, if given, is called as layers' tactics are selected.
#[napi(ts_return_type = "Promise<NativeBuildResult>")]
pub fn build_plan_with_report(
    network: &NativeNetwork,
    config_json: String,
    backend: String,
    timing_cache: Option<Uint8Array>,
    #[napi(ts_arg_type = "(done: number, total: number) => void")] on_progress: Option<ProgressFn>,
) -> AsyncTask<BuildReportTask> {
    AsyncTask::new(BuildReportTask { network: network.inner.clone(), config_json, backend, cache: timing_cache.map(|c| c.to_vec()), progress: on_progress })
}

/// `buildPlanWithReport` on the calling thread.
#[napi]
pub fn build_plan_with_report_sync(network: &NativeNetwork, config_json: String, backend: String, timing_cache: Option<Uint8Array>) -> Result<NativeBuildResult> {
    call("buildPlanWithReportSync", || build_with_report(&network.inner, &config_json, &backend, timing_cache.map(|c| c.to_vec()), None))
        .map(|(plan, report_json, cache)| NativeBuildResult { plan: plan.into(), report_json, timing_cache: cache.into() })
}
