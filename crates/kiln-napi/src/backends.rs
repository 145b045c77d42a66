//! Which execution backends this build of the addon offers, and the single place that says why one is not.

use kiln_core::error::{ErrorCode, KilnError};
use napi_derive::napi;


#[napi(object)]
pub struct BackendInfo {
    pub name: String,
    pub available: bool,
    pub reason: Option<String>,
}

/// The backends this build knows, with availability on this machine.
#[napi]
pub fn backends() -> Vec<BackendInfo> {
    vec![
        BackendInfo { name: "cpu".into(), available: true, reason: None },
        match kiln_cuda::device::count().and_then(|_| kiln_cuda::libs::libraries()) {
            Ok(()) => BackendInfo { name: "cuda".into(), available: true, reason: None },
            Err(e) => BackendInfo { name: "cuda".into(), available: false, reason: Some(e.message) },
        },
    ]
}

/// A backend name given to buildPlan or found in a plan header.
pub enum Backend {
    Cpu,
    Cuda,
}

/// Resolves a backend name; unknown and unavailable backends become coded errors naming the fix.
pub fn resolve_backend(name: &str) -> kiln_core::Result<Backend> {
    match name {
        "cpu" => Ok(Backend::Cpu),
        "cuda" => kiln_cuda::libs::libraries().map(|_| Backend::Cuda),
        other => Err(KilnError::new(
            ErrorCode::BackendUnavailable,
            format!("unknown backend '{other}'; this build offers: cpu, cuda"),
        )),
    }
}

/// A GPU as `listDevices()` reports it.
#[napi(object)]
pub struct NativeDeviceInfo {
    pub ordinal: u32,
    pub name: String,
    pub compute_capability: String,
    pub total_memory_bytes: f64,
    pub sm_count: u32,
    pub driver_version: String,
    pub cudnn_version: String,
    pub cublas_lt_version: String,
    pub nvrtc_version: String,
}

/// The GPUs of this machine; throws KILN_E_BACKEND_UNAVAILABLE without a driver or GPU.
#[napi]
pub fn list_devices() -> crate::error::Result<Vec<NativeDeviceInfo>> {
    crate::error::call("listDevices", || {
        Ok(kiln_cuda::device::list()?
            .into_iter()
            .map(|d| NativeDeviceInfo {
                ordinal: d.ordinal,
                name: d.name,
                compute_capability: d.compute_capability,
                total_memory_bytes: d.total_memory_bytes as f64,
                sm_count: d.sm_count,
                driver_version: d.driver_version,
                cudnn_version: d.cudnn_version,
                cublas_lt_version: d.cublas_lt_version,
                nvrtc_version: d.nvrtc_version,
            })
            .collect())
    })
}
