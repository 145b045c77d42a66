//! CUDA, cuDNN, cuBLASLt and NVRTC status codes as coded Kiln errors.

use cudarc::cublaslt::sys as lt;
use cudarc::cudnn::sys as dnn;
use cudarc::driver::sys as cu;
use kiln_core::error::{ErrorCode, KilnError};

/// Checks a driver call; out-of-memory becomes `KILN_E_OUT_OF_MEMORY`, anything else
/// `KILN_E_DEVICE_ERROR` naming the call.
pub fn check_cu(r: cu::CUresult, what: &str) -> Result<(), KilnError> {
    if r == cu::CUresult::CUDA_SUCCESS {
        return Ok(());
    }
    let code = if r == cu::CUresult::CUDA_ERROR_OUT_OF_MEMORY { ErrorCode::OutOfMemory } else { ErrorCode::DeviceError };
    Err(KilnError::new(code, format!("{what} failed: {} ({r:?})", driver_error_string(r))))
}

fn driver_error_string(r: cu::CUresult) -> String {
    let mut p: *const std::ffi::c_char = std::ptr::null();
    // SAFETY: cuGetErrorString writes a pointer to a static string or leaves it null.
    unsafe {
        if cu::cuGetErrorString(r, &mut p) == cu::CUresult::CUDA_SUCCESS && !p.is_null() {
            return std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned();
        }
    }
    "unknown CUDA error".into()
}

pub fn check_dnn(r: dnn::cudnnStatus_t, what: &str) -> Result<(), KilnError> {
    if r == dnn::cudnnStatus_t::CUDNN_STATUS_SUCCESS {
        return Ok(());
    }
    let code = if r == dnn::cudnnStatus_t::CUDNN_STATUS_ALLOC_FAILED { ErrorCode::OutOfMemory } else { ErrorCode::DeviceError };
    Err(KilnError::new(code, format!("cuDNN {what} failed: {r:?}")))
}

pub fn check_lt(r: lt::cublasStatus_t, what: &str) -> Result<(), KilnError> {
    if r == lt::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
        return Ok(());
    }
    let code = if r == lt::cublasStatus_t::CUBLAS_STATUS_ALLOC_FAILED { ErrorCode::OutOfMemory } else { ErrorCode::DeviceError };
    Err(KilnError::new(code, format!("cuBLASLt {what} failed: {r:?}")))
}
