//! Thin RAII wrappers over the CUDA driver: the device context, device buffers, streams, events,
//! modules and kernel launches. Raw driver calls (cudarc's `sys`) rather than cudarc's safe types,
//! because the runtime needs plain pointers into one arena, and graph capture of a known sequence.

use crate::device::{self, DeviceInfo};
use crate::error::check_cu;
use cudarc::driver::sys as cu;
use cudarc::driver::CudaContext;
use kiln_core::error::{ErrorCode, KilnError, Result};
use std::ffi::c_void;
use std::sync::Arc;

/// One GPU with its primary context.
pub struct Gpu {
    ctx: Arc<CudaContext>,
    pub info: DeviceInfo,
    pub arch: String,
}

impl Gpu {
    pub fn open(ordinal: u32) -> Result<Arc<Gpu>> {
        crate::libs::libraries()?;
        let info = device::info(ordinal)?;
        let ctx = CudaContext::new(ordinal as usize).map_err(|e| KilnError::new(ErrorCode::DeviceError, format!("cannot create a CUDA context on GPU {ordinal}: {e:?}")))?;
        let arch = device::capability(&info);
        Ok(Arc::new(Gpu { ctx, info, arch }))
    }

    /// Makes the context current on the calling thread (napi work runs on libuv's pool threads).
    pub fn bind(&self) -> Result<()> {
        self.ctx.bind_to_thread().map_err(|e| KilnError::new(ErrorCode::DeviceError, format!("cannot bind the CUDA context: {e:?}")))
    }

    pub fn identity(&self) -> String {
        device::identity(&self.info)
    }

    /// (free, total) device memory in bytes.
    pub fn mem_info(&self) -> Result<(usize, usize)> {
        self.bind()?;
        let (mut free, mut total) = (0usize, 0usize);
        // SAFETY: out-pointers to locals, context bound.
        check_cu(unsafe { cu::cuMemGetInfo_v2(&mut free, &mut total) }, "cuMemGetInfo")?;
        Ok((free, total))
    }
}

/// A device allocation, freed on drop.
pub struct DeviceBuffer {
    gpu: Arc<Gpu>,
    pub ptr: u64,
    pub bytes: usize,
}

impl DeviceBuffer {
    pub fn alloc(gpu: &Arc<Gpu>, bytes: usize, what: &str) -> Result<DeviceBuffer> {
        gpu.bind()?;
        let mut ptr: cu::CUdeviceptr = 0;
        // SAFETY: out-pointer to a local; a zero-byte request is rounded up (cuMemAlloc refuses 0).
        let r = unsafe { cu::cuMemAlloc_v2(&mut ptr, bytes.max(256)) };
        if r == cu::CUresult::CUDA_ERROR_OUT_OF_MEMORY {
            let (free, total) = gpu.mem_info().unwrap_or((0, 0));
            return Err(KilnError::new(
                ErrorCode::OutOfMemory,
                format!(
                    "out of GPU memory allocating {what}: {} MiB wanted, {} MiB free of {} MiB on {}; use smaller optimization-profile shapes or fewer contexts",
                    bytes >> 20,
                    free >> 20,
                    total >> 20,
                    gpu.identity()
                ),
            ));
        }
        check_cu(r, &format!("cuMemAlloc ({what}, {bytes} bytes)"))?;
        Ok(DeviceBuffer { gpu: gpu.clone(), ptr, bytes })
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        if self.gpu.bind().is_ok() {
            // SAFETY: `ptr` came from cuMemAlloc and is freed once.
            unsafe { cu::cuMemFree_v2(self.ptr) };
        }
    }
}

/// Page-locked host memory for asynchronous copies.
pub struct PinnedBuffer {
    gpu: Arc<Gpu>,
    pub ptr: *mut u8,
    pub bytes: usize,
}

// SAFETY: the buffer is plain memory owned by this value.
unsafe impl Send for PinnedBuffer {}

impl PinnedBuffer {
    pub fn alloc(gpu: &Arc<Gpu>, bytes: usize) -> Result<PinnedBuffer> {
        gpu.bind()?;
        let mut p: *mut c_void = std::ptr::null_mut();
        // SAFETY: out-pointer to a local.
        check_cu(unsafe { cu::cuMemAllocHost_v2(&mut p, bytes.max(256)) }, "cuMemAllocHost")?;
        Ok(PinnedBuffer { gpu: gpu.clone(), ptr: p as *mut u8, bytes })
    }
    pub fn as_slice(&self, n: usize) -> &[u8] {
        // SAFETY: n <= bytes is checked by the callers (they size the buffer first).
        unsafe { std::slice::from_raw_parts(self.ptr, n.min(self.bytes)) }
    }
    pub fn as_mut_slice(&mut self, n: usize) -> &mut [u8] {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, n.min(self.bytes)) }
    }
}

