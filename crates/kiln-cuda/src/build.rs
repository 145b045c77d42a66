//! The CUDA backend as the builder sees it: device identity, constant folding on the host,
//! candidate tactics (cuDNN algorithms, cuBLASLt heuristic results) timed on the GPU with CUDA
//! events, and, after tactic selection, the plan's kernels compiled by NVRTC.

use crate::conv;
use crate::gemm;
use crate::gpu::{DeviceBuffer, Event, Gpu, Stream};
use crate::program;
use cudarc::cublaslt::sys as lt;
use cudarc::cudnn::sys as dnn;
use kiln_core::builder::{BuildBackend, BuilderConfig};
use kiln_core::error::Result;
use kiln_core::infer::{infer, InferInput, TensorInfo};
use kiln_core::layer::LayerKind;
use kiln_core::plan::PlanBody;
use kiln_core::tactic::{TensorSig, TimingSample};
use kiln_core::tensor::Tensor;
use kiln_core::{kiln_bail, kiln_err};
use std::sync::{Arc, Mutex};

/// Version of Kiln's CUDA kernel library and tactic naming (part of timing-cache keys).
pub const TACTIC_LIBRARY_VERSION: u32 = 1;

struct Bench {
    stream: Stream,
    dnn: dnn::cudnnHandle_t,
    lt: lt::cublasLtHandle_t,
}

// SAFETY: used under the Mutex only.
unsafe impl Send for Bench {}

pub struct CudaBuildBackend {
    gpu: Arc<Gpu>,
    tf32: bool,
    bench: Mutex<Bench>,
}

impl CudaBuildBackend {
    pub fn new(config: &BuilderConfig) -> Result<CudaBuildBackend> {
        let gpu = Gpu::open(config.device)?;
        let stream = Stream::new(&gpu)?;
        let (mut h, mut l) = (std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: out-pointers to locals.
        unsafe {
            crate::error::check_dnn(dnn::cudnnCreate(&mut h), "create handle")?;
            crate::error::check_dnn(dnn::cudnnSetStream(h, stream.raw as _), "set stream")?;
            crate::error::check_lt(lt::cublasLtCreate(&mut l), "create handle")?;
        }
        Ok(CudaBuildBackend { gpu, tf32: config.tf32, bench: Mutex::new(Bench { stream, dnn: h, lt: l }) })
    }
}

impl Drop for CudaBuildBackend {
    fn drop(&mut self) {
        if let Ok(b) = self.bench.lock() {
            // SAFETY: created in new, destroyed once.
            unsafe {
                dnn::cudnnDestroy(b.dnn);
                lt::cublasLtDestroy(b.lt);
            }
        }
    }
}

fn output_shape(kind: &LayerKind, inputs: &[Option<TensorSig>]) -> Option<Vec<usize>> {
    let infos: Vec<Option<InferInput>> = inputs.iter().map(|s| s.as_ref().map(|s| InferInput { info: TensorInfo::new(s.dtype, s.shape.iter().map(|&d| d as i64).collect()), value: None })).collect();
    let o = infer(kind, &infos).ok()?;
    let o = o.first()?;
    o.is_static().then(|| o.dims.iter().map(|&d| d as usize).collect())
}

impl BuildBackend for CudaBuildBackend {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn device_identity(&self) -> String {
        self.gpu.identity()
    }

    fn device_capability(&self) -> String {
        self.gpu.arch.clone()
    }

    fn evaluate(&self, kind: &LayerKind, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
        kiln_cpu::kernels::execute(kind, inputs, outputs)
    }

    fn tactic_library_version(&self) -> u32 {
        TACTIC_LIBRARY_VERSION
    }

