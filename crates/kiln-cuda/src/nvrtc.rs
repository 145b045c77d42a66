//! NVRTC: CUDA C to cubin for one compute capability, at build time (plans carry the cubin, so
//! loading a plan compiles nothing).

use cudarc::nvrtc::sys as rtc;
use kiln_core::error::Result;
use kiln_core::{kiln_bail, kiln_err};
use std::ffi::CString;

fn check(r: rtc::nvrtcResult, what: &str) -> Result<()> {
    if r != rtc::nvrtcResult::NVRTC_SUCCESS {
        kiln_bail!(DeviceError, "NVRTC {what} failed: {r:?}");
    }
    Ok(())
}

/// Compiles `source` for `arch` ("sm_90") into a cubin. Errors carry NVRTC's log.
pub fn compile(source: &str, arch: &str) -> Result<Vec<u8>> {
    // SAFETY: a probe.
    if !unsafe { rtc::is_culib_present() } {
        kiln_bail!(BackendUnavailable, "NVRTC (libnvrtc.so) is not on the library path; the CUDA builder needs it to compile kernels");
    }
    let src = CString::new(source).map_err(|_| kiln_err!(Internal, "kernel source contains a NUL byte"))?;
    let name = CString::new("kiln.cu").unwrap();
    let opts: Vec<CString> = [format!("--gpu-architecture={arch}"), "--std=c++17".into(), "-default-device".into(), "--fmad=true".into(), "--split-compile=0".into()]
        .into_iter()
        .map(|o| CString::new(o).unwrap())
        .collect();
    let opt_ptrs: Vec<*const std::ffi::c_char> = opts.iter().map(|o| o.as_ptr()).collect();
    let mut prog: rtc::nvrtcProgram = std::ptr::null_mut();
    // SAFETY: NUL-terminated strings that outlive the calls; the program is destroyed below.
    unsafe {
        check(rtc::nvrtcCreateProgram(&mut prog, src.as_ptr(), name.as_ptr(), 0, std::ptr::null(), std::ptr::null()), "create")?;
        let r = rtc::nvrtcCompileProgram(prog, opt_ptrs.len() as i32, opt_ptrs.as_ptr());
        let result = if r != rtc::nvrtcResult::NVRTC_SUCCESS {
            let mut n = 0usize;
            rtc::nvrtcGetProgramLogSize(prog, &mut n);
            let mut log = vec![0u8; n.max(1)];
            rtc::nvrtcGetProgramLog(prog, log.as_mut_ptr() as *mut std::ffi::c_char);
            let log = String::from_utf8_lossy(&log).trim_end_matches('\0').to_string();
            Err(kiln_err!(Internal, "NVRTC could not compile Kiln's kernels for {arch} ({r:?}):\n{log}"))
        } else {
            let mut n = 0usize;
            check(rtc::nvrtcGetCUBINSize(prog, &mut n), "get cubin size")?;
            let mut cubin = vec![0u8; n];
            check(rtc::nvrtcGetCUBIN(prog, cubin.as_mut_ptr() as *mut std::ffi::c_char), "get cubin")?;
            Ok(cubin)
        };
        rtc::nvrtcDestroyProgram(&mut prog);
        result
    }
}
