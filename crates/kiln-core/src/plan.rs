//! The plan file format (see `docs/ARCHITECTURE.md`): header, payload, checksum.

use crate::error::Result;
use crate::kiln_bail;
use serde::{Deserialize, Serialize};

/// What `kiln inspect` and `Engine.info` report about a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanInfo {
    pub format_version: u32,
    pub kiln_version: String,
    pub backend: String,
    pub device: String,
    pub inputs: Vec<IoInfo>,
    pub outputs: Vec<IoInfo>,
    pub layers: Vec<LayerInfo>,
    pub weights_bytes: u64,
    pub arena_bytes: u64,
    pub unshared_activation_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IoInfo {
    pub name: String,
    pub dtype: String,
    /// -1 for dynamic dims.
    pub dims: Vec<i64>,
    /// Per profile: [min, opt, max] for inputs with dynamic dims.
    pub profiles: Vec<[Vec<usize>; 3]>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub layer_type: String,
    pub fused_from: Vec<String>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

/// The fixed header fields, readable without decoding the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanHeader {
    pub format_version: u32,
    pub kiln_version: String,
    pub backend: String,
    pub device: String,
}

/// Reads and validates the header (magic, version, checksum) of plan bytes.
pub fn read_header(bytes: &[u8]) -> Result<PlanHeader> {
    let _ = bytes;
    kiln_bail!(Unsupported, "plans are not implemented yet")
}
