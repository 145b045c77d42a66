//! `@kiln/binding`: the N-API surface of Kiln. Thin by design: each function parses its arguments, calls
//! kiln-core / kiln-cpu inside a panic guard, and converts the result. All policy (validation of user input,
//! friendly errors) lives in the core crates or in `@kiln/core`.
//!
//! Every error reaching JS is an `Error` whose `code` is a `KILN_E_…` string (see `error.rs`).

mod backends;
mod builder;
mod calibration;
mod context;
mod engine;
mod error;
mod network;
mod tensor;
mod timing_cache;

pub use backends::*;
pub use builder::*;
pub use calibration::*;
pub use context::*;
pub use engine::*;
pub use network::*;
pub use tensor::*;
pub use timing_cache::*;
