//! The plan file format.
//!
//! ```text
//! offset  size  field
//! 0       8     magic "KILNPLAN"
//! 8       4     format version (u32 LE)
//! 12      4     header length H (u32 LE)
//! 16      H     header: JSON {formatVersion, kilnVersion, backend, device}
//! 16+H    8     body length B (u64 LE)
//! 24+H    B     body: bincode of `PlanBody` (optimized network with weights, profiles, memory plan)
//! 24+H+B  4     CRC-32 of every preceding byte
//! ```
//! Plans are untrusted input: every length is bounds-checked, the checksum is verified before
//! the body is decoded, decoding is size-limited, and the decoded program is validated.

use crate::builder::memory::MemoryPlan;
use crate::builder::OptimizationProfile;
use crate::error::Result;
use crate::network::Network;
use crate::{kiln_bail, kiln_err};
use serde::{Deserialize, Serialize};

pub const MAGIC: &[u8; 8] = b"KILNPLAN";
pub const FORMAT_VERSION: u32 = 1;

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

/// The fixed header fields, readable without decoding the body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanHeader {
    pub format_version: u32,
    pub kiln_version: String,
    pub backend: String,
    pub device: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanBody {
    pub network: Network,
    pub profiles: Vec<OptimizationProfile>,
    pub memory: MemoryPlan,
}

/// The body as stored. Layer kinds are internally tagged serde enums (the JSON contract with JS),
/// which bincode cannot decode, so the (small) layer program travels as JSON while tensors and
/// weights stay in compact bincode.
#[derive(Serialize, Deserialize)]
struct StoredBody {
    tensors: Vec<crate::network::TensorDesc>,
    layers_json: String,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    profiles: Vec<OptimizationProfile>,
    memory: MemoryPlan,
}

impl StoredBody {
    fn from_body(body: &PlanBody) -> Result<StoredBody> {
        Ok(StoredBody {
            tensors: body.network.tensors.clone(),
            layers_json: serde_json::to_string(&body.network.layers).map_err(|e| kiln_err!(Internal, "encoding plan layers: {e}"))?,
            inputs: body.network.inputs.clone(),
            outputs: body.network.outputs.clone(),
            profiles: body.profiles.clone(),
            memory: body.memory.clone(),
        })
    }

    fn into_body(self) -> Result<PlanBody> {
        let layers = serde_json::from_str(&self.layers_json).map_err(|e| kiln_err!(CorruptPlan, "plan layer program is corrupt: {e}"))?;
        Ok(PlanBody {
            network: Network { tensors: self.tensors, layers, inputs: self.inputs, outputs: self.outputs },
            profiles: self.profiles,
            memory: self.memory,
        })
    }
}

