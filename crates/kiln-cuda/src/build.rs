//! The CUDA backend as the builder sees it: device identity, constant folding on the host,
//! candidate tactics (cuDNN algorithms, cuBLASLt heuristic results) timed on the GPU with CUDA
//! events, and, after tactic selection, the plan's kernels compiled by NVRTC.

use crate::conv;
use crate::gemm;
use crate::gpu::{DeviceBuffer, Event, Gpu, Module, Stream};
use crate::int8;
use crate::program;
use cudarc::cublaslt::sys as lt;
use cudarc::cudnn::sys as dnn;
use kiln_core::builder::{BuildBackend, BuilderConfig};
use kiln_core::dtype::DType;
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
        let net = &body.network;
        // INT8 candidates are timed at the first profile's opt shapes, as tactics are.
        let opt = body.profiles.first();
        let dims = kiln_core::builder::graph::dims_at(net, |id| opt.and_then(|p| p.shapes.get(&net.tensors[id].name)).map(|r| r.opt.iter().map(|&d| d as i64).collect()), self);
        let mut library: Option<Module> = None;
        // KILN_CUDA_INT8=always takes INT8 wherever cuDNN runs it (tests use it to check the INT8
        // kernels whatever the timing), =never keeps every convolution in float; by default the
        // faster one is kept.
        let int8_mode = std::env::var("KILN_CUDA_INT8").unwrap_or_default();
        if int8_mode == "never" {
            return program::build_program(body, &self.gpu.arch, self.tf32, &mut |_| Ok(None))?.encode();
        }
        let mut choose = |c: &int8::Candidate| -> Result<Option<i32>> {
            let layer = &net.layers[c.layer];
            let concrete = |id: usize| -> Option<Vec<usize>> { dims[id].iter().map(|&d| (d >= 0).then_some(d as usize)).collect() };
            let (Some(xs), Some(ws), Some(y)) = (concrete(c.q), layer.inputs[1].and_then(concrete), concrete(layer.outputs[0])) else { return Ok(None) };
            let Some(geo) = conv::geometry(&layer.kind, &xs, &ws, &y) else { return Ok(None) };
            if !conv::int8_shape_ok(&geo, &xs, &ws) {
                return Ok(None);
            }
            if library.is_none() {
                let mut m = Module::load(&self.gpu, &[crate::kernels::library_cubin(&self.gpu.arch)?])?;
                m.resolve(&EPILOGUES.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
                library = Some(m);
            }
            let float_algo = body.tactic(c.layer).and_then(|t| t.strip_prefix("cudnn:algo=")).and_then(|a| a.parse().ok());
            let shape = ConvShape { dtype: net.tensors[layer.outputs[0]].dtype, xs, ws, y, geo, bias: layer.inputs.get(2).copied().flatten().is_some(), lo: c.lo, hi: c.hi };
            let (int8, float_ms) = self.time_int8(library.as_ref().unwrap(), &shape, float_algo).map_err(|e| e.context(format!("timing INT8 for layer '{}'", layer.name)))?;
            Ok(match int8_mode.as_str() {
                "always" => int8.map(|(_, a)| a),
                _ => int8.filter(|(t, _)| *t < float_ms).map(|(_, a)| a),
            })
        };
        program::build_program(body, &self.gpu.arch, self.tf32, &mut choose)?.encode()
    }
}

const EPILOGUES: [&str; 3] = ["conv_epilogue_f32_f32", "conv_epilogue_f32_f16", "conv_epilogue_f16_f16"];

/// One convolution at concrete shapes, as the INT8 comparison times it.
struct ConvShape {
    dtype: DType,
    xs: Vec<usize>,
    ws: Vec<usize>,
    y: Vec<usize>,
    geo: conv::Geometry,
    bias: bool,
    lo: f32,
    hi: f32,
}

