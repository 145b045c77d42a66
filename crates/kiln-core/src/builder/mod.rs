//! The builder: turns a `Network` plus a `BuilderConfig` into a plan for one backend and device.
//!
//! Passes, in order: validate profiles → pin dims that every profile fixes → re-infer shapes →
//! fold constants (shape subgraphs included) → remove identities → fold BatchNorm into convolutions
//! → fuse bias adds and activations into convolutions / matrix multiplies → fuse pointwise chains →
//! drop dead layers → plan activation memory → serialize.
//! With `int8`, Q→DQ pairs go in front of weighted layers after BatchNorm folding (so weights are
//! quantized as they will run) and are folded again before the remaining fusions. With
//! `calibration`, identity removal and every fusion are skipped so that each float tensor of the
//! network keeps its original name (the calibration statistics are keyed by it).

pub mod fold;
pub mod fuse;
pub mod graph;
pub mod int8;
pub mod memory;
pub mod precision;
pub mod profile;
pub mod simplify;
pub mod tune;

use crate::error::Result;
use crate::kiln_bail;
use crate::layer::LayerKind;
use crate::network::Network;
use crate::plan::{write_plan, PlanBody, PlanHeader, FORMAT_VERSION};
use crate::tactic::{TensorSig, TimingSample};
use crate::tensor::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use int8::Int8Config;

/// min/opt/max shapes of one dynamic input (TensorRT's optimization profile entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapeRange {
    pub min: Vec<usize>,
    pub opt: Vec<usize>,
    pub max: Vec<usize>,
}

/// Shapes for the network inputs, by input name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptimizationProfile {
    pub shapes: BTreeMap<String, ShapeRange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuilderConfig {
    /// 0..=5 (default 3): how hard the builder times kernel tactics; see `tune.rs` and
    /// docs/timing-cache.md.
    #[serde(default)]
    pub builder_optimization_level: Option<u8>,
    /// Input timing cache (bytes of `timing_cache::TimingCache`); not part of the JSON config (the
    /// bindings pass the bytes separately).
    #[serde(skip)]
    pub timing_cache: Option<Vec<u8>>,
    /// Use a timing cache of another device of the same compute capability (entries are re-timed
    /// at levels 4-5).
    #[serde(default)]
    pub ignore_timing_cache_mismatch: bool,
    /// Optimization profiles; inputs with dynamic dims need an entry in each.
    #[serde(default)]
    pub profiles: Vec<OptimizationProfile>,
    /// Calibration build: no identity removal and no fusions, so every float tensor survives under its
    /// original name for `calibrate` statistics.
    #[serde(default)]
    pub calibration: bool,
    /// INT8 build (fake quantization on the CPU): amax per tensor name; see `int8.rs`.
    #[serde(default)]
    pub int8: Option<Int8Config>,
    /// Let layers that are safe in half precision compute in FP16 (`--fp16`); see `precision.rs`.
    #[serde(default)]
    pub fp16: bool,
    /// TF32 tensor-core math for FP32 convolutions and GEMMs on GPUs (`--noTF32` turns it off).
    #[serde(default = "default_true")]
    pub tf32: bool,
    /// Per-layer precision overrides by layer name (`--layerPrecisions name:fp32,…`).
    #[serde(default)]
    pub layer_precisions: BTreeMap<String, precision::Precision>,
    /// One format per network input, in order: "fp32:chw" | "fp16:chw" | "fp32:hwc" | "fp16:hwc".
    #[serde(default)]
    pub input_io_formats: Vec<String>,
    #[serde(default)]
    pub output_io_formats: Vec<String>,
    /// GPU ordinal for the CUDA backend.
    #[serde(default)]
    pub device: u32,
}

fn default_true() -> bool {
    true
}

impl Default for BuilderConfig {
    fn default() -> Self {
        BuilderConfig {
            builder_optimization_level: None,
            timing_cache: None,
            ignore_timing_cache_mismatch: false,
            profiles: Vec::new(),
            calibration: false,
            int8: None,
            fp16: false,
            tf32: true,
            layer_precisions: BTreeMap::new(),
            input_io_formats: Vec::new(),
            output_io_formats: Vec::new(),
            device: 0,
        }
    }
}