pub fn write_plan(header: &PlanHeader, body: &PlanBody) -> Result<Vec<u8>> {
    let header_json = serde_json::to_vec(header).map_err(|e| kiln_err!(Internal, "encoding plan header: {e}"))?;
    let body_bytes = bincode::serialize(&StoredBody::from_body(body)?).map_err(|e| kiln_err!(Internal, "encoding plan body: {e}"))?;
    let mut out = Vec::with_capacity(28 + header_json.len() + body_bytes.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(header_json.len() as u32).to_le_bytes());
    out.extend_from_slice(&header_json);
    out.extend_from_slice(&(body_bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(&body_bytes);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Splits and checks the framing; returns the header and the body bytes.
fn frame(bytes: &[u8]) -> Result<(PlanHeader, &[u8])> {
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        kiln_bail!(CorruptPlan, "not a Kiln plan: the file does not start with the 'KILNPLAN' magic (is it an ONNX model or a TensorRT engine?)");
    }
    if bytes.len() < 16 {
        kiln_bail!(CorruptPlan, "plan is truncated: {} bytes, too short for a header", bytes.len());
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    if version != FORMAT_VERSION {
        kiln_bail!(PlanMismatch, "plan format version {version}, but this Kiln ({}) reads format version {FORMAT_VERSION}; rebuild the plan with this Kiln", crate::KILN_VERSION);
    }
    let header_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let body_len_at = 16usize.checked_add(header_len).filter(|&e| e + 8 <= bytes.len());
    let Some(body_len_at) = body_len_at else {
        kiln_bail!(CorruptPlan, "plan is truncated or corrupt: header length {header_len} runs past the end of the {}-byte file", bytes.len());
    };
    let body_len = u64::from_le_bytes(bytes[body_len_at..body_len_at + 8].try_into().unwrap());
    let body_at = body_len_at + 8;
    let expected = (body_at as u64).checked_add(body_len).and_then(|e| e.checked_add(4));
    if expected != Some(bytes.len() as u64) {
        kiln_bail!(
            CorruptPlan,
            "plan is truncated or corrupt: the header announces {} bytes, the file has {}",
            expected.map(|e| e.to_string()).unwrap_or_else(|| "an impossible number of".into()),
            bytes.len()
        );
    }
    let crc_at = bytes.len() - 4;
    let stored = u32::from_le_bytes(bytes[crc_at..].try_into().unwrap());
    let actual = crc32fast::hash(&bytes[..crc_at]);
    if stored != actual {
        kiln_bail!(CorruptPlan, "plan checksum mismatch (stored {stored:08x}, computed {actual:08x}): the file is corrupted; rebuild it");
    }
    let header: PlanHeader = serde_json::from_slice(&bytes[16..16 + header_len]).map_err(|e| kiln_err!(CorruptPlan, "plan header is unreadable: {e}"))?;
    if header.format_version != version {
        kiln_bail!(CorruptPlan, "plan header says format version {}, the frame says {version}", header.format_version);
    }
    Ok((header, &bytes[body_at..crc_at]))
}

/// Reads and validates the header (magic, version, length, checksum) of plan bytes.
pub fn read_header(bytes: &[u8]) -> Result<PlanHeader> {
    frame(bytes).map(|(h, _)| h)
}

/// Decodes a plan for `backend` running on `device`; refuses foreign plans, naming both sides.
pub fn read_plan(bytes: &[u8], backend: &str, device: &str) -> Result<(PlanHeader, PlanBody)> {
    let (header, body) = frame(bytes)?;
    if header.kiln_version != crate::KILN_VERSION {
        kiln_bail!(PlanMismatch, "plan was built by Kiln {}, this is Kiln {}; rebuild the plan", header.kiln_version, crate::KILN_VERSION);
    }
    if header.backend != backend {
        kiln_bail!(PlanMismatch, "plan was built for the '{}' backend, not '{backend}'; load it with that backend or rebuild it", header.backend);
    }
    if header.device != device {
        kiln_bail!(PlanMismatch, "plan was built for device '{}', this device is '{device}'; rebuild the plan here", header.device);
    }
    use bincode::Options;
    let stored: StoredBody = bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(bytes.len() as u64 * 2 + 1024)
        .deserialize(body)
        .map_err(|e| kiln_err!(CorruptPlan, "plan body is corrupt: {e}"))?;
    let body = stored.into_body()?;
    validate(&body.network)?;
    if body.memory.placements.len() != body.network.tensors.len() {
        kiln_bail!(CorruptPlan, "plan memory plan does not match its program");
    }
    Ok((header, body))
}

/// Structural checks so a decoded (possibly hostile) program cannot index out of bounds.
fn validate(net: &Network) -> Result<()> {
    let n = net.tensors.len();
    let bad = |what: &str| kiln_err!(CorruptPlan, "plan program is inconsistent: {what}");
    for &id in net.inputs.iter().chain(&net.outputs) {
        if id >= n {
            return Err(bad("an input/output refers to a missing tensor"));
        }
    }
    let mut defined = vec![false; n];
    for &i in &net.inputs {
        defined[i] = true;
    }
    for (i, t) in net.tensors.iter().enumerate() {
        if let Some(v) = &t.value {
            if crate::tensor::checked_numel(&v.shape).ok() != Some(v.data.len()) {
                return Err(bad(&format!("constant '{}' has a shape that does not match its data", t.name)));
            }
            defined[i] = true;
        }
    }
    for layer in &net.layers {
        for id in layer.inputs.iter().flatten() {
            if *id >= n || !defined[*id] {
                return Err(bad(&format!("layer '{}' reads a tensor that is not defined before it", layer.name)));
            }
        }
        if layer.outputs.len() != layer.kind.num_outputs() {
            return Err(bad(&format!("layer '{}' has the wrong number of outputs", layer.name)));
        }
        for &o in &layer.outputs {
            if o >= n || defined[o] {
                return Err(bad(&format!("layer '{}' writes a tensor that is missing or already defined", layer.name)));
            }
            defined[o] = true;
        }
    }
    for &o in &net.outputs {
        if !defined[o] {
            return Err(bad("a network output is never computed"));
        }
    }
    Ok(())
}

/// The inspect view of a decoded plan.
pub fn plan_info(header: &PlanHeader, body: &PlanBody) -> PlanInfo {
    let net = &body.network;
    let io = |id: usize| {
        let t = &net.tensors[id];
        let profiles = body.profiles.iter().filter_map(|p| p.shapes.get(&t.name)).map(|r| [r.min.clone(), r.opt.clone(), r.max.clone()]).collect();
        IoInfo { name: t.name.clone(), dtype: t.dtype.name().to_string(), dims: t.dims.clone(), profiles }
    };
    let name = |id: &Option<usize>| id.map(|i| net.tensors[i].name.clone()).unwrap_or_default();
    PlanInfo {
        format_version: header.format_version,
        kiln_version: header.kiln_version.clone(),
        backend: header.backend.clone(),
        device: header.device.clone(),
        inputs: net.inputs.iter().map(|&i| io(i)).collect(),
        outputs: net.outputs.iter().map(|&i| io(i)).collect(),
        layers: net
            .layers
            .iter()
            .map(|l| LayerInfo {
                name: l.name.clone(),
                layer_type: l.kind.type_name().to_string(),
                fused_from: l.fused_from.clone(),
                inputs: l.inputs.iter().map(name).collect(),
                outputs: l.outputs.iter().map(|&o| net.tensors[o].name.clone()).collect(),
            })
            .collect(),
        weights_bytes: net.tensors.iter().filter_map(|t| t.value.as_ref()).map(|v| v.byte_len() as u64).sum(),
        arena_bytes: body.memory.arena_bytes,
        unshared_activation_bytes: body.memory.unshared_bytes,
    }
}
