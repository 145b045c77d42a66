//! Errors with stable codes. The code string (`KILN_E_…`) is the contract with JS and the CLI;
//! the message names the layer, tensor or file involved and says how to fix it.

use thiserror::Error;

pub type Result<T, E = KilnError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A layer was given inputs whose shapes/dtypes do not fit its rules.
    InvalidNetwork,
    /// Shapes cannot be made to agree (broadcasting, reshape sizes, concat axes…).
    ShapeMismatch,
    /// A dtype is not accepted by the layer or the backend.
    UnsupportedDtype,
    /// A layer or attribute combination this backend does not implement.
    Unsupported,
    /// An optimization profile or `--shapes` value is malformed or inconsistent.
    InvalidProfile,
    /// Plan bytes that are truncated, corrupted or not a plan.
    CorruptPlan,
    /// A valid plan made for another backend, device, format or Kiln version.
    PlanMismatch,
    /// Runtime inputs missing, unknown, or of the wrong dtype/shape.
    InvalidInput,
    /// A tensor would exceed Kiln's size limits (protects against malicious dims).
    TensorTooLarge,
    /// A backend that cannot be used on this machine (no CUDA driver, …).
    BackendUnavailable,
    /// A value fed to a layer at run time is out of its domain (e.g. gather index out of range).
    InvalidValue,
    /// A Rust panic caught at the binding boundary: always a Kiln bug.
    Internal,
    /// Timing-cache bytes that are truncated, corrupted or not a timing cache.
    CorruptCache,
    /// A valid timing cache made for another device (or compute capability) or tactic library.
    CacheMismatch,
    /// A device (GPU) allocation failed: the message names the bytes wanted and free.
    OutOfMemory,
    /// A GPU driver or library call failed in a way that is not the input's fault (the message names the call).
    DeviceError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidNetwork => "KILN_E_INVALID_NETWORK",
            ErrorCode::ShapeMismatch => "KILN_E_SHAPE_MISMATCH",
            ErrorCode::UnsupportedDtype => "KILN_E_UNSUPPORTED_DTYPE",
            ErrorCode::Unsupported => "KILN_E_UNSUPPORTED",
            ErrorCode::InvalidProfile => "KILN_E_INVALID_PROFILE",
            ErrorCode::CorruptPlan => "KILN_E_CORRUPT_PLAN",
            ErrorCode::PlanMismatch => "KILN_E_PLAN_MISMATCH",
            ErrorCode::InvalidInput => "KILN_E_INVALID_INPUT",
            ErrorCode::TensorTooLarge => "KILN_E_TENSOR_TOO_LARGE",
            ErrorCode::BackendUnavailable => "KILN_E_BACKEND_UNAVAILABLE",
            ErrorCode::InvalidValue => "KILN_E_INVALID_VALUE",
            ErrorCode::Internal => "KILN_E_INTERNAL",
            ErrorCode::CorruptCache => "KILN_E_CORRUPT_CACHE",
            ErrorCode::CacheMismatch => "KILN_E_CACHE_MISMATCH",
            ErrorCode::OutOfMemory => "KILN_E_OUT_OF_MEMORY",
            ErrorCode::DeviceError => "KILN_E_DEVICE_ERROR",
        }
    }
}

#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct KilnError {
    pub code: ErrorCode,
    pub message: String,
}

impl KilnError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        KilnError { code, message: message.into() }
    }

    /// Prefixes the message with where it happened, e.g. `layer 'conv1' (convolution): …`.
    pub fn context(mut self, what: impl std::fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

/// Shorthand constructors: `err!(ShapeMismatch, "…{}", x)`.
#[macro_export]
macro_rules! kiln_err {
    ($code:ident, $($arg:tt)*) => {
        $crate::error::KilnError::new($crate::error::ErrorCode::$code, format!($($arg)*))
    };
}

/// `bail!(Code, "…")` returns early with a coded error.
#[macro_export]
macro_rules! kiln_bail {
    ($code:ident, $($arg:tt)*) => {
        return Err($crate::kiln_err!($code, $($arg)*))
    };
}
