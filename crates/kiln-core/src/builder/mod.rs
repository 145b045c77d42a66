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
pub mod profile;
pub mod simplify;

use crate::error::Result;
use crate::kiln_bail;
use crate::layer::LayerKind;
use crate::network::Network;
use crate::plan::{write_plan, PlanBody, PlanHeader, FORMAT_VERSION};
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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuilderConfig {
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
}

/// What the builder needs from a backend.
pub trait BuildBackend {
    /// "cpu", "cuda".
    fn name(&self) -> &'static str;
    /// The device the plan is bound to (e.g. CPU model + ISA features, GPU name + compute capability).
    fn device_identity(&self) -> String;
    /// Evaluates a layer on the host (constant folding). Outputs come shaped and sized.
    fn evaluate(&self, kind: &LayerKind, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()>;
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
}

/// Runs the optimizer passes; returns the optimized network and its memory plan.
pub fn optimize(network: &Network, config: &BuilderConfig, backend: &dyn BuildBackend) -> Result<(PlanBody, BuildStats)> {
    if network.outputs.is_empty() {
        kiln_bail!(InvalidNetwork, "the network has no outputs; mark at least one tensor as an output");
    }
    let profiles = profile::validate_profiles(network, &config.profiles)?;
    let mut net = network.clone();
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
    if let Some(int8) = &config.int8 {
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
    }
    graph::eliminate_dead_and_compact(&mut net);
    let max_dims = memory::max_shapes(&net, &profiles, backend);
    let memory = memory::plan_memory(&net, &max_dims);
    stats.layers_out = net.layers.len();
    Ok((PlanBody { network: net, profiles, memory }, stats))
}

/// Builds serialized plan bytes.
pub fn build_plan(network: &Network, config: &BuilderConfig, backend: &dyn BuildBackend) -> Result<Vec<u8>> {
    build_plan_with_stats(network, config, backend).map(|(p, _)| p)
}

pub fn build_plan_with_stats(network: &Network, config: &BuilderConfig, backend: &dyn BuildBackend) -> Result<(Vec<u8>, BuildStats)> {
    let (body, stats) = optimize(network, config, backend)?;
    let header = PlanHeader {
        format_version: FORMAT_VERSION,
        kiln_version: crate::KILN_VERSION.to_string(),
        backend: backend.name().to_string(),
        device: backend.device_identity(),
    };
    Ok((write_plan(&header, &body)?, stats))
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
