//! Which execution backends this build of the addon offers, and the single place that says why one is not.

use kiln_core::error::{ErrorCode, KilnError};
use napi_derive::napi;

/// Why CUDA cannot be used by this build; the CUDA backend is planned but not compiled in yet.
pub const CUDA_UNAVAILABLE: &str = "the CUDA backend is not available in this build: this version of Kiln ships \
only the CPU backend (use --backend cpu, or backend: 'cpu')";

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
        BackendInfo { name: "cuda".into(), available: false, reason: Some(CUDA_UNAVAILABLE.into()) },
    ]
}

/// A backend name given to buildPlan or found in a plan header.
pub enum Backend {
    Cpu,
}

/// Resolves a backend name; unknown and unavailable backends become coded errors naming the fix.
pub fn resolve_backend(name: &str) -> kiln_core::Result<Backend> {
    match name {
        "cpu" => Ok(Backend::Cpu),
        "cuda" => Err(KilnError::new(ErrorCode::BackendUnavailable, CUDA_UNAVAILABLE)),
        other => Err(KilnError::new(
            ErrorCode::BackendUnavailable,
            format!("unknown backend '{other}'; this build offers: cpu"),
        )),
    }
}
