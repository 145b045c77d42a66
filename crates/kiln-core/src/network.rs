//! The network: a typed layer graph built layer by layer (the Network API's Rust side).
//!
//! Layers are appended in topological order; every `add_layer` runs shape/dtype inference at once,
//! so a front end learns about a bad layer where it adds it, with the layer named in the error.

use crate::dtype::DType;
use crate::error::Result;
use crate::infer::{infer, InferInput, TensorInfo};
use crate::layer::LayerKind;
use crate::tensor::Tensor;
use crate::{kiln_bail, kiln_err};
use serde::{Deserialize, Serialize};

pub type TensorId = usize;

/// A tensor of the network: a network input, a constant, or a layer output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorDesc {
    pub name: String,
    pub dtype: DType,
    /// -1 marks a dimension unknown until build (dynamic input dims) or run time (data-dependent).
    pub dims: Vec<i64>,
    /// Set for constants (weights, folded values).
    pub value: Option<Tensor>,
}

impl TensorDesc {
    pub fn info(&self) -> TensorInfo {
        TensorInfo { dtype: self.dtype, dims: self.dims.clone() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub name: String,
    pub kind: LayerKind,
    /// `None` marks an absent optional input.
    pub inputs: Vec<Option<TensorId>>,
    pub outputs: Vec<TensorId>,
    /// Names of the original layers merged into this one by the optimizer (for `inspect`).
    #[serde(default)]
    pub fused_from: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub tensors: Vec<TensorDesc>,
    pub layers: Vec<Layer>,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
}

impl Network {
    pub fn new() -> Network {
        Network::default()
    }

    fn unique_name(&self, wanted: &str) -> String {
        if !self.tensors.iter().any(|t| t.name == wanted) {
            return wanted.to_string();
        }
        (1..).map(|i| format!("{wanted}_{i}")).find(|n| !self.tensors.iter().any(|t| &t.name == n)).unwrap()
    }

    /// Adds a network input. `dims` may hold -1 for dimensions set by an optimization profile.
    pub fn add_input(&mut self, name: &str, dtype: DType, dims: &[i64]) -> Result<TensorId> {
        if name.is_empty() {
            kiln_bail!(InvalidNetwork, "network inputs need a name");
        }
        if self.tensors.iter().any(|t| t.name == name) {
            kiln_bail!(InvalidNetwork, "a tensor named '{name}' already exists; input names must be unique");
        }
        if let Some(d) = dims.iter().find(|&&d| d < -1) {
            kiln_bail!(InvalidNetwork, "input '{name}': dimension {d} is invalid (use -1 for a dynamic dimension)");
        }
        self.tensors.push(TensorDesc { name: name.to_string(), dtype, dims: dims.to_vec(), value: None });
        let id = self.tensors.len() - 1;
        self.inputs.push(id);
        Ok(id)
    }

    /// Adds a constant (weights, shape values…).
    pub fn add_constant(&mut self, name: &str, value: Tensor) -> Result<TensorId> {
        let name = self.unique_name(if name.is_empty() { "constant" } else { name });
        let dims = value.shape.iter().map(|&d| d as i64).collect();
        self.tensors.push(TensorDesc { name, dtype: value.dtype(), dims, value: Some(value) });
        Ok(self.tensors.len() - 1)
    }

    /// Appends a layer; infers its outputs at once. Returns the output tensor ids.
    pub fn add_layer(&mut self, name: &str, kind: LayerKind, inputs: &[Option<TensorId>]) -> Result<Vec<TensorId>> {
        let layer_name = if name.is_empty() { format!("{}_{}", kind.type_name(), self.layers.len()) } else { name.to_string() };
        let what = format!("layer '{}' ({})", layer_name, kind.type_name());
        for id in inputs.iter().flatten() {
            if *id >= self.tensors.len() {
                kiln_bail!(InvalidNetwork, "{what}: input tensor id {id} does not exist");
            }
        }
        let infer_inputs: Vec<Option<InferInput>> = inputs
            .iter()
            .map(|id| id.map(|id| InferInput { info: self.tensors[id].info(), value: self.tensors[id].value.as_ref() }))
            .collect();
        let infos = infer(&kind, &infer_inputs).map_err(|e| e.context(&what))?;
        if infos.len() != kind.num_outputs() {
            return Err(kiln_err!(Internal, "{what}: inference gave {} outputs, expected {}", infos.len(), kind.num_outputs()));
        }
        let mut outputs = Vec::with_capacity(infos.len());
        for (i, info) in infos.into_iter().enumerate() {
            let tname = if i == 0 { self.unique_name(&layer_name) } else { self.unique_name(&format!("{layer_name}:{i}")) };
            self.tensors.push(TensorDesc { name: tname, dtype: info.dtype, dims: info.dims, value: None });
            outputs.push(self.tensors.len() - 1);
        }
        self.layers.push(Layer { name: layer_name, kind, inputs: inputs.to_vec(), outputs: outputs.clone(), fused_from: vec![] });
        Ok(outputs)
    }

    /// Renames a tensor (front ends give outputs their model names).
    pub fn set_tensor_name(&mut self, id: TensorId, name: &str) -> Result<()> {
        if id >= self.tensors.len() {
            kiln_bail!(InvalidNetwork, "tensor id {id} does not exist");
        }
        if self.tensors[id].name == name {
            return Ok(());
        }
        if self.tensors.iter().any(|t| t.name == name) {
            kiln_bail!(InvalidNetwork, "a tensor named '{name}' already exists");
        }
        self.tensors[id].name = name.to_string();
        Ok(())
    }

    pub fn mark_output(&mut self, id: TensorId) -> Result<()> {
        if id >= self.tensors.len() {
            kiln_bail!(InvalidNetwork, "tensor id {id} does not exist");
        }
        if self.outputs.contains(&id) {
            kiln_bail!(InvalidNetwork, "tensor '{}' is already a network output", self.tensors[id].name);
        }
        self.outputs.push(id);
        Ok(())
    }

    pub fn tensor(&self, id: TensorId) -> &TensorDesc {
        &self.tensors[id]
    }

    pub fn find_tensor(&self, name: &str) -> Option<TensorId> {
        self.tensors.iter().position(|t| t.name == name)
    }
}