/// What the builder needs from a backend.
pub trait BuildBackend {
    /// "cpu", "cuda".
    fn name(&self) -> &'static str;
    /// The device the plan is bound to (e.g. CPU model + ISA features, GPU name + compute capability).
    fn device_identity(&self) -> String;
    /// Evaluates a layer on the host (constant folding). Outputs come shaped and sized.
    fn evaluate(&self, kind: &LayerKind, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()>;
    /// Devices that run the same kernels share a capability (CPU: architecture + ISA features);
    /// timing caches may be adopted across identities within one capability.
    fn device_capability(&self) -> String {
        self.device_identity()
    }
    /// Version of the backend's kernel library; part of every timing-cache key.
    fn tactic_library_version(&self) -> u32 {
        0
    }
    /// Tactic ids eligible for a layer with these inputs (concrete shapes); empty = not tunable.
    fn tactics(&self, _kind: &LayerKind, _inputs: &[Option<TensorSig>]) -> Vec<String> {
        Vec::new()
    }
    /// Runs `tactic` on `inputs` `warmup` times untimed, then `samples` times timed.
    fn time_tactic(&self, kind: &LayerKind, tactic: &str, _inputs: &[Option<&Tensor>], _warmup: usize, _samples: usize) -> Result<TimingSample> {
        kiln_bail!(Unsupported, "the {} backend cannot time tactic '{tactic}' of a {} layer", self.name(), kind.type_name())
    }
    /// Backend-specific plan contents made after tactic selection (e.g. the CUDA backend's compiled
    /// kernels); stored in the plan as `PlanBody::backend_data`.
    fn finalize(&self, _body: &PlanBody) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }
    /// Called as tactic selection proceeds: (layers done, layers total).
    fn progress(&self, _done: usize, _total: usize) {}
}

/// A backend whose tactic-selection progress is reported to a callback (the bindings' `onProgress`).
pub struct WithProgress<'a> {
    pub backend: &'a dyn BuildBackend,
    pub progress: &'a (dyn Fn(usize, usize) + Sync),
}

impl BuildBackend for WithProgress<'_> {
    fn name(&self) -> &'static str {
        self.backend.name()
    }
    fn device_identity(&self) -> String {
        self.backend.device_identity()
    }
    fn evaluate(&self, kind: &LayerKind, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
        self.backend.evaluate(kind, inputs, outputs)
    }
    fn device_capability(&self) -> String {
        self.backend.device_capability()
    }
    fn tactic_library_version(&self) -> u32 {
        self.backend.tactic_library_version()
    }
    fn tactics(&self, kind: &LayerKind, inputs: &[Option<TensorSig>]) -> Vec<String> {
        self.backend.tactics(kind, inputs)
    }
    fn time_tactic(&self, kind: &LayerKind, tactic: &str, inputs: &[Option<&Tensor>], warmup: usize, samples: usize) -> Result<TimingSample> {
        self.backend.time_tactic(kind, tactic, inputs, warmup, samples)
    }
    fn finalize(&self, body: &PlanBody) -> Result<Vec<u8>> {
        self.backend.finalize(body)
    }
    fn progress(&self, done: usize, total: usize) {
        (self.progress)(done, total);
    }
}

/// How many layers each pass changed (reported by `kiln build --json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildStats {
    pub layers_in: usize,
    pub layers_out: usize,
    pub folded: usize,
    pub identities_removed: usize,
    pub batchnorms_folded: usize,
    pub biases_fused: usize,
    pub activations_fused: usize,
    pub pointwise_chains: usize,
    /// Weighted layers given INT8 Q/DQ inputs (INT8 builds).
    #[serde(default)]
    pub int8_layers: usize,
    /// Weighted layers left in float because an activation input had no range (INT8 builds).
    #[serde(default)]
    pub int8_missing_range: usize,
    /// Layers computing in FP16 (`fp16` / `layerPrecisions`).
    #[serde(default)]
    pub fp16_layers: usize,
}

/// Runs the optimizer passes; returns the optimized network and its memory plan.
pub fn optimize(network: &Network, config: &BuilderConfig, backend: &dyn BuildBackend) -> Result<(PlanBody, BuildStats)> {
    if network.outputs.is_empty() {
        kiln_bail!(InvalidNetwork, "the network has no outputs; mark at least one tensor as an output");
    }
    let mut net = network.clone();
    precision::apply_io_formats(&mut net, &config.input_io_formats, &config.output_io_formats)?;
    let profiles = profile::validate_profiles(&net, &config.profiles)?;
    let mut stats = BuildStats { layers_in: net.layers.len(), ..Default::default() };
    profile::specialize_static_dims(&mut net, &profiles);
    graph::reinfer(&mut net)?;
    stats.folded = fold::fold_constants(&mut net, backend)?;
    graph::reinfer(&mut net)?;
    // Outputs that folded to constants are still produced by the engine: an Identity layer copies them.
    keep_outputs_computed(&mut net)?;
    if !config.calibration {
        stats.identities_removed = simplify::remove_identities(&mut net);
        graph::eliminate_dead_and_compact(&mut net);
        stats.batchnorms_folded = fuse::fold_batchnorm(&mut net);
    }
    // An explicitly quantized network (Q/DQ layers from a Q/DQ ONNX model) runs as it is: like TensorRT,
    // which ignores calibration ranges for such networks, ranges do not add a second quantization.
    let explicit_qdq = network.layers.iter().any(|l| matches!(l.kind, LayerKind::QuantizeLinear { .. } | LayerKind::DequantizeLinear { .. }));
    if let Some(int8) = config.int8.as_ref().filter(|_| !explicit_qdq) {
        let outcome = int8::insert_qdq(&mut net, int8)?;
        stats.int8_layers = outcome.quantized;
        stats.int8_missing_range = outcome.missing_range;
        stats.folded += fold::fold_constants(&mut net, backend)?;
        graph::reinfer(&mut net)?;
    }
    if !config.calibration {
        stats.biases_fused = fuse::fuse_bias(&mut net);
        stats.activations_fused = fuse::fuse_activation(&mut net);
        stats.pointwise_chains = fuse::fuse_pointwise_chains(&mut net);
        stats.fp16_layers = precision::apply_fp16(&mut net, config.fp16, &config.layer_precisions)?;
    }
    graph::eliminate_dead_and_compact(&mut net);
    let max_dims = memory::max_shapes(&net, &profiles, backend);
    let memory = memory::plan_memory(&net, &max_dims);
    stats.layers_out = net.layers.len();
    Ok((PlanBody { network: net, profiles, memory, tactics: Vec::new(), backend_data: Vec::new() }, stats))
}

