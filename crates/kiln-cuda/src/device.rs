//! The GPUs this machine has, as `kiln devices` and `Device.list()` show them, and the identity a
//! plan is bound to (name + compute capability).

use crate::error::check_cu;
use crate::libs;
use cudarc::driver::sys as cu;
use kiln_core::error::Result;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    pub ordinal: u32,
    pub name: String,
    /// "9.0"
    pub compute_capability: String,
    pub total_memory_bytes: u64,
    pub sm_count: u32,
    /// The CUDA version the driver supports ("13.0").
    pub driver_version: String,
    pub cudnn_version: String,
    pub cublas_lt_version: String,
    pub nvrtc_version: String,
}

fn attribute(dev: cu::CUdevice, a: cu::CUdevice_attribute) -> Result<i32> {
    let mut v = 0;
    // SAFETY: out-pointer to a local; `dev` came from cuDeviceGet.
    check_cu(unsafe { cu::cuDeviceGetAttribute(&mut v, a, dev) }, "cuDeviceGetAttribute")?;
    Ok(v)
}

pub fn count() -> Result<u32> {
    libs::driver()?;
    let mut n = 0;
    // SAFETY: out-pointer to a local.
    check_cu(unsafe { cu::cuDeviceGetCount(&mut n) }, "cuDeviceGetCount")?;
    Ok(n.max(0) as u32)
}

pub fn info(ordinal: u32) -> Result<DeviceInfo> {
    let n = count()?;
    if ordinal >= n {
        kiln_core::kiln_bail!(BackendUnavailable, "there is no GPU {ordinal}: this machine has {n} (ordinals 0..{})", n.saturating_sub(1));
    }
    let mut dev = 0;
    // SAFETY: out-pointer to a local, ordinal checked above.
    check_cu(unsafe { cu::cuDeviceGet(&mut dev, ordinal as i32) }, "cuDeviceGet")?;
    let mut name = [0 as std::ffi::c_char; 256];
    // SAFETY: the buffer holds 256 bytes, as passed.
    check_cu(unsafe { cu::cuDeviceGetName(name.as_mut_ptr(), 256, dev) }, "cuDeviceGetName")?;
    // SAFETY: the driver NUL-terminates the name.
    let name = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }.to_string_lossy().into_owned();
    let mut mem = 0usize;
    // SAFETY: out-pointer to a local.
    check_cu(unsafe { cu::cuDeviceTotalMem_v2(&mut mem, dev) }, "cuDeviceTotalMem")?;
    let major = attribute(dev, cu::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?;
    let minor = attribute(dev, cu::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?;
    let sms = attribute(dev, cu::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?;
    Ok(DeviceInfo {
        ordinal,
        name,
        compute_capability: format!("{major}.{minor}"),
        total_memory_bytes: mem as u64,
        sm_count: sms.max(0) as u32,
        driver_version: libs::driver_version()?,
        cudnn_version: libs::cudnn_version(),
        cublas_lt_version: libs::cublaslt_version(),
        nvrtc_version: libs::nvrtc_version(),
    })
}

/// Every GPU; a coded `KILN_E_BACKEND_UNAVAILABLE` when there is no driver or no GPU.
pub fn list() -> Result<Vec<DeviceInfo>> {
    (0..count()?).map(info).collect()
}

/// The identity a plan is bound to: kernels are compiled for the compute capability, and tactics
/// were timed on this model of GPU. E.g. "NVIDIA H100 80GB HBM3 (sm_90)".
pub fn identity(info: &DeviceInfo) -> String {
    format!("{} (sm_{})", info.name, info.compute_capability.replace('.', ""))
}

/// Timing caches may be shared within one compute capability (entries re-timed).
pub fn capability(info: &DeviceInfo) -> String {
    format!("sm_{}", info.compute_capability.replace('.', ""))
}

/// The cache identity also names the library versions: a new cuDNN or cuBLASLt may change the
/// fastest tactic.
pub fn cache_identity(info: &DeviceInfo) -> String {
    format!("{} driver {} cuDNN {} cuBLASLt {}", identity(info), info.driver_version, info.cudnn_version, info.cublas_lt_version)
}