    fn tactics(&self, kind: &LayerKind, inputs: &[Option<TensorSig>]) -> Vec<String> {
        let Some(y) = output_shape(kind, inputs) else { return Vec::new() };
        let sig = |k: usize| inputs.get(k).cloned().flatten();
        let b = match self.bench.lock() {
            Ok(b) => b,
            Err(_) => return Vec::new(),
        };
        if self.gpu.bind().is_err() {
            return Vec::new();
        }
        match kind {
            LayerKind::Convolution { .. } => {
                let (Some(x), Some(w)) = (sig(0), sig(1)) else { return Vec::new() };
                let Some(geo) = conv::geometry(kind, &x.shape, &w.shape, &y) else { return Vec::new() };
                let Ok(d) = conv::describe(&geo, x.dtype, &x.shape, &w.shape, &y, self.tf32, conv::timing_layouts(x.dtype, x.shape.len())) else { return Vec::new() };
                conv::candidates(b.dnn, &d).unwrap_or_default().into_iter().map(|(a, _)| format!("cudnn:algo={a}")).collect()
            }
            LayerKind::MatrixMultiply { .. } => {
                let (Some(a), Some(bb)) = (sig(0), sig(1)) else { return Vec::new() };
                let Some(p) = gemm::problem(kind, &a.shape, &bb.shape, &y) else { return Vec::new() };
                match gemm::describe(b.lt, &p, a.dtype, self.tf32, false, None) {
                    Ok(st) => (0..st.algos.len()).map(|h| format!("cublaslt:h={h}")).collect(),
                    Err(_) => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    fn time_tactic(&self, kind: &LayerKind, tactic: &str, inputs: &[Option<&Tensor>], warmup: usize, samples: usize) -> Result<TimingSample> {
        let b = self.bench.lock().map_err(|_| kiln_err!(Internal, "tactic timer poisoned"))?;
        self.gpu.bind()?;
        let sigs: Vec<Option<TensorSig>> = inputs.iter().map(|t| t.map(|t| TensorSig { dtype: t.dtype(), shape: t.shape.clone(), constant: false })).collect();
        let y = output_shape(kind, &sigs).ok_or_else(|| kiln_err!(Internal, "no output shape to time {tactic}"))?;
        let dtype = inputs[0].map(|t| t.dtype()).ok_or_else(|| kiln_err!(Internal, "no input"))?;
        let upload = |t: &Tensor| -> Result<DeviceBuffer> {
            let bytes = t.data.to_le_bytes();
            let buf = DeviceBuffer::alloc(&self.gpu, bytes.len(), "a tactic-timing input")?;
            b.stream.htod(buf.ptr, &bytes)?;
            b.stream.sync()?;
            Ok(buf)
        };
        let x = upload(inputs[0].unwrap())?;
        let w = upload(inputs.get(1).copied().flatten().ok_or_else(|| kiln_err!(Internal, "no second input"))?)?;
        let out = DeviceBuffer::alloc(&self.gpu, y.iter().product::<usize>() * dtype.size(), "a tactic-timing output")?;
        let mut run: Box<dyn FnMut() -> Result<()>> = match kind {
            LayerKind::Convolution { .. } => {
                let algo: i32 = tactic.strip_prefix("cudnn:algo=").and_then(|a| a.parse().ok()).ok_or_else(|| kiln_err!(Internal, "not a cuDNN tactic: {tactic}"))?;
                let geo = conv::geometry(kind, &inputs[0].unwrap().shape, &inputs[1].unwrap().shape, &y).ok_or_else(|| kiln_err!(Unsupported, "geometry"))?;
                // Timing needs the layouts, not the values: the weights go up as they are.
                let descs = conv::describe(&geo, dtype, &inputs[0].unwrap().shape, &inputs[1].unwrap().shape, &y, self.tf32, conv::timing_layouts(dtype, y.len()))?;
                let a = conv::algo_from(algo).ok_or_else(|| kiln_err!(Internal, "algo {algo}"))?;
                // The heuristic's memory figure and the workspace query are both upper bounds cuDNN gives; take the larger.
                let listed = conv::candidates(b.dnn, &descs)?.into_iter().find(|(x, _)| *x == algo).map(|(_, m)| m).unwrap_or(0);
                let ws = conv::workspace_size(b.dnn, &descs, a)?.max(listed);
                // As large as a context's workspace (at least 32 MiB), so timing sees the same conditions.
                let wsb = DeviceBuffer::alloc(&self.gpu, ws.max(gemm::WORKSPACE), "a tactic-timing workspace")?;
                let st = conv::ConvState { key: Vec::new(), descs, algo: a, workspace: ws };
                let (h, xp, wp, op) = (b.dnn, x.ptr, w.ptr, out.ptr);
                // Capture the buffer itself, not just its fields (Rust 2021 closures capture disjoint
                // fields, which would free the workspace at the end of this arm).
                Box::new(move || {
                    let ws = &wsb;
                    conv::forward(h, &st, xp, wp, op, ws.ptr, ws.bytes)
                })
            }
            LayerKind::MatrixMultiply { .. } => {
                let h: usize = tactic.strip_prefix("cublaslt:h=").and_then(|a| a.parse().ok()).ok_or_else(|| kiln_err!(Internal, "not a cuBLASLt tactic: {tactic}"))?;
                let p = gemm::problem(kind, &inputs[0].unwrap().shape, &inputs[1].unwrap().shape, &y).ok_or_else(|| kiln_err!(Unsupported, "gemm shape"))?;
                let mut st = gemm::describe(b.lt, &p, dtype, self.tf32, false, None)?;
                if h >= st.algos.len() {
                    kiln_bail!(Unsupported, "cuBLASLt offers {} algorithms here, not {}", st.algos.len(), h + 1);
                }
                st.chosen = h;
                let wsb = DeviceBuffer::alloc(&self.gpu, gemm::WORKSPACE, "a tactic-timing workspace")?;
                let (l, ap, bp, op, s) = (b.lt, x.ptr, w.ptr, out.ptr, b.stream.raw);
                Box::new(move || {
                    let ws = &wsb;
                    gemm::run(l, &st, ap, bp, None, op, ws.ptr, s)
                })
            }
            _ => kiln_bail!(Unsupported, "the CUDA backend times convolutions and matrix multiplies only"),
        };
        for _ in 0..warmup.max(1) {
            run()?;
        }
        b.stream.sync().map_err(|e| e.context(format!("timing tactic {tactic}")))?;
        let (e0, e1) = (Event::new(&self.gpu)?, Event::new(&self.gpu)?);
        let mut times = Vec::with_capacity(samples.max(1));
        for _ in 0..samples.max(1) {
            e0.record(&b.stream)?;
            run()?;
            e1.record(&b.stream)?;
            times.push(e0.elapsed_ms(&e1)?);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        Ok(TimingSample { median_ms: times[times.len() / 2], min_ms: times[0], samples: times.len() as u32 })
    }

    fn finalize(&self, body: &PlanBody) -> Result<Vec<u8>> {
        program::build_program(body, &self.gpu.arch, self.tf32)?.encode()
    }
}
