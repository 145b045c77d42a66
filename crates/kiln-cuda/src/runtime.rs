//! The CUDA runtime: engines (a plan's weights on the GPU and its loaded cubin, shared by
//! contexts) and contexts (one stream, cuDNN/cuBLASLt handles, the activation arena from the
//! plan's memory plan, input buffers). A run uploads the inputs, launches every layer on the
//! context's stream (or replays the captured CUDA graph), and downloads the outputs.
//!
//! Layers without a GPU kernel run on the host (kiln-cpu) over downloaded inputs; their outputs are
//! uploaded when a GPU layer reads them. A run that needed no host work can be captured as a graph.

use crate::conv::{self, ConvState};
use crate::gemm::{self, GemmState};
use crate::gpu::{self, DeviceBuffer, Event, Gpu, Module, Stream};
use crate::kernels::{self as k, CopyArgs, GatherArgs, PoolArgs, PwArgs, ReduceArgs, RowNormArgs, SoftmaxArgs, LrnArgs, MAX_RANK};
use crate::program::{Exec, Program};
use cudarc::cublaslt::sys as lt;
use cudarc::cudnn::sys as dnn;
use cudarc::driver::sys as cu;
use kiln_core::dtype::DType;
use kiln_core::error::Result;
use kiln_core::infer::{infer, InferInput, TensorInfo};
use kiln_core::layer::{LayerKind, NormalizationKind, PaddingMode, PoolingKind, ReduceOp, SoftmaxKind};
use kiln_core::network::Network;
use kiln_core::plan::{check_inputs, plan_info, read_plan, PlanBody, PlanInfo};
use kiln_core::tensor::{Tensor, TensorData};
use kiln_core::{kiln_bail, kiln_err};
use std::collections::HashMap;
use std::sync::Arc;

const BLOCK: u32 = 256;

/// KILN_CUDA_VECTORIZE=0: generated kernels always take their scalar form (for isolating a problem).
fn vectorize() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("KILN_CUDA_VECTORIZE").map_or(true, |v| v != "0"))
}

fn debug_sync() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("KILN_CUDA_SYNC").is_ok_and(|v| v == "1"))
}

pub struct CudaEngine {
    pub gpu: Arc<Gpu>,
    pub(crate) body: PlanBody,
    info: PlanInfo,
    program: Program,
    pub(crate) module: Module,
    /// Device copies of the constants, by tensor id.
    weights: Vec<Option<u64>>,
    /// Per tensor: a filter uploaded channel-last (KRSC).
    krsc: Vec<bool>,
    /// Per layer: the INT8 filter and epilogue scales of an INT8 convolution.
    int8: Vec<Option<Int8Weights>>,
    _weight_buffer: Option<DeviceBuffer>,
    _int8_buffer: Option<DeviceBuffer>,
}

/// Device pointers of one INT8 convolution's constants.
#[derive(Debug, Clone, Copy)]
struct Int8Weights {
    /// int8 filter, KRSC.
    filter: u64,
    /// float32 per output channel: x_scale · s_w[k].
    alpha: u64,
}

/// Quantizes the filters of the program's INT8 convolutions (from the plan's fake-quantized
/// weights, `int8::filter`) and uploads them with their scales, in one buffer.
fn upload_int8_filters(gpu: &Arc<Gpu>, body: &PlanBody, program: &Program) -> Result<(Vec<Option<Int8Weights>>, Option<DeviceBuffer>)> {
    let net = &body.network;
    let mut staged: Vec<(usize, Vec<u8>, Vec<u8>)> = Vec::new();
    for (i, (layer, exec)) in net.layers.iter().zip(&program.layers).enumerate() {
        let Exec::ConvInt8 { x_scale, .. } = exec else { continue };
        let w = layer.inputs.get(1).copied().flatten().and_then(|w| net.tensors[w].value.as_ref().map(|v| (v, net.tensors[w].dtype)));
        let f = w.and_then(|(v, d)| crate::int8::filter(v, d).map(|f| (f, v.shape.clone())));
        let Some((f, shape)) = f else {
            kiln_bail!(CorruptPlan, "layer '{}' is planned as an INT8 convolution but its weights are not INT8 values; rebuild the plan", layer.name);
        };
        let filter: Vec<u8> = crate::conv::to_krsc(&f.values, &shape).into_iter().map(|v| v as u8).collect();
        let alpha: Vec<u8> = f.scales.iter().flat_map(|s| (s * x_scale).to_le_bytes()).collect();
        staged.push((i, filter, alpha));
    }
    let mut out = vec![None; net.layers.len()];
    if staged.is_empty() {
        return Ok((out, None));
    }
    let slot = |n: usize| (n as u64).div_ceil(256).max(1) * 256;
    let total: u64 = staged.iter().map(|(_, f, a)| slot(f.len()) + slot(a.len())).sum();
    let buf = DeviceBuffer::alloc(gpu, total as usize, "the plan's INT8 filters")?;
    let stream = Stream::new(gpu)?;
    let mut off = 0u64;
    for (i, filter, alpha) in &staged {
        stream.htod(buf.ptr + off, filter)?;
        let a = buf.ptr + off + slot(filter.len());
        stream.htod(a, alpha)?;
        out[*i] = Some(Int8Weights { filter: buf.ptr + off, alpha: a });
        off += slot(filter.len()) + slot(alpha.len());
    }
    stream.sync()?;
    Ok((out, Some(buf)))
}

impl CudaEngine {
    /// Loads a CUDA plan on GPU `ordinal`: checks that it was built for this GPU and Kiln, loads the
    /// compiled kernels (no compilation) and uploads the weights.
    pub fn load(bytes: &[u8], ordinal: u32) -> Result<Arc<CudaEngine>> {
        let gpu = Gpu::open(ordinal)?;
        let (header, body) = read_plan(bytes, "cuda", &gpu.identity())?;
        let program = Program::decode(&body.backend_data)?;
        if program.arch != gpu.arch {
            kiln_bail!(PlanMismatch, "the plan's kernels were compiled for {}, this GPU is {}; rebuild the plan here", program.arch, gpu.arch);
        }
        if program.layers.len() != body.network.layers.len() {
            kiln_bail!(CorruptPlan, "the plan's CUDA program has {} layers, its network {}", program.layers.len(), body.network.layers.len());
        }
        let mut module = Module::load(&gpu, &program.cubins)?;
        module.resolve(&program.kernels)?;
        let mut info = plan_info(&header, &body);
        for (l, e) in info.layers.iter_mut().zip(&program.layers) {
            match e {
                Exec::ConvInt8 { algo, .. } => l.tactic = Some(format!("cudnn:int8:algo={algo}")),
                Exec::Skip | Exec::Host => l.tactic = Some(crate::program::describe(e).to_string()),
                _ if l.tactic.is_none() => l.tactic = Some(crate::program::describe(e).to_string()),
                _ => {}
            }
        }
        // Convolution filters of channel-last convolutions go up as KRSC (cuDNN's NHWC filter format).
        let net = &body.network;
        let mut krsc = vec![false; net.tensors.len()];
        for (layer, exec) in net.layers.iter().zip(&program.layers) {
            if let (Exec::Conv { .. }, Some(&y), Some(Some(w))) = (exec, layer.outputs.first(), layer.inputs.get(1)) {
                if program.nhwc.get(y).copied().unwrap_or(false) {
                    krsc[*w] = true;
                }
            }
        }
        // Constants that only INT8 convolutions read (their float filters) stay on the host: those
        // layers read the INT8 filters below.
        let mut read_as_float = vec![false; net.tensors.len()];
        for (layer, exec) in net.layers.iter().zip(&program.layers) {
            for (slot, id) in layer.inputs.iter().enumerate() {
                if let Some(id) = id {
                    read_as_float[*id] |= !(matches!(exec, Exec::ConvInt8 { .. }) && slot == 1);
                }
            }
        }
        // All constants in one buffer (256-byte aligned slots).
        let mut offsets = vec![None; net.tensors.len()];
        let mut total = 0u64;
        for (i, t) in net.tensors.iter().enumerate() {
            if let (Some(v), true) = (&t.value, read_as_float[i]) {
                offsets[i] = Some(total);
                total += (v.byte_len() as u64).div_ceil(256).max(1) * 256;
            }
        }
        let mut weights = vec![None; net.tensors.len()];
        let buffer = if total > 0 {
            let buf = DeviceBuffer::alloc(&gpu, total as usize, "the plan's weights")?;
            let stream = Stream::new(&gpu)?;
            let mut staged = Vec::new();
            for (i, t) in net.tensors.iter().enumerate() {
                if let (Some(v), Some(off)) = (&t.value, offsets[i]) {
                    let bytes = if krsc[i] { to_channel_last(v).data.to_le_bytes() } else { v.data.to_le_bytes() };
                    stream.htod(buf.ptr + off, &bytes)?;
                    staged.push(bytes);
                    weights[i] = Some(buf.ptr + off);
                }
            }
            stream.sync()?;
            drop(staged);
            Some(buf)
        } else {
            None
        };
        let (int8, int8_buffer) = upload_int8_filters(&gpu, &body, &program)?;
        Ok(Arc::new(CudaEngine { gpu, body, info, program, module, weights, krsc, int8, _weight_buffer: buffer, _int8_buffer: int8_buffer }))
    }

