//! Finding the CUDA libraries at run time. Every library is opened lazily by cudarc
//! (dynamic-loading), which panics when one is missing; these checks run first so that a machine
//! without CUDA gets a coded `KILN_E_BACKEND_UNAVAILABLE` instead, and the addon still loads.

use kiln_core::error::{ErrorCode, KilnError, Result};
use std::sync::OnceLock;

fn unavailable(msg: String) -> KilnError {
    KilnError::new(ErrorCode::BackendUnavailable, msg)
}

/// The driver: present, initialised, with at least one GPU. Cached for the process.
pub fn driver() -> Result<()> {
    static STATE: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    STATE
        .get_or_init(|| {
            // SAFETY: only probes whether the library can be opened.
            if !unsafe { cudarc::driver::sys::is_culib_present() } {
                return Err("no NVIDIA driver found (libcuda.so could not be loaded): the CUDA backend needs an NVIDIA GPU and its driver; use --backend cpu".into());
            }
            // SAFETY: plain driver calls with out-pointers to locals.
            unsafe {
                let r = cudarc::driver::sys::cuInit(0);
                if r != cudarc::driver::sys::CUresult::CUDA_SUCCESS {
                    return Err(format!("the NVIDIA driver did not initialise ({r:?}); check nvidia-smi; use --backend cpu"));
                }
                let mut n = 0;
                cudarc::driver::sys::cuDeviceGetCount(&mut n);
                if n == 0 {
                    return Err("the NVIDIA driver reports no GPU; use --backend cpu".into());
                }
            }
            Ok(())
        })
        .clone()
        .map_err(unavailable)
}

/// NVRTC, cuDNN and cuBLASLt, each needed to build or run CUDA plans.
pub fn libraries() -> Result<()> {
    driver()?;
    let missing: Vec<&str> = [
        // SAFETY: probes only.
        ("libnvrtc (NVRTC)", unsafe { cudarc::nvrtc::sys::is_culib_present() }),
        ("libcudnn (cuDNN 9)", unsafe { cudarc::cudnn::sys::is_culib_present() }),
        ("libcublasLt (cuBLASLt)", unsafe { cudarc::cublaslt::sys::is_culib_present() }),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(n, _)| n)
    .collect();
    if !missing.is_empty() {
        return Err(unavailable(format!(
            "the CUDA backend needs {} on the library path (LD_LIBRARY_PATH); install the CUDA 13 runtime libraries and cuDNN 9",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// "13.0"-style version of the CUDA driver API.
pub fn driver_version() -> Result<String> {
    driver()?;
    let mut v = 0;
    // SAFETY: out-pointer to a local.
    unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) };
    Ok(format!("{}.{}", v / 1000, (v % 1000) / 10))
}

pub fn nvrtc_version() -> String {
    // SAFETY: probe, then out-pointers to locals.
    unsafe {
        if !cudarc::nvrtc::sys::is_culib_present() {
            return "unavailable: libnvrtc not found".into();
        }
        let (mut major, mut minor) = (0, 0);
        cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor);
        format!("{major}.{minor}")
    }
}

pub fn cudnn_version() -> String {
    // SAFETY: probe, then a getter.
    unsafe {
        if !cudarc::cudnn::sys::is_culib_present() {
            return "unavailable: libcudnn not found".into();
        }
        let v = cudarc::cudnn::sys::cudnnGetVersion();
        format!("{}.{}.{}", v / 10000, (v % 10000) / 100, v % 100)
    }
}

pub fn cublaslt_version() -> String {
    // SAFETY: probe, then a getter.
    unsafe {
        if !cudarc::cublaslt::sys::is_culib_present() {
            return "unavailable: libcublasLt not found".into();
        }
        let v = cudarc::cublaslt::sys::cublasLtGetVersion();
        format!("{}.{}.{}", v / 10000, (v % 10000) / 100, v % 100)
    }
}
