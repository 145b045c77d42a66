//! `NativeNetwork`: the Rust `Network` held by JS and built layer by layer (the typed `Network` class of
//! `@kiln/core` sits on top). Tensor ids are plain numbers; layer kinds arrive as serde JSON of `LayerKind`.

use crate::error::{call, invalid_arg, Result};
use crate::tensor::{dims_to_js, parse_dtype, tensor_from_bytes};
use kiln_core::error::ErrorCode;
use kiln_core::layer::LayerKind;
use kiln_core::network::{Network, TensorId};
use napi::bindgen_prelude::{Buffer, Uint8Array};
use napi_derive::napi;

#[napi(object)]
pub struct NativeTensorInfo {
    pub name: String,
    pub dtype: String,
    /// -1 marks a dynamic (or data-dependent) dimension.
    pub dims: Vec<i64>,
    pub is_constant: bool,
}

#[napi(object)]
pub struct NativeConstant {
    pub dtype: String,
    pub dims: Vec<i64>,
    pub data: Buffer,
}

#[napi]
pub struct NativeNetwork {
    pub(crate) inner: Network,
}

impl NativeNetwork {
    /// A JS tensor id, checked against the network (ids are array indices in the core).
    fn tensor_id(&self, id: u32) -> kiln_core::Result<TensorId> {
        let id = id as usize;
        if id >= self.inner.tensors.len() {
            return Err(invalid_arg(
                ErrorCode::InvalidNetwork,
                format!("tensor id {id} does not exist (the network has {} tensors)", self.inner.tensors.len()),
            ));
        }
        Ok(id)
    }
}

fn to_js_id(id: TensorId) -> u32 {
    // Ids index a Vec built one tensor at a time from JS; u32 overflow would need 4 billion tensors.
    id as u32
}

#[napi]
impl NativeNetwork {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        NativeNetwork { inner: Network::new() }
    }

    /// Adds a network input; -1 in `dims` marks a dynamic dimension. Returns the tensor id.
    #[napi]
    pub fn add_input(&mut self, name: String, dtype: String, dims: Vec<i64>) -> Result<u32> {
        call("addInput", || {
            let dtype = parse_dtype(&dtype).map_err(|e| e.context(format!("input '{name}'")))?;
            self.inner.add_input(&name, dtype, &dims).map(to_js_id)
        })
    }

    /// Adds a constant from little-endian element bytes. Returns the tensor id.
    #[napi]
    pub fn add_constant(&mut self, name: String, dtype: String, dims: Vec<i64>, data: Uint8Array) -> Result<u32> {
        call("addConstant", || {
            let what = format!("constant '{name}'");
            let tensor = tensor_from_bytes(&dtype, &dims, &data, &what)?;
            self.inner.add_constant(&name, tensor).map(to_js_id)
        })
    }

    /// Adds a layer. `kindJson` is the serde JSON of `LayerKind` (`{"kind": "convolution", …}`); `inputs` are
    /// tensor ids, `null` for an absent optional input. Returns the output tensor ids.
    #[napi(ts_args_type = "name: string, kindJson: string, inputs: Array<number | null>")]
    pub fn add_layer(&mut self, name: String, kind_json: String, inputs: Vec<Option<u32>>) -> Result<Vec<u32>> {
        call("addLayer", || {
            let kind: LayerKind = serde_json::from_str(&kind_json).map_err(|e| {
                invalid_arg(
                    ErrorCode::InvalidNetwork,
                    format!("layer '{name}': the layer description is not a valid LayerKind ({e}): {kind_json}"),
                )
            })?;
            let ids = inputs
                .iter()
                .map(|id| id.map(|id| self.tensor_id(id)).transpose())
                .collect::<kiln_core::Result<Vec<_>>>()
                .map_err(|e| e.context(format!("layer '{name}'")))?;
            let outputs = self.inner.add_layer(&name, kind, &ids)?;
            Ok(outputs.into_iter().map(to_js_id).collect())
        })
    }

    /// Name, dtype and dims (-1 = dynamic) of a tensor.
    #[napi]
    pub fn tensor_info(&self, id: u32) -> Result<NativeTensorInfo> {
        call("tensorInfo", || {
            let t = self.inner.tensor(self.tensor_id(id)?);
            Ok(NativeTensorInfo {
                name: t.name.clone(),
                dtype: t.dtype.name().to_string(),
                dims: t.dims.clone(),
                is_constant: t.value.is_some(),
            })
        })
    }

    /// The value of a constant tensor (little-endian bytes), or `null` when the tensor is not a constant.
    #[napi]
    pub fn constant_value(&self, id: u32) -> Result<Option<NativeConstant>> {
        call("constantValue", || {
            let t = self.inner.tensor(self.tensor_id(id)?);
            Ok(t.value.as_ref().map(|v| NativeConstant {
                dtype: v.dtype().name().to_string(),
                dims: dims_to_js(&v.shape),
                data: v.data.to_le_bytes().into(),
            }))
        })
    }

    #[napi]
    pub fn set_tensor_name(&mut self, id: u32, name: String) -> Result<()> {
        call("setTensorName", || {
            let id = self.tensor_id(id)?;
            self.inner.set_tensor_name(id, &name)
        })
    }

    #[napi]
    pub fn mark_output(&mut self, id: u32) -> Result<()> {
        call("markOutput", || {
            let id = self.tensor_id(id)?;
            self.inner.mark_output(id)
        })
    }

    #[napi(getter)]
    pub fn num_layers(&self) -> u32 {
        self.inner.layers.len() as u32
    }

    #[napi(getter)]
    pub fn num_tensors(&self) -> u32 {
        self.inner.tensors.len() as u32
    }
}
