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
use crate::error::{ErrorCode, Result};
use crate::tactic::TacticChoice;
use crate::network::Network;
use crate::{kiln_bail, kiln_err};
use serde::{Deserialize, Serialize};

pub const MAGIC: &[u8; 8] = b"KILNPLAN";
/// 2: plans carry backend data (the CUDA backend's compiled kernels).
pub const FORMAT_VERSION: u32 = 2;

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
    /// The kernel tactic the builder chose (absent: the backend's default heuristic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tactic: Option<String>,
    /// The chosen tactic's median time at the build's timing shapes, when it was timed or came from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tactic_time_ms: Option<f64>,
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
    /// Per layer (same index as `network.layers`): the kernel tactic the builder chose; `None`
    /// (or a shorter vector) = the backend's default heuristic.
    pub tactics: Vec<Option<TacticChoice>>,
    /// What the backend adds after tactic selection (CUDA: compiled kernels and launch choices);
    /// empty for the CPU backend.
    pub backend_data: Vec<u8>,
}

impl PlanBody {
    /// The tactic chosen for layer `i`, if any.
    pub fn tactic(&self, i: usize) -> Option<&str> {
        self.tactics.get(i).and_then(|t| t.as_ref()).map(|t| t.tactic.as_str())
    }
}

/// A layer as stored in the plan's layer program: the layer plus its tactic. (The tactic is not a
/// `Layer` field so that passes building `Layer` literals stay unaffected; an absent `tactic` reads
/// as the default heuristic, so plans written before tactics existed still load.)
#[derive(Serialize, Deserialize)]
struct StoredLayer {
    #[serde(flatten)]
    layer: crate::network::Layer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tactic: Option<TacticChoice>,
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
    backend_data: Vec<u8>,
}

impl StoredBody {
    fn from_body(body: &PlanBody) -> Result<StoredBody> {
        Ok(StoredBody {
            tensors: body.network.tensors.clone(),
            layers_json: {
                let stored: Vec<StoredLayer> = body
                    .network
                    .layers
                    .iter()
                    .enumerate()
                    .map(|(i, l)| StoredLayer { layer: l.clone(), tactic: body.tactics.get(i).cloned().flatten() })
                    .collect();
                serde_json::to_string(&stored).map_err(|e| kiln_err!(Internal, "encoding plan layers: {e}"))?
            },
            inputs: body.network.inputs.clone(),
            outputs: body.network.outputs.clone(),
            profiles: body.profiles.clone(),
            memory: body.memory.clone(),
            backend_data: body.backend_data.clone(),
        })
    }

    fn into_body(self) -> Result<PlanBody> {
        let stored: Vec<StoredLayer> = serde_json::from_str(&self.layers_json).map_err(|e| kiln_err!(CorruptPlan, "plan layer program is corrupt: {e}"))?;
        let tactics = stored.iter().map(|s| s.tactic.clone()).collect();
        let layers = stored.into_iter().map(|s| s.layer).collect();
        Ok(PlanBody {
            tactics,
            network: Network { tensors: self.tensors, layers, inputs: self.inputs, outputs: self.outputs },
            profiles: self.profiles,
            memory: self.memory,
            backend_data: self.backend_data,
        })
    }
}

pub fn write_plan(header: &PlanHeader, body: &PlanBody) -> Result<Vec<u8>> {
    let header_json = serde_json::to_vec(header).map_err(|e| kiln_err!(Internal, "encoding plan header: {e}"))?;
    let body_bytes = bincode::serialize(&StoredBody::from_body(body)?).map_err(|e| kiln_err!(Internal, "encoding plan body: {e}"))?;
    Ok(write_frame(MAGIC, FORMAT_VERSION, &header_json, &body_bytes))
}

/// What a framed file is called in errors, and the codes its failures carry. Plans and timing
/// caches share the framing (magic, version, header length, header JSON, body length, body, CRC-32).
pub(crate) struct FrameKind {
    pub magic: &'static [u8],
    pub version: u32,
    /// "plan", "timing cache".
    pub what: &'static str,
    /// Said after "not a Kiln <what>: …" when the magic is wrong.
    pub magic_hint: &'static str,
    /// What to do about a format version this Kiln does not read.
    pub version_fix: &'static str,
    pub corrupt: ErrorCode,
    pub mismatch: ErrorCode,
}

const PLAN_FRAME: FrameKind = FrameKind {
    magic: MAGIC,
    version: FORMAT_VERSION,
    what: "plan",
    magic_hint: "the file does not start with the 'KILNPLAN' magic (is it an ONNX model or a TensorRT engine?)",
    version_fix: "rebuild the plan with this Kiln",
    corrupt: ErrorCode::CorruptPlan,
    mismatch: ErrorCode::PlanMismatch,
};