impl Drop for PinnedBuffer {
    fn drop(&mut self) {
        if self.gpu.bind().is_ok() {
            // SAFETY: allocated by cuMemAllocHost, freed once.
            unsafe { cu::cuMemFreeHost(self.ptr as *mut c_void) };
        }
    }
}

/// A non-blocking stream, destroyed on drop.
pub struct Stream {
    gpu: Arc<Gpu>,
    pub raw: cu::CUstream,
}

// SAFETY: CUDA streams may be used from any thread once the context is bound.
unsafe impl Send for Stream {}
unsafe impl Sync for Stream {}

impl Stream {
    pub fn new(gpu: &Arc<Gpu>) -> Result<Stream> {
        gpu.bind()?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: out-pointer to a local. Flag 1 = CU_STREAM_NON_BLOCKING.
        check_cu(unsafe { cu::cuStreamCreate(&mut raw, 1) }, "cuStreamCreate")?;
        Ok(Stream { gpu: gpu.clone(), raw })
    }
    pub fn sync(&self) -> Result<()> {
        // SAFETY: a live stream.
        check_cu(unsafe { cu::cuStreamSynchronize(self.raw) }, "cuStreamSynchronize (a kernel of this engine failed)")
    }
    pub fn htod(&self, dst: u64, src: &[u8]) -> Result<()> {
        if src.is_empty() {
            return Ok(());
        }
        // SAFETY: dst has room for src (the callers size it); src outlives the copy because
        // every caller synchronizes before releasing it (or it is pinned and owned by the context).
        check_cu(unsafe { cu::cuMemcpyHtoDAsync_v2(dst, src.as_ptr() as *const c_void, src.len(), self.raw) }, "cuMemcpyHtoDAsync")
    }
    pub fn dtoh(&self, dst: &mut [u8], src: u64) -> Result<()> {
        if dst.is_empty() {
            return Ok(());
        }
        // SAFETY: as for htod.
        check_cu(unsafe { cu::cuMemcpyDtoHAsync_v2(dst.as_mut_ptr() as *mut c_void, src, dst.len(), self.raw) }, "cuMemcpyDtoHAsync")
    }
    pub fn dtod(&self, dst: u64, src: u64, bytes: usize) -> Result<()> {
        if bytes == 0 || dst == src {
            return Ok(());
        }
        // SAFETY: both ranges are device allocations of at least `bytes`.
        check_cu(unsafe { cu::cuMemcpyDtoDAsync_v2(dst, src, bytes, self.raw) }, "cuMemcpyDtoDAsync")
    }
    pub fn memset(&self, dst: u64, bytes: usize) -> Result<()> {
        if bytes == 0 {
            return Ok(());
        }
        // SAFETY: dst has room for `bytes`.
        check_cu(unsafe { cu::cuMemsetD8Async(dst, 0, bytes, self.raw) }, "cuMemsetD8Async")
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if self.gpu.bind().is_ok() {
            // SAFETY: created by cuStreamCreate; destroyed once.
            unsafe {
                cu::cuStreamSynchronize(self.raw);
                cu::cuStreamDestroy_v2(self.raw);
            }
        }
    }
}

pub struct Event {
    gpu: Arc<Gpu>,
    pub raw: cu::CUevent,
}

// SAFETY: events are usable from any thread with the context bound.
unsafe impl Send for Event {}

impl Event {
    pub fn new(gpu: &Arc<Gpu>) -> Result<Event> {
        gpu.bind()?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: out-pointer to a local; flags 0 = timing enabled.
        check_cu(unsafe { cu::cuEventCreate(&mut raw, 0) }, "cuEventCreate")?;
        Ok(Event { gpu: gpu.clone(), raw })
    }
    pub fn record(&self, stream: &Stream) -> Result<()> {
        // SAFETY: live event and stream.
        check_cu(unsafe { cu::cuEventRecord(self.raw, stream.raw) }, "cuEventRecord")
    }
    /// Milliseconds from `self` to `end` (both recorded; waits for `end`).
    pub fn elapsed_ms(&self, end: &Event) -> Result<f64> {
        let mut ms = 0f32;
        // SAFETY: live events.
        unsafe {
            check_cu(cu::cuEventSynchronize(end.raw), "cuEventSynchronize")?;
            check_cu(cu::cuEventElapsedTime_v2(&mut ms, self.raw, end.raw), "cuEventElapsedTime")?;
        }
        Ok(ms as f64)
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        if self.gpu.bind().is_ok() {
            // SAFETY: created by cuEventCreate.
            unsafe { cu::cuEventDestroy_v2(self.raw) };
        }
    }
}

