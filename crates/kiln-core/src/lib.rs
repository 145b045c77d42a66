//! Kiln's backend-free core: the network IR, shape inference, optimizer passes, memory planner,
//! plan format and the `Backend` traits. No napi, no CUDA here.

pub mod calibration;
pub mod dtype;
pub mod error;
pub mod infer;
pub mod layer;
pub mod network;
pub mod sha256;
pub mod tactic;
pub mod timing_cache;
pub mod tensor;

pub use dtype::DType;
pub use error::{ErrorCode, KilnError, Result};
pub use infer::{infer, infer_concrete, InferInput, TensorInfo};
pub use layer::*;
pub use network::{Layer, Network, TensorDesc, TensorId};
pub use tensor::{Tensor, TensorData};

/// Kiln's version, recorded in plans.
pub const KILN_VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod builder;
pub mod plan;
