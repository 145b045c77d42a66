//! The CPU runtime: engines loaded from plans, execution contexts that run them.
//!
//! An engine owns the optimized program and its weights, shared (`Arc`) by every context. A
//! context owns a thread pool and the activation buffers. The plan's liveness-based memory plan is
//! realised as recycled slot buffers: tensors whose lifetimes do not overlap reuse one buffer, so
//! after the first run a context allocates nothing but the outputs it hands back.

use crate::calibrate;
use crate::device;
use crate::kernels;
use kiln_core::builder::BuildBackend;
use kiln_core::calibration::{CalibrationStats, NetworkStats};
use kiln_core::error::Result;
use kiln_core::infer::infer_concrete;
use kiln_core::layer::LayerKind;
use kiln_core::network::Network;
use kiln_core::plan::{check_inputs, plan_info, read_plan, PlanBody, PlanInfo};
use kiln_core::tactic::{TensorSig, TimingSample};
use kiln_core::tensor::{Tensor, TensorData};
use kiln_core::{kiln_bail, kiln_err, with_data};
use std::sync::Arc;

/// The CPU backend as the builder sees it.
pub struct CpuBackend;

impl BuildBackend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn device_identity(&self) -> String {
        device::identity()
    }

    fn evaluate(&self, kind: &LayerKind, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
        kernels::execute(kind, inputs, outputs)
    }

    fn device_capability(&self) -> String {
        device::capability()
    }

    fn tactic_library_version(&self) -> u32 {
        crate::tactics::TACTIC_LIBRARY_VERSION
    }

    fn tactics(&self, kind: &LayerKind, inputs: &[Option<TensorSig>]) -> Vec<String> {
        crate::tactics::eligible(kind, inputs)
    }

    fn time_tactic(&self, kind: &LayerKind, tactic: &str, inputs: &[Option<&Tensor>], warmup: usize, samples: usize) -> Result<TimingSample> {
        crate::tactics::time(kind, tactic, inputs, warmup, samples)
    }
}

/// A loaded plan: immutable, shared by its contexts.
pub struct CpuEngine {
    body: PlanBody,
    info: PlanInfo,
    /// Per tensor: index of the last layer that reads it (usize::MAX: never freed during a run).
    last_use: Vec<usize>,
    /// Per tensor: the buffer slot its data lives in (None: inputs, constants, outputs).
    slot_of: Vec<Option<usize>>,
    num_slots: usize,
}

impl CpuEngine {
    /// Loads plan bytes; fails with a coded error on corrupt or foreign plans.
    pub fn load(bytes: &[u8]) -> Result<Arc<CpuEngine>> {
        let (header, body) = read_plan(bytes, "cpu", &device::identity())?;
        let info = plan_info(&header, &body);
        let net = &body.network;
        let mut last_use = vec![usize::MAX; net.tensors.len()];
        let mut first_def = vec![usize::MAX; net.tensors.len()];
        for (i, layer) in net.layers.iter().enumerate() {
            for id in layer.inputs.iter().flatten() {
                last_use[*id] = if last_use[*id] == usize::MAX { i } else { last_use[*id].max(i) };
            }
            for &o in &layer.outputs {
                first_def[o] = i;
                if last_use[o] == usize::MAX {
                    last_use[o] = i; // unread outputs of multi-output layers die at once
                }
            }
        }
        for &o in &net.outputs {
            last_use[o] = usize::MAX;
        }
        let (slot_of, num_slots) = assign_slots(net, &first_def, &last_use);
        Ok(Arc::new(CpuEngine { body, info, last_use, slot_of, num_slots }))
    }

    pub fn info(&self) -> &PlanInfo {
        &self.info
    }

    pub fn network(&self) -> &Network {
        &self.body.network
    }

    /// `num_threads`: 0 = all cores.
    pub fn create_context(self: &Arc<Self>, num_threads: usize) -> Result<CpuContext> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(num_threads)
            .thread_name(|i| format!("kiln-cpu-{i}"))
            .build()
            .map_err(|e| kiln_err!(Internal, "cannot start {num_threads} CPU threads: {e}"))?;
        Ok(CpuContext { engine: self.clone(), pool, slots: vec![None; self.num_slots], calibration: NetworkStats::default(), layer_ms: None })
    }
}

/// Interval colouring of layer outputs by lifetime: a tensor takes a free slot whose previous
/// tenant died before it is born. Network outputs get no slot (they are handed to the caller).
fn assign_slots(net: &Network, first_def: &[usize], last_use: &[usize]) -> (Vec<Option<usize>>, usize) {
    let mut slot_of = vec![None; net.tensors.len()];
    let mut free_at: Vec<usize> = Vec::new(); // per slot: layer index after which it is free
    for (i, layer) in net.layers.iter().enumerate() {
        for &o in &layer.outputs {
            if net.outputs.contains(&o) || first_def[o] != i {
                continue;
            }
            let slot = match free_at.iter().position(|&f| f < i) {
                Some(s) => s,
                None => {
                    free_at.push(0);
                    free_at.len() - 1
                }
            };
            free_at[slot] = last_use[o];
            slot_of[o] = Some(slot);
        }
    }
    let n = free_at.len();
    (slot_of, n)
}