    pub fn info(&self) -> &PlanInfo {
        &self.info
    }

    pub fn network(&self) -> &Network {
        &self.body.network
    }

    pub fn create_context(self: &Arc<Self>) -> Result<CudaContext> {
        CudaContext::new(self.clone())
    }
}

/// One tensor's value during a run: on the device, on the host, or both.
#[derive(Default)]
pub(crate) struct Val {
    pub(crate) shape: Vec<usize>,
    pub(crate) dtype: Option<DType>,
    pub(crate) dev: Option<u64>,
    pub(crate) host: Option<Tensor>,
}

struct Handles {
    dnn: dnn::cudnnHandle_t,
    lt: lt::cublasLtHandle_t,
}

impl Drop for Handles {
    fn drop(&mut self) {
        // SAFETY: created in CudaContext::new, destroyed once.
        unsafe {
            dnn::cudnnDestroy(self.dnn);
            lt::cublasLtDestroy(self.lt);
        }
    }
}

struct Graph {
    shapes: Vec<Vec<usize>>,
    exec: cu::CUgraphExec,
}

/// Options of `benchmark`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BenchOptions {
    pub iterations: usize,
    pub warmup: usize,
    pub use_cuda_graph: bool,
    pub no_data_transfers: bool,
    pub profile: bool,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerTime {
    pub name: String,
    #[serde(rename = "type")]
    pub layer_type: String,
    pub tactic: String,
    pub ms: f64,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BenchResult {
    pub backend: String,
    pub iterations: usize,
    pub h2d_ms: Vec<f64>,
    pub compute_ms: Vec<f64>,
    pub d2h_ms: Vec<f64>,
    pub total_ms: Vec<f64>,
    pub cuda_graph: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuda_graph_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<LayerTime>>,
}

pub struct CudaContext {
    pub(crate) engine: Arc<CudaEngine>,
    pub(crate) stream: Stream,
    handles: Handles,
    arena: DeviceBuffer,
    workspace: Option<DeviceBuffer>,
    /// INT8 convolutions' float32 accumulator.
    accumulator: Option<DeviceBuffer>,
    /// Per network input: its device buffer.
    inputs: Vec<Option<DeviceBuffer>>,
    /// Device word set by gather kernels on an out-of-range index.
    err_flag: DeviceBuffer,
    conv: HashMap<usize, ConvState>,
    gemm: HashMap<usize, GemmState>,
    graph: Option<Graph>,
    pub(crate) vals: Vec<Val>,
    temps: Vec<DeviceBuffer>,
    /// Set when a run did host work, downloads or temporary allocations (not capturable).
    host_work: Option<String>,
    capturing: bool,
    profile: Option<Vec<(Event, Event)>>,
    /// INT8 calibration statistics and their scratch buffer (`crate::calibrate`).
    pub(crate) calibration: crate::calibrate::Calibration,
    /// Set while `calibrate` runs the layers: `execute_layers` scans each layer's outputs.
    pub(crate) calibrating: Option<crate::calibrate::Scanner>,
}

// SAFETY: raw handles are owned by the context and used by one thread at a time (the binding wraps
// contexts in a Mutex).
unsafe impl Send for CudaContext {}

impl Drop for CudaContext {
    fn drop(&mut self) {
        if let Some(g) = self.graph.take() {
            if self.engine.gpu.bind().is_ok() {
                // SAFETY: instantiated by cuGraphInstantiateWithFlags.
                unsafe { cu::cuGraphExecDestroy(g.exec) };
            }
        }
    }
}

fn packed(shape: &[usize]) -> Vec<i64> {
    let mut s = vec![1i64; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1] as i64;
    }
    s
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Strides of a tensor's logical (NCHW) dims in its storage: packed, or channel-last for NHWC.
fn storage_strides(shape: &[usize], nhwc: bool) -> Vec<i64> {
    if !(nhwc && shape.len() >= 3) {
        return packed(shape);
    }
    let mut s = vec![1i64; shape.len()];
    let mut acc = shape[1] as i64;
    for i in (2..shape.len()).rev() {
        s[i] = acc;
        acc *= shape[i] as i64;
    }
    s[0] = acc;
    s
}

/// Storage order of the logical dims: [0, 2, 3, …, 1] for channel-last.
fn storage_order(rank: usize, nhwc: bool) -> Vec<usize> {
    if nhwc && rank >= 3 {
        let mut o = vec![0];
        o.extend(2..rank);
        o.push(1);
        o
    } else {
        (0..rank).collect()
    }
}

/// A logical NCHW host tensor reordered into channel-last storage order (same shape field).
fn to_channel_last(t: &Tensor) -> Tensor {
    let order = storage_order(t.shape.len(), true);
    permute_host(t, &order)
}

/// The inverse: channel-last storage back to NCHW order.
fn from_channel_last(t: &Tensor) -> Tensor {
    let r = t.shape.len();
    let order = storage_order(r, true);
    // Storage dims are shape permuted by `order`; reading storage element at physical index gives logical.
    let phys: Vec<usize> = order.iter().map(|&d| t.shape[d]).collect();
    let mut inv = vec![0; r];
    for (p, &d) in order.iter().enumerate() {
        inv[d] = p;
    }
    let mut out = permute_host(&Tensor { shape: phys, data: t.data.clone() }, &inv);
    out.shape = t.shape.clone();
    out
}

/// out[index in order `order`] = t[logical index]: element (i0..ir) of the output walks dims
/// order[0], order[1], … of `t`.
fn permute_host(t: &Tensor, order: &[usize]) -> Tensor {
    let st = packed(&t.shape);
    let dims: Vec<usize> = order.iter().map(|&d| t.shape[d]).collect();
    let n = numel(&dims);
    let size = t.dtype().size();
    let src = t.data.to_le_bytes();
    let mut dst = vec![0u8; src.len()];
    for i in 0..n {
        let (mut rem, mut off) = (i, 0i64);
        for k in (0..dims.len()).rev() {
            off += (rem % dims[k]) as i64 * st[order[k]];
            rem /= dims[k];
        }
        let o = off as usize * size;
        dst[i * size..(i + 1) * size].copy_from_slice(&src[o..o + size]);
    }
    Tensor { shape: t.shape.clone(), data: TensorData::from_le_bytes(t.dtype(), &dst).expect("same dtype and length") }
}

fn norm_axis(axis: i64, rank: usize) -> Result<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a as usize >= rank.max(1) {
        kiln_bail!(InvalidNetwork, "axis {axis} is out of range for rank {rank}");
    }
    Ok(a as usize)
}

/// Outcome of trying a layer on the GPU.
enum Ran {
    Yes,
    /// Shapes or attributes outside the GPU kernels: run on the host instead.
    Host(&'static str),
}

impl CudaContext {
    fn new(engine: Arc<CudaEngine>) -> Result<CudaContext> {
        let gpu = engine.gpu.clone();
        gpu.bind()?;
        let stream = Stream::new(&gpu)?;
        let mut handles = Handles { dnn: std::ptr::null_mut(), lt: std::ptr::null_mut() };
        // SAFETY: out-pointers to locals; the stream outlives the handles (field order drops
        // handles after... both are dropped with the context, handles first).
        unsafe {
            crate::error::check_dnn(dnn::cudnnCreate(&mut handles.dnn), "create handle")?;
            crate::error::check_dnn(dnn::cudnnSetStream(handles.dnn, stream.raw as _), "set stream")?;
            crate::error::check_lt(lt::cublasLtCreate(&mut handles.lt), "create handle")?;
        }
        let arena = DeviceBuffer::alloc(&gpu, engine.body.memory.arena_bytes as usize, "the activation arena")?;
        let err_flag = DeviceBuffer::alloc(&gpu, 8, "the error flag")?;
        stream.memset(err_flag.ptr, 8)?;
        let n_inputs = engine.body.network.inputs.len();
        let n_tensors = engine.body.network.tensors.len();
        Ok(CudaContext {
            engine,
            stream,
            handles,
            arena,
            workspace: None,
            accumulator: None,
            inputs: (0..n_inputs).map(|_| None).collect(),
            err_flag,
            conv: HashMap::new(),
            gemm: HashMap::new(),
            graph: None,
            vals: (0..n_tensors).map(|_| Val::default()).collect(),
            temps: Vec::new(),
            host_work: None,
            capturing: false,
            profile: None,
            calibration: Default::default(),
            calibrating: None,
        })
    }

    pub fn engine(&self) -> &Arc<CudaEngine> {
        &self.engine
    }

    /// Runs the engine; outputs in the plan's output order.
    pub fn run(&mut self, inputs: &[(String, Tensor)], use_graph: bool) -> Result<Vec<(String, Tensor)>> {
        self.engine.gpu.bind()?;
        check_inputs(&self.engine.body, inputs)?;
        self.upload_inputs(inputs)?;
        self.compute(use_graph)?;
        self.download_outputs()
    }