/// magic | version u32 | header length u32 | header | body length u64 | body | CRC-32 of all before.
pub(crate) fn write_frame(magic: &[u8], version: u32, header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(magic.len() + 20 + header.len() + body.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks magic, version, lengths and checksum; returns the header bytes and the body bytes.
pub(crate) fn split_frame<'a>(kind: &FrameKind, bytes: &'a [u8]) -> Result<(&'a [u8], &'a [u8])> {
    let what = kind.what;
    let err = |code: ErrorCode, msg: String| Err(crate::error::KilnError::new(code, msg));
    let ml = kind.magic.len();
    if bytes.len() < ml || &bytes[..ml] != kind.magic {
        return err(kind.corrupt, format!("not a Kiln {what}: {}", kind.magic_hint));
    }
    if bytes.len() < ml + 8 {
        return err(kind.corrupt, format!("{what} is truncated: {} bytes, too short for a header", bytes.len()));
    }
    let version = u32::from_le_bytes(bytes[ml..ml + 4].try_into().unwrap());
    if version != kind.version {
        return err(
            kind.mismatch,
            format!("{what} format version {version}, but this Kiln ({}) reads format version {}; {}", crate::KILN_VERSION, kind.version, kind.version_fix),
        );
    }
    let header_len = u32::from_le_bytes(bytes[ml + 4..ml + 8].try_into().unwrap()) as usize;
    let header_at = ml + 8;
    let body_len_at = header_at.checked_add(header_len).filter(|&e| e + 8 <= bytes.len());
    let Some(body_len_at) = body_len_at else {
        return err(kind.corrupt, format!("{what} is truncated or corrupt: header length {header_len} runs past the end of the {}-byte file", bytes.len()));
    };
    let body_len = u64::from_le_bytes(bytes[body_len_at..body_len_at + 8].try_into().unwrap());
    let body_at = body_len_at + 8;
    let expected = (body_at as u64).checked_add(body_len).and_then(|e| e.checked_add(4));
    if expected != Some(bytes.len() as u64) {
        return err(
            kind.corrupt,
            format!(
                "{what} is truncated or corrupt: the header announces {} bytes, the file has {}",
                expected.map(|e| e.to_string()).unwrap_or_else(|| "an impossible number of".into()),
                bytes.len()
            ),
        );
    }
    let crc_at = bytes.len() - 4;
    let stored = u32::from_le_bytes(bytes[crc_at..].try_into().unwrap());
    let actual = crc32fast::hash(&bytes[..crc_at]);
    if stored != actual {
        return err(kind.corrupt, format!("{what} checksum mismatch (stored {stored:08x}, computed {actual:08x}): the file is corrupted; rebuild it"));
    }
    Ok((&bytes[header_at..header_at + header_len], &bytes[body_at..crc_at]))
}

/// Splits and checks the framing; returns the header and the body bytes.
fn frame(bytes: &[u8]) -> Result<(PlanHeader, &[u8])> {
    let (header, body) = split_frame(&PLAN_FRAME, bytes)?;
    let header: PlanHeader = serde_json::from_slice(header).map_err(|e| kiln_err!(CorruptPlan, "plan header is unreadable: {e}"))?;
    if header.format_version != FORMAT_VERSION {
        kiln_bail!(CorruptPlan, "plan header says format version {}, the frame says {FORMAT_VERSION}", header.format_version);
    }
    Ok((header, body))
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
            .enumerate()
            .map(|(i, l)| LayerInfo {
                name: l.name.clone(),
                layer_type: l.kind.type_name().to_string(),
                fused_from: l.fused_from.clone(),
                inputs: l.inputs.iter().map(name).collect(),
                outputs: l.outputs.iter().map(|&o| net.tensors[o].name.clone()).collect(),
                tactic: body.tactic(i).map(str::to_string),
                tactic_time_ms: body.tactics.get(i).and_then(|t| t.as_ref()).and_then(|t| t.time_ms),
            })
            .collect(),
        weights_bytes: net.tensors.iter().filter_map(|t| t.value.as_ref()).map(|v| v.byte_len() as u64).sum(),
        arena_bytes: body.memory.arena_bytes,
        unshared_activation_bytes: body.memory.unshared_bytes,
    }
}

/// Checks run-time feeds against a plan: every input given once, known names, dtypes, ranks,
/// static dims, and dynamic dims within one of the optimization profiles. Shared by the backends.
pub fn check_inputs(body: &PlanBody, inputs: &[(String, crate::tensor::Tensor)]) -> Result<()> {
    let net = &body.network;
    let names: Vec<&str> = net.inputs.iter().map(|&i| net.tensors[i].name.as_str()).collect();
    for (k, (name, _)) in inputs.iter().enumerate() {
        if !names.contains(&name.as_str()) {
            kiln_bail!(InvalidInput, "'{name}' is not an input of this engine (inputs: {})", names.join(", "));
        }
        if inputs[..k].iter().any(|(n, _)| n == name) {
            kiln_bail!(InvalidInput, "input '{name}' is given twice");
        }
    }
    for &id in &net.inputs {
        let desc = &net.tensors[id];
        let Some((_, t)) = inputs.iter().find(|(n, _)| n == &desc.name) else {
            kiln_bail!(InvalidInput, "input '{}' is missing ({} {:?})", desc.name, desc.dtype, desc.dims);
        };
        if t.dtype() != desc.dtype {
            kiln_bail!(InvalidInput, "input '{}' must be {}, got {}", desc.name, desc.dtype, t.dtype());
        }
        if t.shape.len() != desc.dims.len() || t.shape.iter().zip(&desc.dims).any(|(&s, &d)| d >= 0 && s as i64 != d) {
            kiln_bail!(InvalidInput, "input '{}' must have shape {:?} (-1 = dynamic), got {:?}", desc.name, desc.dims, t.shape);
        }
        let ranges: Vec<_> = body.profiles.iter().filter_map(|p| p.shapes.get(&desc.name)).collect();
        if !ranges.is_empty() && !ranges.iter().any(|r| t.shape.iter().enumerate().all(|(a, &s)| r.min[a] <= s && s <= r.max[a])) {
            let allowed: Vec<String> = ranges.iter().map(|r| format!("{:?}..={:?}", r.min, r.max)).collect();
            kiln_bail!(InvalidInput, "input '{}' has shape {:?}, outside every optimization profile ({}); rebuild with a wider profile", desc.name, t.shape, allowed.join(" or "));
        }
    }
    Ok(())
}
