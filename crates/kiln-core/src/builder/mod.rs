//! The builder: turns a `Network` plus a `BuilderConfig` into a plan for one backend and device.

use crate::error::Result;
use crate::kiln_bail;
use crate::network::Network;
use crate::tensor::Tensor;
use crate::layer::LayerKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// Optimization profiles; inputs with dynamic dims need an entry in each.
    #[serde(default)]
    pub profiles: Vec<OptimizationProfile>,
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

/// Builds serialized plan bytes.
pub fn build_plan(network: &Network, config: &BuilderConfig, backend: &dyn BuildBackend) -> Result<Vec<u8>> {
    let _ = (network, config, backend);
    kiln_bail!(Unsupported, "the builder is not implemented yet")
}