/// Builds serialized plan bytes.
pub fn build_plan(network: &Network, config: &BuilderConfig, backend: &dyn BuildBackend) -> Result<Vec<u8>> {
    build_plan_with_stats(network, config, backend).map(|(p, _)| p)
}

pub fn build_plan_with_stats(network: &Network, config: &BuilderConfig, backend: &dyn BuildBackend) -> Result<(Vec<u8>, BuildStats)> {
    build_plan_with_report(network, config, backend).map(|(p, r)| (p, r.stats))
}

/// Timing-cache use of one build.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheReport {
    /// Tunable layers whose tactic came from the cache (or from an identical layer timed earlier in this build).
    pub hits: usize,
    /// Tunable layers that had to be timed.
    pub misses: usize,
    /// Entries in the updated cache.
    pub entries: usize,
    /// Error code (`KILN_E_CORRUPT_CACHE`, `KILN_E_CACHE_MISMATCH`) when the input cache was not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
}

/// What a build reports besides the plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildReport {
    pub build_ms: f64,
    /// Wall time spent timing tactics.
    pub tactic_time_ms: f64,
    pub timing_cache: CacheReport,
    pub builder_optimization_level: u8,
    pub stats: BuildStats,
    /// Non-fatal problems (e.g. an input timing cache that could not be used, and why).
    pub warnings: Vec<String>,
    /// The input cache plus this build's measurements (serialized `TimingCache`).
    #[serde(skip)]
    pub updated_cache: Vec<u8>,
}

/// Builds serialized plan bytes, choosing kernel tactics by timing (with the timing cache).
pub fn build_plan_with_report(network: &Network, config: &BuilderConfig, backend: &dyn BuildBackend) -> Result<(Vec<u8>, BuildReport)> {
    let started = std::time::Instant::now();
    let level = tune::optimization_level(config)?;
    let device = tune::cache_device(backend);
    let mut report = BuildReport { builder_optimization_level: level, ..Default::default() };
    let mut cache = match config.timing_cache.as_deref().filter(|b| !b.is_empty()) {
        None => crate::timing_cache::TimingCache::new(device.clone()),
        Some(bytes) => match crate::timing_cache::TimingCache::load_for(bytes, &device, config.ignore_timing_cache_mismatch) {
            Ok(c) => c,
            Err(e) => {
                report.warnings.push(format!("the timing cache was not used: {}", e.message));
                report.timing_cache.rejected = Some(e.code.as_str().to_string());
                crate::timing_cache::TimingCache::new(device.clone())
            }
        },
    };
    let (mut body, stats) = optimize(network, config, backend)?;
    report.stats = stats;
    // Calibration engines only gather statistics: their speed does not matter.
    let level = if config.calibration { 0 } else { level };
    let outcome = tune::tune(&body.network, &body.profiles, backend, &mut cache, level)?;
    body.tactics = outcome.tactics;
    body.backend_data = backend.finalize(&body)?;
    report.tactic_time_ms = outcome.tactic_time_ms;
    report.timing_cache.hits = outcome.hits;
    report.timing_cache.misses = outcome.misses;
    report.timing_cache.entries = cache.len();
    report.updated_cache = cache.to_bytes()?;
    let header = PlanHeader {
        format_version: FORMAT_VERSION,
        kiln_version: crate::KILN_VERSION.to_string(),
        backend: backend.name().to_string(),
        device: backend.device_identity(),
    };
    let plan = write_plan(&header, &body)?;
    report.build_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok((plan, report))
}

/// A network output that is a constant or a network input gets an Identity layer so that every
/// output is produced by a layer (the runtime hands outputs back by moving layer results).
fn keep_outputs_computed(net: &mut Network) -> Result<()> {
    for k in 0..net.outputs.len() {
        let id = net.outputs[k];
        let t = &net.tensors[id];
        let produced = net.layers.iter().any(|l| l.outputs.contains(&id));
        if produced {
            continue;
        }
        let name = t.name.clone();
        let source_name = format!("{name}:source");
        net.tensors[id].name = source_name;
        let out = net.add_layer(&format!("{name}:copy"), LayerKind::Identity, &[Some(id)])?[0];
        net.tensors[out].name = name;
        net.outputs[k] = out;
    }
    Ok(())
}