/// Loaded cubins and their kernels by name.
pub struct Module {
    gpu: Arc<Gpu>,
    raw: Vec<cu::CUmodule>,
    functions: std::collections::HashMap<String, cu::CUfunction>,
}

// SAFETY: modules and functions are context-wide handles usable from any thread.
unsafe impl Send for Module {}
unsafe impl Sync for Module {}

impl Module {
    /// Loads cubins (no JIT: they were compiled for this compute capability when the plan was built).
    pub fn load(gpu: &Arc<Gpu>, cubins: &[Vec<u8>]) -> Result<Module> {
        gpu.bind()?;
        let mut m = Module { gpu: gpu.clone(), raw: Vec::new(), functions: Default::default() };
        for cubin in cubins {
            if !cubin.starts_with(b"\x7fELF") {
                kiln_core::kiln_bail!(CorruptPlan, "the plan's compiled kernels are not a cubin");
            }
            let mut raw = std::ptr::null_mut();
            // SAFETY: cubin is an ELF image (checked by the driver).
            let r = unsafe { cu::cuModuleLoadData(&mut raw, cubin.as_ptr() as *const c_void) };
            check_cu(r, "loading the plan's compiled kernels (cuModuleLoadData)")?;
            m.raw.push(raw);
        }
        Ok(m)
    }

    /// Resolves every named kernel once, at load time.
    pub fn resolve(&mut self, names: &[String]) -> Result<()> {
        for n in names {
            if self.functions.contains_key(n) {
                continue;
            }
            let c = std::ffi::CString::new(n.as_str()).map_err(|_| kiln_core::kiln_err!(CorruptPlan, "kernel name '{n}' is not valid"))?;
            let mut found = None;
            for &m in &self.raw {
                let mut f = std::ptr::null_mut();
                // SAFETY: out-pointer to a local; c is NUL-terminated.
                if unsafe { cu::cuModuleGetFunction(&mut f, m, c.as_ptr()) } == cu::CUresult::CUDA_SUCCESS {
                    found = Some(f);
                    break;
                }
            }
            let Some(f) = found else { kiln_core::kiln_bail!(CorruptPlan, "the plan's kernel modules lack kernel '{n}'") };
            self.functions.insert(n.clone(), f);
        }
        Ok(())
    }

    pub fn function(&self, name: &str) -> Result<cu::CUfunction> {
        self.functions.get(name).copied().ok_or_else(|| kiln_core::kiln_err!(Internal, "kernel '{name}' was not resolved at load"))
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        if self.gpu.bind().is_ok() {
            for &m in &self.raw {
                // SAFETY: loaded by cuModuleLoadData.
                unsafe { cu::cuModuleUnload(m) };
            }
        }
    }
}

/// Launches `f(args)` over `n` elements with a grid-stride loop (blocks capped so one launch never
/// exceeds the grid limit; kernels loop over the rest).
pub fn launch<T>(f: cu::CUfunction, stream: &Stream, n: u64, block: u32, args: &mut T) -> Result<()> {
    let blocks = n.div_ceil(block as u64).clamp(1, 65_535 * 8) as u32;
    launch_grid(f, stream, blocks, block, args)
}

pub fn launch_grid<T>(f: cu::CUfunction, stream: &Stream, blocks: u32, block: u32, args: &mut T) -> Result<()> {
    let mut p = args as *mut T as *mut c_void;
    // SAFETY: every kernel takes exactly one by-value struct parameter whose #[repr(C)] layout
    // is `T` (checked against the .cu definitions in kernels/mod.rs).
    check_cu(
        unsafe { cu::cuLaunchKernel(f, blocks.max(1), 1, 1, block, 1, 1, 0, stream.raw, &mut p, std::ptr::null_mut()) },
        "cuLaunchKernel",
    )
}
