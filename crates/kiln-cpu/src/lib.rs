//! Kiln's CPU backend: the reference implementation of every layer and the embedded default.

pub mod calibrate;
pub mod device;
pub mod kernels;

pub use kernels::execute;
pub mod runtime;
pub mod tactics;
pub use runtime::{CpuBackend, CpuContext, CpuEngine};