    pub(crate) fn upload_inputs(&mut self, inputs: &[(String, Tensor)]) -> Result<()> {
        let engine = self.engine.clone();
        let net = &engine.body.network;
        for (k, &id) in net.inputs.iter().enumerate() {
            let (_, t) = inputs.iter().find(|(n, _)| *n == net.tensors[id].name).ok_or_else(|| kiln_err!(InvalidInput, "input '{}' is missing", net.tensors[id].name))?;
            let bytes = t.data.to_le_bytes();
            if self.inputs[k].as_ref().is_none_or(|b| b.bytes < bytes.len()) {
                if self.capturing || self.graph.is_some() {
                    self.drop_graph();
                }
                self.inputs[k] = Some(DeviceBuffer::alloc(&engine.gpu, bytes.len(), &format!("input '{}'", net.tensors[id].name))?);
            }
            let ptr = self.inputs[k].as_ref().unwrap().ptr;
            self.stream.htod(ptr, &bytes)?;
            // The copy is asynchronous from pageable memory: the driver stages it before returning.
            self.vals[id] = Val { shape: t.shape.clone(), dtype: Some(t.dtype()), dev: Some(ptr), host: None };
        }
        Ok(())
    }

    fn drop_graph(&mut self) {
        if let Some(g) = self.graph.take() {
            // SAFETY: instantiated by cuGraphInstantiateWithFlags.
            unsafe { cu::cuGraphExecDestroy(g.exec) };
        }
    }

    fn input_shapes(&self) -> Vec<Vec<usize>> {
        self.engine.body.network.inputs.iter().map(|&id| self.vals[id].shape.clone()).collect()
    }

    /// Runs every layer (or replays the graph captured for these input shapes).
    fn compute(&mut self, use_graph: bool) -> Result<()> {
        let shapes = self.input_shapes();
        if use_graph {
            if let Some(g) = &self.graph {
                if g.shapes == shapes {
                    // SAFETY: a live graph exec on our stream; the graph reads the input buffers and
                    // arena, which are the same allocations it was captured with.
                    crate::error::check_cu(unsafe { cu::cuGraphLaunch(g.exec, self.stream.raw) }, "cuGraphLaunch")?;
                    return self.finish_run();
                }
                self.drop_graph();
            }
        }
        self.execute_layers()?;
        self.finish_run()?;
        if use_graph && self.host_work.is_none() && self.graph.is_none() {
            self.capture(shapes)?;
        }
        Ok(())
    }