impl CudaBuildBackend {
    /// Times a convolution both ways, channel-last as the runtime runs it: in float (the runtime's
    /// path: cuBLASLt for 1×1 convolutions, else cuDNN with the tuned algorithm, plus the
    /// bias/activation pass) and in INT8 (each cuDNN INT8 algorithm, plus the scaling epilogue).
    /// Returns the fastest INT8 algorithm with its time (None: cuDNN runs none here) and the float time.
    fn time_int8(&self, library: &Module, c: &ConvShape, float_algo: Option<i32>) -> Result<(Option<(f64, i32)>, f64)> {
        let b = self.bench.lock().map_err(|_| kiln_err!(Internal, "tactic timer poisoned"))?;
        self.gpu.bind()?;
        let numel = |s: &[usize]| s.iter().product::<usize>();
        let esize = c.dtype.size();
        let zeroed = |bytes: usize, what: &str| -> Result<DeviceBuffer> {
            let buf = DeviceBuffer::alloc(&self.gpu, bytes.max(1), what)?;
            b.stream.memset(buf.ptr, bytes.max(1))?;
            Ok(buf)
        };
        let k = c.ws[0];
        let x = zeroed(numel(&c.xs) * esize, "an INT8-timing input")?;
        let w = zeroed(numel(&c.ws) * esize, "an INT8-timing filter")?;
        let y = zeroed(numel(&c.y) * esize, "an INT8-timing output")?;
        let bias = zeroed(k * esize, "an INT8-timing bias")?;
        let alpha = zeroed(k * 4, "an INT8-timing scale")?;
        let acc = zeroed(numel(&c.y) * 4, "an INT8-timing accumulator")?;
        let mut ws = zeroed(gemm::WORKSPACE, "an INT8-timing workspace")?;
        b.stream.sync()?;
        let n4 = (numel(&c.y) / 4) as u64;
        let epilogue = |f: cudarc::driver::sys::CUfunction, src: u64, alpha_ptr: u64| -> Result<()> {
            let mut a = crate::kernels::ConvEpilogueArgs { acc: src, alpha: alpha_ptr, bias: if c.bias { bias.ptr } else { 0 }, y: y.ptr, n4: n4 as i64, k4: (k / 4) as i64, lo: c.lo, hi: c.hi };
            crate::gpu::launch(f, &b.stream, n4, 256, &mut a)
        };
        let half = c.dtype == DType::Float16;
        let ep_float = library.function(if half { EPILOGUES[2] } else { EPILOGUES[0] })?;
        let ep_int8 = library.function(if half { EPILOGUES[1] } else { EPILOGUES[0] })?;
        let nhwc = conv::Layouts { x_nhwc: true, y_nhwc: true, w_nhwc: true };

        // Float, as the runtime would run it.
        let float_ms = if conv::is_pointwise(&c.geo, &c.ws) {
            let p = gemm::Problem { m: (c.xs[0] * c.xs[2] * c.xs[3]) as u64, n: k as u64, k: c.xs[1] as u64, batch: 1, a_stride: 0, b_stride: 0, trans_a: false, trans_b: true };
            let relu = (c.lo == 0.0 && c.hi == f32::INFINITY).then_some(kiln_core::layer::ActivationKind::Relu);
            let fused = c.lo == f32::NEG_INFINITY && c.hi == f32::INFINITY || relu.is_some();
            let st = gemm::describe(b.lt, &p, c.dtype, self.tf32, c.bias && fused, relu.as_ref())?;
            self.median_ms(&b.stream, &mut || {
                gemm::run(b.lt, &st, x.ptr, w.ptr, if c.bias && fused { Some(bias.ptr) } else { None }, y.ptr, ws.ptr, b.stream.raw)?;
                if fused { Ok(()) } else { epilogue(ep_float, y.ptr, 0) }
            })?
        } else {
            let descs = conv::describe(&c.geo, c.dtype, &c.xs, &c.ws, &c.y, self.tf32, nhwc)?;
            let listed = conv::candidates(b.dnn, &descs)?;
            let algo = float_algo.filter(|a| listed.iter().any(|(x, _)| x == a)).or(listed.first().map(|(a, _)| *a));
            match algo.and_then(conv::algo_from) {
                None => f64::INFINITY,
                Some(a) => {
                    let need = conv::workspace_size(b.dnn, &descs, a)?.max(listed.iter().find(|(x, _)| *x == a as i32).map(|(_, m)| *m).unwrap_or(0));
                    if need > ws.bytes {
                        ws = zeroed(need, "an INT8-timing workspace")?;
                    }
                    let st = conv::ConvState { key: Vec::new(), descs, algo: a, workspace: need };
                    let epilogue_needed = c.bias || c.lo > f32::NEG_INFINITY || c.hi < f32::INFINITY;
                    self.median_ms(&b.stream, &mut || {
                        conv::forward(b.dnn, &st, x.ptr, w.ptr, y.ptr, ws.ptr, ws.bytes)?;
                        if epilogue_needed { epilogue(ep_float, y.ptr, 0) } else { Ok(()) }
                    })?
                }
            }
        };

        // INT8: every algorithm cuDNN ranks for the INT8 descriptors.
        let descs = conv::describe_int8(&c.geo, &c.xs, &c.ws, &c.y)?;
        let mut algos: Vec<(i32, usize)> = conv::candidates(b.dnn, &descs).unwrap_or_default();
        // IMPLICIT_PRECOMP_GEMM is the algorithm cuDNN documents for INT8; try it even when unranked.
        if !algos.iter().any(|(a, _)| *a == 1) {
            algos.push((1, 0));
        }
        let mut best: Option<(f64, i32)> = None;
        let mut st = conv::ConvState { key: Vec::new(), descs, algo: dnn::cudnnConvolutionFwdAlgo_t::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, workspace: 0 };
        for (algo, listed) in algos {
            let Some(a) = conv::algo_from(algo) else { continue };
            let Ok(need) = conv::workspace_size(b.dnn, &st.descs, a) else { continue };
            let need = need.max(listed);
            if need > conv::WORKSPACE_LIMIT {
                continue;
            }
            if need > ws.bytes {
                ws = zeroed(need, "an INT8-timing workspace")?;
            }
            st.algo = a;
            st.workspace = need;
            // An algorithm cuDNN rejects at these shapes (NOT_SUPPORTED) is not a candidate; a
            // device fault ends the build.
            let timed = self.median_ms(&b.stream, &mut || {
                conv::forward(b.dnn, &st, x.ptr, w.ptr, acc.ptr, ws.ptr, ws.bytes)?;
                epilogue(ep_int8, acc.ptr, alpha.ptr)
            });
            match timed {
                Ok(ms) if best.is_none_or(|(t, _)| ms < t) => best = Some((ms, algo)),
                Ok(_) => {}
                Err(e) if e.code == kiln_core::error::ErrorCode::DeviceError => return Err(e),
                Err(_) => {}
            }
        }
        if std::env::var_os("KILN_CUDA_TRACE").is_some() {
            eprintln!("kiln-cuda: int8 {:?} x{:?} w{:?}: float {float_ms:.4} ms, int8 {:?}", c.dtype, c.xs, c.ws, best);
        }
        Ok((best, float_ms))
    }

    /// Median of 10 timed runs after 3 warm-up runs (CUDA events on the bench stream).
    fn median_ms(&self, stream: &Stream, run: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
        for _ in 0..3 {
            run()?;
        }
        stream.sync()?;
        let (e0, e1) = (Event::new(&self.gpu)?, Event::new(&self.gpu)?);
        let mut times = Vec::with_capacity(10);
        for _ in 0..10 {
            e0.record(stream)?;
            run()?;
            e1.record(stream)?;
            times.push(e0.elapsed_ms(&e1)?);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        Ok(times[times.len() / 2])
    }
}
