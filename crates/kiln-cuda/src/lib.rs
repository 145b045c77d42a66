//! Kiln's CUDA backend. cuDNN runs convolutions, cuBLASLt runs matrix multiplies, NVRTC compiles a
//! kernel per pointwise layer plus Kiln's static kernel library, and layers without a GPU kernel
//! run on the host through kiln-cpu (reported per layer by `kiln inspect` as tactic `host`).
//! Every CUDA library is opened at run time: the crate builds and loads without a CUDA toolkit.

pub mod codegen;
pub mod conv;
pub mod device;
pub mod error;
pub mod gemm;
pub mod gpu;
pub mod int8;
pub mod kernels;
pub mod libs;
pub mod nvrtc;
pub mod program;
pub mod runtime;
pub mod build;
pub mod calibrate;

pub use build::CudaBuildBackend;
pub use runtime::{BenchOptions, BenchResult, CudaContext, CudaEngine};
