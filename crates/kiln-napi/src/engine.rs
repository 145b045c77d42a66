//! `NativeEngine`: a loaded plan, shared (`Arc`) by every context created from it.

use crate::backends::{resolve_backend, Backend};
use crate::context::NativeContext;
use crate::error::{call, Result};
use kiln_core::error::{ErrorCode, KilnError};
use crate::context::AnyContext;
use kiln_cpu::CpuEngine;
use kiln_cuda::CudaEngine;
use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;
use std::sync::{Arc, Mutex};

enum AnyEngine {
    Cpu(Arc<CpuEngine>),
    Cuda(Arc<CudaEngine>),
}

#[napi]
pub struct NativeEngine {
    engine: AnyEngine,
    info_json: String,
}

fn info_json(info: &kiln_core::plan::PlanInfo) -> kiln_core::Result<String> {
    serde_json::to_string(info).map_err(|e| KilnError::new(ErrorCode::Internal, format!("cannot serialize the plan info: {e}")))
}

/// Loads plan bytes for the backend named in their header. The header is read first so that a plan made for
/// another backend fails with that backend's own reason (e.g. CUDA unavailable) rather than a format error.
fn load(bytes: &[u8]) -> kiln_core::Result<NativeEngine> {
    let header = kiln_core::plan::read_header(bytes)?;
    let backend = resolve_backend(&header.backend).map_err(|e| match e.code {
        // Keep the backend's own reason first (it is the contract's wording) and say what the plan was for.
        ErrorCode::BackendUnavailable if header.backend == "cuda" => {
            KilnError::new(e.code, format!("{} (this plan was built for CUDA on '{}')", e.message, header.device))
        }
        _ => KilnError::new(
            ErrorCode::PlanMismatch,
            format!("this plan was built for the '{}' backend, which this build of Kiln does not know; it runs cpu plans", header.backend),
        ),
    })?;
    match backend {
        Backend::Cpu => {
            let engine = CpuEngine::load(bytes)?;
            Ok(NativeEngine { info_json: info_json(engine.info())?, engine: AnyEngine::Cpu(engine) })
        }
        Backend::Cuda => {
            // Plans name their GPU model; KILN_CUDA_DEVICE picks another ordinal of that model.
            let ordinal = std::env::var("KILN_CUDA_DEVICE").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
            let engine = CudaEngine::load(bytes, ordinal)?;
            Ok(NativeEngine { info_json: info_json(engine.info())?, engine: AnyEngine::Cuda(engine) })
        }
    }
}

#[napi]
impl NativeEngine {
    /// Loads a plan (synchronous). Throws KILN_E_CORRUPT_PLAN / KILN_E_PLAN_MISMATCH for bad or foreign plans
    /// and KILN_E_BACKEND_UNAVAILABLE for plans of a backend this build cannot run.
    #[napi(factory)]
    pub fn load(plan: Uint8Array) -> Result<NativeEngine> {
        call("NativeEngine.load", || load(&plan))
    }

    /// The plan's `PlanInfo` as JSON (camelCase).
    #[napi(getter)]
    pub fn info_json(&self) -> String {
        self.info_json.clone()
    }

    /// Creates an execution context; `numThreads` 0 = all cores (CPU; a CUDA context owns one stream instead). Contexts run independently and concurrently.
    #[napi]
    pub fn create_context(&self, num_threads: u32) -> Result<NativeContext> {
        call("createContext", || {
            let ctx = match &self.engine {
                AnyEngine::Cpu(e) => AnyContext::Cpu(e.create_context(num_threads as usize)?),
                AnyEngine::Cuda(e) => AnyContext::Cuda(e.create_context()?),
            };
            Ok(NativeContext::new(Arc::new(Mutex::new(ctx))))
        })
    }
}