/// Per-context state (thread pool, activation buffers). One context runs one inference at a time;
/// several contexts of one engine may run concurrently.
pub struct CpuContext {
    engine: Arc<CpuEngine>,
    pool: rayon::ThreadPool,
    slots: Vec<Option<TensorData>>,
    calibration: NetworkStats,
    /// Per layer: milliseconds summed over the runs since profiling was switched on.
    layer_ms: Option<Vec<f64>>,
}

impl CpuContext {
    pub fn engine(&self) -> &Arc<CpuEngine> {
        &self.engine
    }

    /// Runs the engine on named inputs; returns the outputs in the plan's output order.
    pub fn run(&mut self, inputs: &[(String, Tensor)]) -> Result<Vec<(String, Tensor)>> {
        self.execute(inputs, false)
    }

    /// Runs like `run` and accumulates, for every float32/float16 network input and layer output,
    /// the running max |x| and the |x| histogram (`kiln_core::calibration`). Build the engine with
    /// `BuilderConfig.calibration` so that every tensor keeps its network name. A batch that fails part
    /// way (e.g. an out-of-range gather index) leaves the statistics of the layers before it counted.
    pub fn calibrate(&mut self, inputs: &[(String, Tensor)]) -> Result<()> {
        self.execute(inputs, true).map(|_| ())
    }

    /// The statistics gathered by `calibrate` since the context was created or last reset.
    pub fn calibration_stats(&self) -> &CalibrationStats {
        &self.calibration.stats
    }

    pub fn reset_calibration(&mut self) {
        self.calibration = NetworkStats::default();
    }

    /// Starts (zeroed) or stops per-layer timing of `run`.
    pub fn set_profiling(&mut self, on: bool) {
        self.layer_ms = on.then(|| vec![0.0; self.engine.body.network.layers.len()]);
    }

    /// Per layer: milliseconds summed over the runs since `set_profiling(true)`.
    pub fn layer_times(&self) -> Option<&[f64]> {
        self.layer_ms.as_deref()
    }

    fn execute(&mut self, inputs: &[(String, Tensor)], calibrate: bool) -> Result<Vec<(String, Tensor)>> {
        let engine = self.engine.clone();
        let net = &engine.body.network;
        let mut values: Vec<Option<Tensor>> = vec![None; net.tensors.len()];
        check_inputs(&engine.body, inputs)?;
        for (name, t) in inputs {
            let Some(id) = net.inputs.iter().copied().find(|&i| &net.tensors[i].name == name) else {
                kiln_bail!(InvalidInput, "'{name}' is not an input of this engine");
            };
            if calibrate && calibrate::is_calibrated(t.dtype()) {
                let stats = self.calibration.entry(net, id, "input");
                self.pool.install(|| calibrate::observe(stats, t));
            }
            values[id] = Some(t.clone());
        }
        for (i, layer) in net.layers.iter().enumerate() {
            let what = || format!("layer '{}' ({})", layer.name, layer.kind.type_name());
            let mut outs = {
                let ins: Vec<Option<&Tensor>> = layer
                    .inputs
                    .iter()
                    .map(|id| id.map(|id| values[id].as_ref().or(net.tensors[id].value.as_ref()).expect("validated plan: inputs defined")))
                    .collect();
                let shapes = infer_concrete(&layer.kind, &ins).map_err(|e| e.context(what()))?;
                let mut outs = Vec::with_capacity(shapes.len());
                for (&o, (dtype, shape)) in layer.outputs.iter().zip(shapes.into_iter()) {
                    let n = kiln_core::tensor::checked_numel(&shape).map_err(|e| e.context(what()))?;
                    let data = match engine.slot_of[o].and_then(|s| self.slots[s].take()) {
                        Some(mut d) if d.dtype() == dtype => {
                            with_data!(&mut d, v => { v.clear(); v.resize(n, Default::default()) });
                            d
                        }
                        _ => TensorData::zeros(dtype, n),
                    };
                    outs.push(Tensor { shape, data });
                }
                let tactic = engine.body.tactic(i);
                let started = std::time::Instant::now();
                self.pool.install(|| kernels::execute_with_tactic(&layer.kind, tactic, &ins, &mut outs)).map_err(|e| e.context(what()))?;
                if let Some(ms) = self.layer_ms.as_mut() {
                    ms[i] += started.elapsed().as_secs_f64() * 1e3;
                }
                outs
            };
            if calibrate {
                for (&o, t) in layer.outputs.iter().zip(outs.iter()) {
                    if calibrate::is_calibrated(t.dtype()) && net.tensors[o].value.is_none() {
                        let stats = self.calibration.entry(net, o, layer.kind.type_name());
                        self.pool.install(|| calibrate::observe(stats, t));
                    }
                }
            }
            for (&o, t) in layer.outputs.iter().zip(outs.drain(..)) {
                values[o] = Some(t);
            }
            // Return dead tensors' buffers to their slots.
            for id in layer.inputs.iter().flatten().chain(layer.outputs.iter()) {
                if engine.last_use[*id] == i {
                    if let (Some(slot), Some(t)) = (engine.slot_of[*id], values[*id].take()) {
                        self.slots[slot] = Some(t.data);
                    }
                }
            }
        }
        net.outputs
            .iter()
            .map(|&o| {
                let t = values[o].clone().or_else(|| net.tensors[o].value.clone()).ok_or_else(|| kiln_err!(Internal, "output '{}' was not computed", net.tensors[o].name))?;
                Ok((net.tensors[o].name.clone(), t))
            })
            .collect()
    }
}