    /// Captures the layer launches as a CUDA graph (after a run that needed no host work).
    fn capture(&mut self, shapes: Vec<Vec<usize>>) -> Result<()> {
        let s = self.stream.raw;
        // SAFETY: capture on our own stream; every launch in execute_layers is stream-ordered.
        unsafe {
            crate::error::check_cu(cu::cuStreamBeginCapture_v2(s, cu::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture")?;
        }
        self.capturing = true;
        let r = self.execute_layers();
        self.capturing = false;
        let mut graph: cu::CUgraph = std::ptr::null_mut();
        // SAFETY: ends the capture begun above, whatever happened in between.
        let end = unsafe { cu::cuStreamEndCapture(s, &mut graph) };
        r?;
        crate::error::check_cu(end, "cuStreamEndCapture")?;
        if self.host_work.is_some() {
            // SAFETY: the graph from the capture above.
            unsafe { cu::cuGraphDestroy(graph) };
            return Ok(());
        }
        let mut exec: cu::CUgraphExec = std::ptr::null_mut();
        // SAFETY: instantiates the captured graph, then frees the template.
        unsafe {
            let r = cu::cuGraphInstantiateWithFlags(&mut exec, graph, 0);
            cu::cuGraphDestroy(graph);
            crate::error::check_cu(r, "cuGraphInstantiate")?;
        }
        self.graph = Some(Graph { shapes, exec });
        Ok(())
    }

    /// After the layers: waits for the stream and checks the gather error flag.
    pub(crate) fn finish_run(&mut self) -> Result<()> {
        let mut flag = [0u8; 8];
        self.stream.dtoh(&mut flag, self.err_flag.ptr)?;
        self.stream.sync()?;
        let bad = u64::from_le_bytes(flag);
        if bad != 0 {
            self.stream.memset(self.err_flag.ptr, 8)?;
            kiln_bail!(InvalidValue, "a Gather index is out of range (index position {}); indices must lie in [-n, n) of the gathered axis", bad - 1);
        }
        Ok(())
    }

    fn download_outputs(&mut self) -> Result<Vec<(String, Tensor)>> {
        let engine = self.engine.clone();
        let net = &engine.body.network;
        let mut out = Vec::with_capacity(net.outputs.len());
        for &o in &net.outputs {
            let t = self.host_value(o)?;
            out.push((net.tensors[o].name.clone(), t));
        }
        Ok(out)
    }

    /// The value of tensor `id` on the host (downloads it; waits for the stream).
    fn host_value(&mut self, id: usize) -> Result<Tensor> {
        if let Some(v) = &self.engine.body.network.tensors[id].value {
            return Ok(v.clone());
        }
        if let Some(h) = &self.vals[id].host {
            return Ok(h.clone());
        }
        let v = &self.vals[id];
        let (Some(dev), Some(dtype)) = (v.dev, v.dtype) else {
            kiln_bail!(Internal, "tensor '{}' was not computed", self.engine.body.network.tensors[id].name);
        };
        let shape = v.shape.clone();
        let mut bytes = vec![0u8; numel(&shape) * dtype.size()];
        self.stream.dtoh(&mut bytes, dev)?;
        self.stream.sync()?;
        let mut t = Tensor { shape, data: TensorData::from_le_bytes(dtype, &bytes)? };
        if self.nhwc(id) {
            t = from_channel_last(&t);
        }
        self.vals[id].host = Some(t.clone());
        Ok(t)
    }

    fn note_host_work(&mut self, why: String) {
        if self.host_work.is_none() {
            self.host_work = Some(why);
        }
    }

    /// Device pointer of tensor `id` (uploads host-resident values).
    fn dev(&mut self, id: usize) -> Result<u64> {
        if let Some(p) = self.engine.weights[id] {
            return Ok(p);
        }
        if let Some(p) = self.vals[id].dev {
            return Ok(p);
        }
        let Some(h) = self.vals[id].host.clone() else {
            kiln_bail!(Internal, "tensor '{}' has no value", self.engine.body.network.tensors[id].name);
        };
        let bytes = if self.nhwc(id) { to_channel_last(&h).data.to_le_bytes() } else { h.data.to_le_bytes() };
        let ptr = self.output_ptr(id, bytes.len())?;
        self.stream.htod(ptr, &bytes)?;
        self.stream.sync()?;
        self.vals[id].dev = Some(ptr);
        Ok(ptr)
    }

    /// Where tensor `id` of `bytes` lives: its arena placement, or a temporary allocation.
    fn output_ptr(&mut self, id: usize, bytes: usize) -> Result<u64> {
        match self.engine.body.memory.placements.get(id).copied().flatten() {
            Some(p) if bytes as u64 <= p.size => Ok(self.arena.ptr + p.offset),
            Some(p) => kiln_bail!(InvalidInput, "tensor '{}' needs {bytes} bytes but the plan sized it for {} (inputs outside the optimization profile?)", self.engine.body.network.tensors[id].name, p.size),
            None => {
                if self.capturing {
                    self.note_host_work("a tensor of data-dependent size needs an allocation".into());
                }
                self.note_host_work("a tensor of data-dependent size".into());
                let b = DeviceBuffer::alloc(&self.engine.gpu, bytes, &format!("tensor '{}'", self.engine.body.network.tensors[id].name))?;
                let p = b.ptr;
                self.temps.push(b);
                Ok(p)
            }
        }
    }

    /// Tensor `id` is stored channel-last on the GPU.
    fn nhwc(&self, id: usize) -> bool {
        self.engine.program.nhwc.get(id).copied().unwrap_or(false)
    }

    fn shape_of(&self, id: usize) -> Vec<usize> {
        match &self.engine.body.network.tensors[id].value {
            Some(v) => v.shape.clone(),
            None => self.vals[id].shape.clone(),
        }
    }

    fn dtype_of(&self, id: usize) -> DType {
        self.engine.body.network.tensors[id].dtype
    }

    fn host_ref(&self, id: usize) -> Option<&Tensor> {
        self.engine.body.network.tensors[id].value.as_ref().or(self.vals[id].host.as_ref())
    }

    /// Output shapes of layer `i`, from shapes and whatever values are on the host; downloads small
    /// integer inputs when a shape depends on them.
    fn output_shapes(&mut self, i: usize) -> Result<Vec<(DType, Vec<usize>)>> {
        let engine = self.engine.clone();
        let layer = &engine.body.network.layers[i];
        for attempt in 0..2 {
            let infos: Vec<Option<InferInput>> = layer
                .inputs
                .iter()
                .map(|id| id.map(|id| InferInput { info: TensorInfo::new(self.dtype_of(id), self.shape_of(id).iter().map(|&d| d as i64).collect()), value: self.host_ref(id) }))
                .collect();
            let outs = infer(&layer.kind, &infos)?;
            if outs.iter().all(|o| o.is_static()) {
                return Ok(outs.into_iter().map(|o| (o.dtype, o.dims.iter().map(|&d| d as usize).collect())).collect());
            }
            if attempt == 0 {
                // The shape depends on values (a Reshape's shape, Resize scales, Range bounds, NonZero's data…):
                // bring the inputs that are only on the GPU to the host, as TensorRT does with shape tensors.
                for id in layer.inputs.iter().flatten() {
                    if self.host_ref(*id).is_none() {
                        self.note_host_work(format!("layer '{}' reads a shape from the GPU", layer.name));
                        self.host_value(*id)?;
                    }
                }
            }
        }
        kiln_bail!(Internal, "layer '{}' has no concrete output shape at run time", layer.name)
    }

    pub(crate) fn execute_layers(&mut self) -> Result<()> {
        let engine = self.engine.clone();
        let net = &engine.body.network;
        // Every non-input value is recomputed.
        for (id, v) in self.vals.iter_mut().enumerate() {
            if !net.inputs.contains(&id) {
                *v = Val::default();
            } else {
                v.host = None;
            }
        }
        if !self.capturing {
            self.host_work = None;
            // Temporaries of the previous run (data-dependent sizes) lived until its outputs were read.
            self.temps.clear();
        }
        let profiling = self.profile.is_some() && !self.capturing;
        for (i, layer) in net.layers.iter().enumerate() {
            let what = || format!("layer '{}' ({})", layer.name, layer.kind.type_name());
            let shapes = self.output_shapes(i).map_err(|e| e.context(what()))?;
            if profiling {
                self.profile.as_ref().unwrap()[i].0.record(&self.stream)?;
            }
            let ran = match &engine.program.layers[i] {
                Exec::Host => Ran::Host("no GPU kernel"),
                exec => self.run_gpu(i, exec, &shapes).map_err(|e| e.context(what()))?,
            };
            if let Ran::Host(why) = ran {
                self.note_host_work(format!("{} runs on the host ({why})", what()));
                self.run_host(i, &shapes).map_err(|e| e.context(what()))?;
            }
            if profiling {
                self.profile.as_ref().unwrap()[i].1.record(&self.stream)?;
            }
            if self.calibrating.is_some() && !self.capturing {
                // Calibration mode: scan the outputs now, before a later layer reuses their arena space.
                self.observe_layer(i).map_err(|e| e.context(format!("calibrating {}", what())))?;
            }
            if debug_sync() && !self.capturing {
                // KILN_CUDA_SYNC=1: wait after every layer so a faulting kernel is named.
                self.stream.sync().map_err(|e| e.context(what()))?;
            }
        }
        Ok(())
    }

    fn run_host(&mut self, i: usize, shapes: &[(DType, Vec<usize>)]) -> Result<()> {
        let engine = self.engine.clone();
        let layer = &engine.body.network.layers[i];
        let mut owned: Vec<Option<Tensor>> = Vec::with_capacity(layer.inputs.len());
        for id in &layer.inputs {
            owned.push(match id {
                Some(id) => Some(self.host_value(*id)?),
                None => None,
            });
        }
        let ins: Vec<Option<&Tensor>> = owned.iter().map(|t| t.as_ref()).collect();
        let mut outs: Vec<Tensor> = shapes.iter().map(|(d, s)| Tensor::zeros(*d, s)).collect::<Result<_>>()?;
        kiln_cpu::kernels::execute_with_tactic(&layer.kind, None, &ins, &mut outs)?;
        for (&o, t) in layer.outputs.iter().zip(outs) {
            self.vals[o] = Val { shape: t.shape.clone(), dtype: Some(t.dtype()), dev: None, host: Some(t) };
        }
        Ok(())
    }

    /// Allocates the outputs of layer `i` (in the arena) and records their shapes.
    fn alloc_outputs(&mut self, i: usize, shapes: &[(DType, Vec<usize>)]) -> Result<Vec<u64>> {
        let engine = self.engine.clone();
        let layer = &engine.body.network.layers[i];
        let mut ptrs = Vec::with_capacity(shapes.len());
        for (&o, (d, s)) in layer.outputs.iter().zip(shapes) {
            let p = self.output_ptr(o, numel(s) * d.size())?;
            self.vals[o] = Val { shape: s.clone(), dtype: Some(*d), dev: Some(p), host: None };
            ptrs.push(p);
        }
        Ok(ptrs)
    }

    fn f(&self, name: &str) -> Result<cu::CUfunction> {
        self.engine.module.function(name)
    }

    fn run_gpu(&mut self, i: usize, exec: &Exec, shapes: &[(DType, Vec<usize>)]) -> Result<Ran> {
        let engine = self.engine.clone();
        let layer = &engine.body.network.layers[i];
        match exec {
            Exec::Kernel(name) => {
                let y = shapes[0].1.clone();
                if y.len() > MAX_RANK || layer.inputs.iter().flatten().any(|&id| self.shape_of(id).len() > y.len()) {
                    return Ok(Ran::Host("rank above 8"));
                }
                let mut ins = Vec::new();
                for id in layer.inputs.iter() {
                    let Some(id) = id else { return Ok(Ran::Host("absent input")) };
                    ins.push((self.dev(*id)?, self.shape_of(*id), self.nhwc(*id)));
                }
                let out = self.alloc_outputs(i, shapes)?[0];
                let out_nhwc = self.nhwc(layer.outputs[0]);
                self.pointwise(name, &ins, out, &y, out_nhwc)?;
                Ok(Ran::Yes)
            }
            Exec::Native => self.native(i, shapes),
            Exec::Conv { algo, epilogue } => self.convolution(i, *algo, epilogue.as_deref(), shapes),
            Exec::Gemm { heuristic, fused, epilogue } => self.matmul(i, *heuristic, *fused, epilogue.as_deref(), shapes),
            Exec::FakeQuant { kernel, x } => {
                let y = shapes[0].1.clone();
                let ins = [(self.dev(*x)?, self.shape_of(*x), self.nhwc(*x))];
                let out = self.alloc_outputs(i, shapes)?[0];
                let out_nhwc = self.nhwc(layer.outputs[0]);
                self.pointwise(kernel, &ins, out, &y, out_nhwc)?;
                Ok(Ran::Yes)
            }
            Exec::ConvInt8 { q, algo, lo, hi, .. } => self.convolution_int8(i, *q, *algo, (*lo, *hi), shapes),
            Exec::Skip => {
                // Its readers read its int8 input; only the shape is kept (for their shape inference).
                for (&o, (d, s)) in layer.outputs.iter().zip(shapes) {
                    self.vals[o] = Val { shape: s.clone(), dtype: Some(*d), dev: None, host: None };
                }
                Ok(Ran::Yes)
            }
            Exec::Host => Ok(Ran::Host("no GPU kernel")),
        }
    }

    /// Launches a generated pointwise kernel: the output is walked in its storage order; each input
    /// is read through its own strides (broadcast dims 0, channel-last inputs permuted).
    fn pointwise(&mut self, name: &str, ins: &[(u64, Vec<usize>, bool)], out: u64, y: &[usize], out_nhwc: bool) -> Result<()> {
        let order = storage_order(y.len(), out_nhwc);
        let mut a = PwArgs { out, n: numel(y) as i64, rank: y.len() as i32, ..Default::default() };
        for (d, &l) in order.iter().enumerate() {
            a.dims[d] = y[l] as i64;
        }
        for (k, (ptr, s, nhwc)) in ins.iter().enumerate() {
            a.inputs[k] = *ptr;
            if s.as_slice() == y && *nhwc == out_nhwc {
                a.contig |= 1 << k;
            }
            let st = storage_strides(s, *nhwc);
            let off = y.len() - s.len();
            // Logical strides of the input over y's dims, then in y's storage order.
            let logical: Vec<i64> = (0..y.len()).map(|d| if d < off || s[d - off] == 1 { 0 } else { st[d - off] }).collect();
            for (d, &l) in order.iter().enumerate() {
                a.st[k][d] = logical[l];
            }
        }
        if a.n == 0 {
            return Ok(());
        }
        // Every input laid out like the output, 8-element blocks, 16-byte aligned: the vector variant
        // (plans that have one; KILN_CUDA_VECTORIZE=0 turns it off).
        let vec = crate::codegen::VECTOR as i64;
        let aligned = ins.iter().all(|(p, _, _)| p % 16 == 0) && out % 16 == 0;
        if a.contig == (1 << ins.len()) - 1 && a.n % vec == 0 && a.n / vec < (1 << 31) && aligned && vectorize() {
            if let Ok(f) = self.f(&format!("{name}_v")) {
                return gpu::launch(f, &self.stream, (a.n / vec) as u64, BLOCK, &mut a);
            }
        }
        // 32-bit indexing when the output and every input fit.
        let small = a.n < (1 << 31) && ins.iter().all(|(_, s, _)| (numel(s) as u64) < (1 << 31));
        let f = if small { self.f(&format!("{name}_i32"))? } else { self.f(name)? };
        gpu::launch(f, &self.stream, a.n as u64, BLOCK, &mut a)
    }

    fn copy(&mut self, elem: usize, mut a: CopyArgs) -> Result<()> {
        if a.n == 0 {
            return Ok(());
        }
        let name = format!("strided_copy_{}", k::bytes_suffix(elem).ok_or_else(|| kiln_err!(Internal, "no copy kernel for {elem}-byte elements"))?);
        let f = self.f(&name)?;
        gpu::launch(f, &self.stream, a.n as u64, BLOCK, &mut a)
    }

    /// A strided copy of `dims` elements: source offsets/strides/moduli, destination packed.
    fn copy_view(&mut self, elem: usize, src: u64, dst: u64, dims: &[usize], src_st: &[i64], src_mod: Option<&[usize]>, src_off: i64, dst_st: &[i64], dst_off: i64) -> Result<Ran> {
        if dims.len() > MAX_RANK {
            return Ok(Ran::Host("rank above 8"));
        }
        let mut a = CopyArgs { src, dst, n: numel(dims) as i64, rank: dims.len() as i32, src_off, dst_off, ..Default::default() };
        for d in 0..dims.len() {
            a.dims[d] = dims[d] as i64;
            a.src_st[d] = src_st[d];
            a.src_mod[d] = src_mod.map(|m| m[d] as i64).unwrap_or(i64::MAX);
            a.dst_st[d] = dst_st[d];
        }
        self.copy(elem, a)?;
        Ok(Ran::Yes)
    }

    fn native(&mut self, i: usize, shapes: &[(DType, Vec<usize>)]) -> Result<Ran> {
        let engine = self.engine.clone();
        let layer = &engine.body.network.layers[i];
        let x_id = layer.inputs.first().copied().flatten().ok_or_else(|| kiln_err!(InvalidNetwork, "layer has no input"))?;
        let xs = self.shape_of(x_id);
        let dt = self.dtype_of(x_id);
        let elem = dt.size();
        let y = shapes[0].1.clone();
        let half = dt == DType::Float16;
        match &layer.kind {
            LayerKind::Reshape { .. } | LayerKind::Flatten { .. } | LayerKind::Squeeze { .. } | LayerKind::Unsqueeze { .. } | LayerKind::Identity => {
                let x = self.dev(x_id)?;
                let out = self.alloc_outputs(i, shapes)?[0];
                self.stream.dtod(out, x, numel(&y) * elem)?;
                Ok(Ran::Yes)
            }
            LayerKind::Transpose { perm } => {
                let x = self.dev(x_id)?;
                let out = self.alloc_outputs(i, shapes)?[0];
                let xst = packed(&xs);
                let src_st: Vec<i64> = perm.iter().map(|&p| xst.get(p).copied().unwrap_or(0)).collect();
                self.copy_view(elem, x, out, &y, &src_st, None, 0, &packed(&y), 0)
            }
            LayerKind::Expand => {
                let x = self.dev(x_id)?;
                let out = self.alloc_outputs(i, shapes)?[0];
                let xst = packed(&xs);
                let off = y.len() - xs.len();
                let src_st: Vec<i64> = (0..y.len()).map(|d| if d < off || xs[d - off] == 1 { 0 } else { xst[d - off] }).collect();
                self.copy_view(elem, x, out, &y, &src_st, None, 0, &packed(&y), 0)
            }
            LayerKind::Tile => {
                if xs.len() != y.len() {
                    return Ok(Ran::Host("tile rank"));
                }
                let x = self.dev(x_id)?;
                let out = self.alloc_outputs(i, shapes)?[0];
                self.copy_view(elem, x, out, &y, &packed(&xs), Some(&xs), 0, &packed(&y), 0)
            }
            LayerKind::Concatenation { axis } => {
                let a = norm_axis(*axis, y.len())?;
                let out = self.alloc_outputs(i, shapes)?[0];
                let ys = packed(&y);
                let mut at = 0usize;
                for id in layer.inputs.iter().flatten() {
                    let s = self.shape_of(*id);
                    let p = self.dev(*id)?;
                    if let Ran::Host(w) = self.copy_view(elem, p, out, &s, &packed(&s), None, 0, &ys, at as i64 * ys[a])? {
                        return Ok(Ran::Host(w));
                    }
                    at += s[a];
                }
                Ok(Ran::Yes)
            }
            LayerKind::Split { axis, .. } => {
                let a = norm_axis(*axis, xs.len())?;
                let x = self.dev(x_id)?;
                let outs = self.alloc_outputs(i, shapes)?;
                let xst = packed(&xs);
                let mut at = 0usize;
                for (o, (_, s)) in outs.iter().zip(shapes) {
                    if let Ran::Host(w) = self.copy_view(elem, x, *o, s, &xst, None, at as i64 * xst[a], &packed(s), 0)? {
                        return Ok(Ran::Host(w));
                    }
                    at += s[a];
                }
                Ok(Ran::Yes)
            }
            LayerKind::Slice => {
                let Some((starts, steps)) = self.slice_params(layer, &xs)? else { return Ok(Ran::Host("slice parameters not on the host")) };
                let x = self.dev(x_id)?;
                let out = self.alloc_outputs(i, shapes)?[0];
                let xst = packed(&xs);
                let off: i64 = (0..xs.len()).map(|d| starts[d] * xst[d]).sum();
                let src_st: Vec<i64> = (0..xs.len()).map(|d| xst[d] * steps[d]).collect();
                self.copy_view(elem, x, out, &y, &src_st, None, off, &packed(&y), 0)
            }
            LayerKind::Gather { axis } => {
                let a = norm_axis(*axis, xs.len())?;
                let idx_id = layer.inputs.get(1).copied().flatten().ok_or_else(|| kiln_err!(InvalidNetwork, "gather needs indices"))?;
                let idt = self.dtype_of(idx_id);
                if !matches!(idt, DType::Int64 | DType::Int32) {
                    return Ok(Ran::Host("index dtype"));
                }
                let n_idx = numel(&self.shape_of(idx_id));
                let x = self.dev(x_id)?;
                let idx = self.dev(idx_id)?;
                let out = self.alloc_outputs(i, shapes)?[0];
                let mut g = GatherArgs {
                    src: x,
                    dst: out,
                    idx,
                    idx64: (idt == DType::Int64) as i32,
                    pad: 0,
                    outer: numel(&xs[..a]) as i64,
                    axis_dim: xs[a] as i64,
                    inner: numel(&xs[a + 1..]) as i64,
                    n_idx: n_idx as i64,
                    err: self.err_flag.ptr,
                };
                let n = (g.outer * g.inner * g.n_idx) as u64;
                if n > 0 {
                    let f = self.f(&format!("gather_{}", k::bytes_suffix(elem).unwrap_or("b4")))?;
                    gpu::launch(f, &self.stream, n, BLOCK, &mut g)?;
                }
                Ok(Ran::Yes)
            }
            LayerKind::Pooling { pooling, global, kernel_shape, strides, pads, dilations, padding_mode, .. } => {
                let r = xs.len().saturating_sub(2);
                if r == 0 || r > 3 {
                    return Ok(Ran::Host("pooling rank"));
                }
                let mut a = PoolArgs { nc: (xs[0] * xs[1]) as i64, rank: r as i32, c: xs[1] as i64, in_nhwc: self.nhwc(x_id) as i32, out_nhwc: self.nhwc(layer.outputs[0]) as i32, ..Default::default() };
                a.kind = match pooling {
                    PoolingKind::Max => 0,
                    PoolingKind::Average { count_include_pad } => {
                        a.count_include_pad = *count_include_pad as i32;
                        1
                    }
                    PoolingKind::Lp { p } => {
                        a.p = *p;
                        2
                    }
                };
                for d in 0..r {
                    a.input[d] = xs[d + 2] as i64;
                    a.out[d] = y[d + 2] as i64;
                    if *global {
                        a.k[d] = xs[d + 2] as i64;
                        a.s[d] = 1;
                        a.d[d] = 1;
                        continue;
                    }
                    a.k[d] = kernel_shape.get(d).copied().unwrap_or(1) as i64;
                    a.s[d] = strides.get(d).copied().unwrap_or(1) as i64;
                    a.d[d] = dilations.get(d).copied().unwrap_or(1) as i64;
                    let (b, e) = match padding_mode {
                        PaddingMode::Explicit => (pads.get(d).copied().unwrap_or(0) as i64, pads.get(d + r).copied().unwrap_or(0) as i64),
                        PaddingMode::Valid => (0, 0),
                        PaddingMode::SameUpper | PaddingMode::SameLower => {
                            let total = ((a.out[d] - 1) * a.s[d] + (a.k[d] - 1) * a.d[d] + 1 - a.input[d]).max(0);
                            if *padding_mode == PaddingMode::SameUpper { (total / 2, total - total / 2) } else { (total - total / 2, total / 2) }
                        }
                    };
                    a.pb[d] = b;
                    a.pe[d] = e;
                }
                a.src = self.dev(x_id)?;
                a.dst = self.alloc_outputs(i, shapes)?[0];
                let n = (a.nc as u64) * numel(&y[2..]) as u64;
                // 32-bit indexing when the input and output both fit (the common case; much cheaper division).
                let small = n < (1 << 31) && (numel(&xs) as u64) < (1 << 31);
                let f = self.f(match (half, small) {
                    (true, true) if r == 2 => "pool2d_f16",
                    (false, true) if r == 2 => "pool2d_f32",
                    (true, true) => "pool_f16_i32",
                    (true, false) => "pool_f16",
                    (false, true) => "pool_f32_i32",
                    (false, false) => "pool_f32",
                })?;
                if n > 0 {
                    gpu::launch(f, &self.stream, n, BLOCK, &mut a)?;
                }
                Ok(Ran::Yes)
            }
            LayerKind::Softmax { kind, axis } => {
                let ax = norm_axis(*axis, xs.len())?;
                let mut a = SoftmaxArgs {
                    src: self.dev(x_id)?,
                    dst: self.alloc_outputs(i, shapes)?[0],
                    outer: numel(&xs[..ax]) as i64,
                    axis: xs[ax] as i64,
                    inner: numel(&xs[ax + 1..]) as i64,
                    kind: match kind {
                        SoftmaxKind::Softmax => 0,
                        SoftmaxKind::LogSoftmax => 1,
                        SoftmaxKind::Hardmax => 2,
                    },
                    pad: 0,
                };
                let rows = (a.outer * a.inner) as u64;
                if rows > 0 && a.axis > 0 {
                    let f = self.f(if half { "softmax_f16" } else { "softmax_f32" })?;
                    gpu::launch_grid(f, &self.stream, rows.min(65_535 * 16) as u32, BLOCK, &mut a)?;
                }
                Ok(Ran::Yes)
            }
            LayerKind::Reduce { op, axes, noop_with_empty_axes, .. } => {
                let r = xs.len();
                let mut red = vec![false; r];
                match axes {
                    None if *noop_with_empty_axes => {}
                    None => red.iter_mut().for_each(|v| *v = true),
                    Some(list) if list.is_empty() && *noop_with_empty_axes => {}
                    Some(list) if list.is_empty() => red.iter_mut().for_each(|v| *v = true),
                    Some(list) => {
                        for &ax in list {
                            red[norm_axis(ax, r)?] = true;
                        }
                    }
                }
                let kept: Vec<usize> = (0..r).filter(|&d| !red[d]).collect();
                let reduced: Vec<usize> = (0..r).filter(|&d| red[d]).collect();
                if kept.len() > MAX_RANK || reduced.len() > MAX_RANK {
                    return Ok(Ran::Host("rank above 8"));
                }
                let red_n = reduced.iter().map(|&d| xs[d]).product::<usize>();
                if red_n == 0 {
                    return Ok(Ran::Host("empty reduction"));
                }
                let xst = packed(&xs);
                let mut a = ReduceArgs { src: self.dev(x_id)?, dst: self.alloc_outputs(i, shapes)?[0], n_out: numel(&y) as i64, out_rank: kept.len() as i32, red_rank: reduced.len() as i32, red_n: red_n as i64, ..Default::default() };
                for (j, &d) in kept.iter().enumerate() {
                    a.out_dims[j] = xs[d] as i64;
                    a.out_st[j] = xst[d];
                }
                for (j, &d) in reduced.iter().enumerate() {
                    a.red_dims[j] = xs[d] as i64;
                    a.red_st[j] = xst[d];
                }
                a.op = match op {
                    ReduceOp::Sum => 0,
                    ReduceOp::Prod => 1,
                    ReduceOp::Max => 2,
                    ReduceOp::Min => 3,
                    ReduceOp::Mean => 4,
                    ReduceOp::L1 => 5,
                    ReduceOp::L2 => 6,
                    ReduceOp::LogSum => 7,
                    ReduceOp::LogSumExp => 8,
                    ReduceOp::SumSquare => 9,
                };
                if a.n_out > 0 {
                    let f = self.f(if half { "reduce_f16" } else { "reduce_f32" })?;
                    gpu::launch_grid(f, &self.stream, (a.n_out as u64).min(65_535 * 16) as u32, BLOCK, &mut a)?;
                }
                Ok(Ran::Yes)
            }
            LayerKind::Normalization { normalization } => self.normalization(i, normalization, &xs, half, shapes),
            _ => Ok(Ran::Host("no GPU kernel")),
        }
    }

    fn normalization(&mut self, i: usize, kind: &NormalizationKind, xs: &[usize], half: bool, shapes: &[(DType, Vec<usize>)]) -> Result<Ran> {
        let engine = self.engine.clone();
        let layer = &engine.body.network.layers[i];
        let x_id = layer.inputs[0].unwrap_or(0);
        if let NormalizationKind::Lrn { size, alpha, beta, bias } = kind {
            if xs.len() < 2 {
                return Ok(Ran::Host("lrn rank"));
            }
            let mut a = LrnArgs { src: self.dev(x_id)?, dst: self.alloc_outputs(i, shapes)?[0], n: xs[0] as i64, c: xs[1] as i64, spatial: numel(&xs[2..]) as i64, size: *size as i32, alpha: *alpha, beta: *beta, bias: *bias };
            let n = (a.n * a.c * a.spatial) as u64;
            if n > 0 {
                let f = self.f(if half { "lrn_f16" } else { "lrn_f32" })?;
                gpu::launch(f, &self.stream, n, BLOCK, &mut a)?;
            }
            return Ok(Ran::Yes);
        }
        let param = |k: usize| layer.inputs.get(k).copied().flatten();
        let (scale, bias) = (param(1), param(2));
        let param_dtype = scale.map(|s| self.dtype_of(s));
        if param_dtype.is_some_and(|d| !matches!(d, DType::Float32 | DType::Float16)) || bias.is_some_and(|b| Some(self.dtype_of(b)) != param_dtype) {
            return Ok(Ran::Host("parameter dtype"));
        }
        let mut a = RowNormArgs { param_half: (param_dtype == Some(DType::Float16)) as i32, ..Default::default() };
        match kind {
            NormalizationKind::Instance { epsilon } | NormalizationKind::Group { epsilon, .. } => {
                if xs.len() < 3 {
                    return Ok(Ran::Host("rank"));
                }
                let groups = match kind {
                    NormalizationKind::Group { num_groups, .. } => *num_groups,
                    _ => xs[1],
                };
                if groups == 0 || xs[1] % groups != 0 {
                    return Ok(Ran::Host("groups"));
                }
                let spatial = numel(&xs[2..]);
                a.mode = 0;
                a.rows = (xs[0] * groups) as i64;
                a.row_len = ((xs[1] / groups) * spatial) as i64;
                a.rows_per_batch = groups as i64;
                a.chans_per_row = (xs[1] / groups) as i64;
                a.spatial = spatial.max(1) as i64;
                a.param_len = xs[1] as i64;
                a.eps = *epsilon;
            }
            NormalizationKind::Layer { axis, epsilon } => {
                let ax = norm_axis(*axis, xs.len())?;
                let inner = numel(&xs[ax..]);
                // Affine parameters must cover the whole normalised row (broadcast rows of other
                // shapes go to the host).
                let p_ok = |id: Option<usize>| id.is_none_or(|id| numel(&self.shape_of(id)) == inner);
                if !p_ok(scale) || !p_ok(bias) {
                    return Ok(Ran::Host("layer-norm parameter shape"));
                }
                a.mode = 1;
                a.rows = numel(&xs[..ax]) as i64;
                a.row_len = inner as i64;
                a.rows_per_batch = 1;
                a.spatial = 1;
                a.param_len = inner.max(1) as i64;
                a.eps = *epsilon;
            }
            _ => return Ok(Ran::Host("no GPU kernel")),
        }
        if matches!(kind, NormalizationKind::Instance { .. } | NormalizationKind::Group { .. }) {
            let p_ok = |id: Option<usize>| id.is_none_or(|id| numel(&self.shape_of(id)) == xs[1]);
            if !p_ok(scale) || !p_ok(bias) {
                return Ok(Ran::Host("parameter shape"));
            }
        }
        a.src = self.dev(x_id)?;
        a.scale = match scale {
            Some(s) => self.dev(s)?,
            None => 0,
        };
        a.bias = match bias {
            Some(b) => self.dev(b)?,
            None => 0,
        };
        a.dst = self.alloc_outputs(i, shapes)?[0];
        if a.rows > 0 && a.row_len > 0 {
            let f = self.f(if half { "row_norm_f16" } else { "row_norm_f32" })?;
            gpu::launch_grid(f, &self.stream, (a.rows as u64).min(65_535 * 16) as u32, BLOCK, &mut a)?;
        }
        Ok(Ran::Yes)
    }

    /// Per-axis start and step of a Slice (ONNX clamping rules), from host values of its inputs.
    fn slice_params(&self, layer: &kiln_core::network::Layer, xs: &[usize]) -> Result<Option<(Vec<i64>, Vec<i64>)>> {
        let get = |k: usize| -> Option<Option<Vec<i64>>> {
            match layer.inputs.get(k).copied().flatten() {
                None => Some(None),
                Some(id) => self.host_ref(id).map(|t| Some(t.data.to_i64_vec())),
            }
        };
        let (Some(Some(starts)), Some(Some(ends)), Some(axes), Some(steps)) = (get(1), get(2), get(3), get(4)) else { return Ok(None) };
        let r = xs.len();
        let axes: Vec<usize> = match axes {
            Some(a) => a.iter().map(|&a| norm_axis(a, r)).collect::<Result<_>>()?,
            None => (0..starts.len()).collect(),
        };
        let mut st = vec![0i64; r];
        let mut sp = vec![1i64; r];
        for (j, &ax) in axes.iter().enumerate() {
            let dim = xs[ax] as i64;
            let step = steps.as_ref().and_then(|s| s.get(j).copied()).unwrap_or(1);
            if step == 0 {
                kiln_bail!(InvalidValue, "Slice step is 0 on axis {ax}");
            }
            let mut s = starts.get(j).copied().unwrap_or(0);
            let _ = ends.get(j);
            if s < 0 {
                s += dim;
            }
            s = if step > 0 { s.clamp(0, dim) } else { s.clamp(0, (dim - 1).max(0)) };
            st[ax] = s;
            sp[ax] = step;
        }
        Ok(Some((st, sp)))
    }

    fn ensure_workspace(&mut self, bytes: usize) -> Result<u64> {
        if self.workspace.as_ref().is_none_or(|w| w.bytes < bytes) {
            if self.capturing {
                kiln_bail!(Internal, "the workspace would grow during CUDA graph capture");
            }
            self.stream.sync()?;
            self.workspace = Some(DeviceBuffer::alloc(&self.engine.gpu, bytes.max(gemm::WORKSPACE), "the cuDNN/cuBLASLt workspace")?);
        }
        Ok(self.workspace.as_ref().unwrap().ptr)
    }

    fn convolution(&mut self, i: usize, algo: i32, epilogue: Option<&str>, shapes: &[(DType, Vec<usize>)]) -> Result<Ran> {
        let engine = self.engine.clone();
        let layer = &engine.body.network.layers[i];
        let (Some(x_id), Some(w_id)) = (layer.inputs[0], layer.inputs.get(1).copied().flatten()) else { return Ok(Ran::Host("inputs")) };
        let (xs, ws, y) = (self.shape_of(x_id), self.shape_of(w_id), shapes[0].1.clone());
        let dtype = shapes[0].0;
        let Some(geo) = conv::geometry(&layer.kind, &xs, &ws, &y) else { return Ok(Ran::Host("asymmetric padding or rank")) };
        let key: Vec<usize> = xs.clone();
        let layouts = conv::Layouts { x_nhwc: self.nhwc(x_id), y_nhwc: self.nhwc(layer.outputs[0]), w_nhwc: engine.krsc[w_id] };
        if layouts.x_nhwc && layouts.y_nhwc && conv::is_pointwise(&geo, &ws) {
            return self.pointwise_convolution(i, epilogue, shapes, &xs, &ws);
        }
        if self.conv.get(&i).is_none_or(|s| s.key != key) {
            let descs = conv::describe(&geo, dtype, &xs, &ws, &y, engine.program.tf32, layouts)?;
            let c = conv::candidates(self.handles.dnn, &descs)?;
            // The builder's choice, unless cuDNN does not offer it at these layouts (it was timed
            // channel-last; a convolution next to the network's inputs/outputs may run NCHW).
            let timed = conv::algo_from(algo).filter(|a| c.iter().any(|(x, _)| *x == *a as i32));
            let chosen = match timed {
                Some(a) => a,
                None => {
                    let Some(&(a, _)) = c.first() else { return Ok(Ran::Host("no cuDNN algorithm")) };
                    conv::algo_from(a).unwrap()
                }
            };
            // The heuristic's memory figure and the workspace query are both upper bounds cuDNN gives; take the larger.
            let listed = c.iter().find(|(x, _)| *x == chosen as i32).map(|(_, m)| *m).unwrap_or(0);
            let workspace = conv::workspace_size(self.handles.dnn, &descs, chosen)?.max(listed);
            self.conv.insert(i, ConvState { key, descs, algo: chosen, workspace });
        }
        let need = self.conv[&i].workspace;
        let ws_ptr = self.ensure_workspace(need)?;
        let x = self.dev(x_id)?;
        let w = self.dev(w_id)?;
        let bias = match layer.inputs.get(2).copied().flatten() {
            Some(b) => Some((self.dev(b)?, self.shape_of(b))),
            None => None,
        };
        let out = self.alloc_outputs(i, shapes)?[0];
        let ws_bytes = self.workspace.as_ref().map(|w| w.bytes).unwrap_or(0);
        conv::forward(self.handles.dnn, &self.conv[&i], x, w, out, ws_ptr, ws_bytes)?;
        if let Some(name) = epilogue {
            let mut ins = vec![(out, y.clone(), layouts.y_nhwc)];
            if let Some((b, bs)) = bias {
                // Bias [M] broadcasts over channels: view it as [M, 1, …].
                let mut shape = vec![numel(&bs)];
                shape.extend(std::iter::repeat_n(1, y.len() - 2));
                ins.push((b, shape, false));
            }
            self.pointwise(name, &ins, out, &y, layouts.y_nhwc)?;
        }
        Ok(Ran::Yes)
    }

    /// An INT8 convolution (`int8.rs`): cuDNN convolves the int8 input `q` with the INT8 filter into
    /// int32 sums (delivered as float32 in the accumulator buffer); the epilogue scales each output
    /// channel by x_scale · s_w[k], adds the bias and clamps (the fused activation).
    fn convolution_int8(&mut self, i: usize, q: usize, algo: i32, (lo, hi): (f32, f32), shapes: &[(DType, Vec<usize>)]) -> Result<Ran> {
        let engine = self.engine.clone();
        let layer = &engine.body.network.layers[i];
        let (Some(w_id), Some(iw)) = (layer.inputs.get(1).copied().flatten(), engine.int8[i]) else {
            kiln_bail!(Internal, "INT8 convolution without its INT8 filter");
        };
        let (xs, ws, y) = (self.shape_of(q), self.shape_of(w_id), shapes[0].1.clone());
        let dtype = shapes[0].0;
        let geo = conv::geometry(&layer.kind, &xs, &ws, &y).ok_or_else(|| kiln_err!(Internal, "INT8 convolution geometry at input {xs:?}"))?;
        if self.conv.get(&i).is_none_or(|s| s.key != xs) {
            let descs = conv::describe_int8(&geo, &xs, &ws, &y)?;
            let a = conv::algo_from(algo).unwrap_or(dnn::cudnnConvolutionFwdAlgo_t::CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM);
            let workspace = conv::workspace_size(self.handles.dnn, &descs, a)?;
            self.conv.insert(i, ConvState { key: xs.clone(), descs, algo: a, workspace });
        }
        let ws_ptr = self.ensure_workspace(self.conv[&i].workspace)?;
        let ws_bytes = self.workspace.as_ref().map(|w| w.bytes).unwrap_or(0);
        let acc = self.ensure_accumulator(numel(&y) * 4)?;
        let x = self.dev(q)?;
        let bias = match layer.inputs.get(2).copied().flatten() {
            Some(b) => self.dev(b)?,
            None => 0,
        };
        let out = self.alloc_outputs(i, shapes)?[0];
        conv::forward(self.handles.dnn, &self.conv[&i], x, iw.filter, acc, ws_ptr, ws_bytes)?;
        let n4 = numel(&y) / 4;
        let mut a = crate::kernels::ConvEpilogueArgs { acc, alpha: iw.alpha, bias, y: out, n4: n4 as i64, k4: (ws[0] / 4) as i64, lo, hi };
        let f = self.f(if dtype == DType::Float16 { "conv_epilogue_f32_f16" } else { "conv_epilogue_f32_f32" })?;
        gpu::launch(f, &self.stream, n4 as u64, BLOCK, &mut a)?;
        Ok(Ran::Yes)
    }

    /// The float32 buffer INT8 convolutions accumulate into (grown outside graph capture only).
    fn ensure_accumulator(&mut self, bytes: usize) -> Result<u64> {
        if self.accumulator.as_ref().is_none_or(|w| w.bytes < bytes) {
            if self.capturing {
                kiln_bail!(Internal, "the INT8 accumulator would grow during CUDA graph capture");
            }
            self.stream.sync()?;
            self.accumulator = Some(DeviceBuffer::alloc(&self.engine.gpu, bytes, "the INT8 convolution accumulator")?);
        }
        Ok(self.accumulator.as_ref().unwrap().ptr)
    }

    /// A 1×1, stride-1, unpadded convolution over channel-last tensors is a GEMM: Y[NHW, K] =
    /// X[NHW, C] · Wᵀ (W is [K, C]). cuBLASLt runs it with Hopper's GEMM kernels and fuses bias and
    /// ReLU in its epilogue; other activations use the layer's epilogue kernel.
    fn pointwise_convolution(&mut self, i: usize, epilogue: Option<&str>, shapes: &[(DType, Vec<usize>)], xs: &[usize], ws: &[usize]) -> Result<Ran> {
        let engine = self.engine.clone();
        let layer = &engine.body.network.layers[i];
        let LayerKind::Convolution { activation, .. } = &layer.kind else { return Ok(Ran::Host("kind")) };
        let (y, dtype) = (shapes[0].1.clone(), shapes[0].0);
        let (m, c, k) = ((xs[0] * xs[2] * xs[3]) as u64, xs[1] as u64, ws[0] as u64);
        let bias_id = layer.inputs.get(2).copied().flatten();
        let bias_ok = bias_id.is_none_or(|b| self.dtype_of(b) == dtype && numel(&self.shape_of(b)) == k as usize);
        let act_fused = matches!(activation, None | Some(kiln_core::layer::ActivationKind::Relu));
        let fused = bias_ok && act_fused;
        let key: Vec<usize> = xs.to_vec();
        if self.gemm.get(&i).is_none_or(|st| st.key != key) {
            let p = gemm::Problem { m, n: k, k: c, batch: 1, a_stride: 0, b_stride: 0, trans_a: false, trans_b: true };
            let mut st = gemm::describe(self.handles.lt, &p, dtype, engine.program.tf32, fused && bias_id.is_some(), if fused { activation.as_ref() } else { None })?;
            st.key = key;
            self.gemm.insert(i, st);
        }
        let ws_ptr = self.ensure_workspace(gemm::WORKSPACE)?;
        let x = self.dev(layer.inputs[0].unwrap_or(0))?;
        let w = self.dev(layer.inputs[1].unwrap_or(0))?;
        let bias = match bias_id {
            Some(b) => Some((self.dev(b)?, self.shape_of(b))),
            None => None,
        };
        let out = self.alloc_outputs(i, shapes)?[0];
        gemm::run(self.handles.lt, &self.gemm[&i], x, w, if fused { bias.as_ref().map(|b| b.0) } else { None }, out, ws_ptr, self.stream.raw)?;
        if let (false, Some(name)) = (fused, epilogue) {
            let mut ins = vec![(out, y.clone(), true)];
            if let Some((b, bs)) = bias {
                let mut shape = vec![numel(&bs)];
                shape.extend(std::iter::repeat_n(1, y.len() - 2));
                ins.push((b, shape, false));
            }
            self.pointwise(name, &ins, out, &y, true)?;
        }
        Ok(Ran::Yes)
    }

    fn matmul(&mut self, i: usize, heuristic: u32, fused: bool, epilogue: Option<&str>, shapes: &[(DType, Vec<usize>)]) -> Result<Ran> {
        let engine = self.engine.clone();
        let layer = &engine.body.network.layers[i];
        let LayerKind::MatrixMultiply { has_bias, activation, .. } = &layer.kind else { return Ok(Ran::Host("kind")) };
        let (Some(a_id), Some(b_id)) = (layer.inputs[0], layer.inputs.get(1).copied().flatten()) else { return Ok(Ran::Host("inputs")) };
        let (as_, bs, y) = (self.shape_of(a_id), self.shape_of(b_id), shapes[0].1.clone());
        let dtype = shapes[0].0;
        let Some(p) = gemm::problem(&layer.kind, &as_, &bs, &y) else { return Ok(Ran::Host("batch broadcast")) };
        let bias_id = if *has_bias { layer.inputs.get(2).copied().flatten() } else { None };
        let key: Vec<usize> = as_.iter().chain(bs.iter()).copied().collect();
        if self.gemm.get(&i).is_none_or(|s| s.key != key) {
            let mut st = gemm::describe(self.handles.lt, &p, dtype, engine.program.tf32, fused && bias_id.is_some(), if fused { activation.as_ref() } else { None })?;
            st.key = key;
            st.chosen = (heuristic as usize).min(st.algos.len() - 1);
            self.gemm.insert(i, st);
        }
        let ws = self.ensure_workspace(gemm::WORKSPACE)?;
        let a = self.dev(a_id)?;
        let b = self.dev(b_id)?;
        let bias = match bias_id {
            Some(id) => Some((self.dev(id)?, self.shape_of(id))),
            None => None,
        };
        let out = self.alloc_outputs(i, shapes)?[0];
        if numel(&y) == 0 {
            return Ok(Ran::Yes);
        }
        if p.k == 0 {
            self.stream.memset(out, numel(&y) * dtype.size())?;
        } else {
            gemm::run(self.handles.lt, &self.gemm[&i], a, b, if fused { bias.as_ref().map(|b| b.0) } else { None }, out, ws, self.stream.raw)?;
        }
        if let Some(name) = epilogue {
            let mut ins = vec![(out, y.clone(), false)];
            if let Some((bp, bsh)) = bias {
                ins.push((bp, bsh, false));
            }
            self.pointwise(name, &ins, out, &y, false)?;
        }
        Ok(Ran::Yes)
    }

    /// Measures `iterations` runs: H2D, GPU compute and D2H separately (CUDA events), optionally
    /// with the CUDA graph and per-layer profiling.
    pub fn benchmark(&mut self, inputs: &[(String, Tensor)], opts: &BenchOptions) -> Result<BenchResult> {
        self.engine.gpu.bind()?;
        check_inputs(&self.engine.body, inputs)?;
        let gpu = self.engine.gpu.clone();
        let mut r = BenchResult { backend: "cuda".into(), iterations: opts.iterations, ..Default::default() };
        // Warm-up (and graph capture).
        self.upload_inputs(inputs)?;
        for _ in 0..opts.warmup.max(1) {
            self.compute(opts.use_cuda_graph)?;
        }
        r.cuda_graph = opts.use_cuda_graph && self.graph.is_some();
        if opts.use_cuda_graph && !r.cuda_graph {
            r.cuda_graph_reason = Some(self.host_work.clone().unwrap_or_else(|| "capture failed".into()));
        }
        let ev: Vec<Event> = (0..4).map(|_| Event::new(&gpu)).collect::<Result<_>>()?;
        let staged: Vec<Vec<u8>> = inputs.iter().map(|(_, t)| t.data.to_le_bytes()).collect();
        for _ in 0..opts.iterations {
            ev[0].record(&self.stream)?;
            if !opts.no_data_transfers {
                let engine = self.engine.clone();
                for (k, &id) in engine.body.network.inputs.iter().enumerate() {
                    let j = inputs.iter().position(|(n, _)| *n == engine.body.network.tensors[id].name).unwrap_or(0);
                    let ptr = self.inputs[k].as_ref().map(|b| b.ptr).unwrap_or(0);
                    self.stream.htod(ptr, &staged[j])?;
                }
            }
            ev[1].record(&self.stream)?;
            self.compute(opts.use_cuda_graph)?;
            ev[2].record(&self.stream)?;
            if !opts.no_data_transfers {
                let engine = self.engine.clone();
                for &o in &engine.body.network.outputs {
                    if let (Some(p), Some(d)) = (self.vals[o].dev, self.vals[o].dtype) {
                        let mut bytes = vec![0u8; numel(&self.vals[o].shape) * d.size()];
                        self.stream.dtoh(&mut bytes, p)?;
                    }
                }
            }
            ev[3].record(&self.stream)?;
            self.stream.sync()?;
            r.h2d_ms.push(ev[0].elapsed_ms(&ev[1])?);
            r.compute_ms.push(ev[1].elapsed_ms(&ev[2])?);
            r.d2h_ms.push(ev[2].elapsed_ms(&ev[3])?);
            r.total_ms.push(ev[0].elapsed_ms(&ev[3])?);
        }
        if opts.profile {
            let engine = self.engine.clone();
            let n = engine.body.network.layers.len();
            self.profile = Some((0..n).map(|_| Ok((Event::new(&gpu)?, Event::new(&gpu)?))).collect::<Result<_>>()?);
            let runs = opts.iterations.clamp(1, 20);
            let mut sums = vec![0f64; n];
            for _ in 0..runs {
                self.execute_layers()?;
                self.finish_run()?;
                for (j, (a, b)) in self.profile.as_ref().unwrap().iter().enumerate() {
                    sums[j] += a.elapsed_ms(b)?;
                }
            }
            self.profile = None;
            r.layers = Some(
                engine
                    .info
                    .layers
                    .iter()
                    .zip(sums)
                    .map(|(l, s)| LayerTime { name: l.name.clone(), layer_type: l.layer_type.clone(), tactic: l.tactic.clone().unwrap_or_default(), ms: s / runs as f64 })
                    .collect(),
            );
        }
        Ok(r)
    }
}
