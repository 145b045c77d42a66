//! Kiln errors → JS errors with a stable `code`, and the panic guard around every call into the core.
//!
//! napi-rs sets a thrown error's `code` from its status type's `AsRef<str>`, so `KilnStatus` carries the
//! `KILN_E_…` string. Promise rejections from `AsyncTask`s must go through napi's plain `Status` errors; for
//! those, `reject_error` builds the JS error object itself and hands it over by reference.

use kiln_core::error::{ErrorCode, KilnError};
use napi::bindgen_prelude::Unknown;
use napi::{Env, JsError};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The status type of every error this addon throws: its string is the `KILN_E_…` code.
#[derive(Debug, Clone, Copy)]
pub struct KilnStatus(pub ErrorCode);

impl AsRef<str> for KilnStatus {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

/// The result type of every `#[napi]` function. It is named `Result` because napi-derive recognises fallible
/// returns by that name (and then types the JS return as the `Ok` value).
pub type Result<T> = std::result::Result<T, napi::Error<KilnStatus>>;

/// A Kiln error as the napi error thrown from a synchronous call.
pub fn to_napi(e: KilnError) -> napi::Error<KilnStatus> {
    napi::Error::new(KilnStatus(e.code), e.message)
}

/// Runs `f`, turning a panic into `KILN_E_INTERNAL` so that a Kiln bug surfaces as an exception instead of
/// aborting the Node process. `what` names the operation for the message.
pub fn guard<T>(what: &str, f: impl FnOnce() -> kiln_core::Result<T>) -> kiln_core::Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_string());
            Err(KilnError::new(
                ErrorCode::Internal,
                format!("internal error (a Kiln bug, please report it) during {what}: {detail}"),
            ))
        }
    }
}

/// `guard` + conversion, for synchronous `#[napi]` functions.
pub fn call<T>(what: &str, f: impl FnOnce() -> kiln_core::Result<T>) -> Result<T> {
    guard(what, f).map_err(to_napi)
}

/// A Kiln error as the rejection of an `AsyncTask`'s promise, keeping the `KILN_E_…` code.
///
/// `Task::resolve` can only return napi's `Status`-typed error, whose `code` would be the napi status name;
/// so the JS error object is created here with our code and passed along as a reference, which napi-rs then
/// rejects with as is.
pub fn reject_error(env: &Env, e: KilnError) -> napi::Error {
    let js_error = JsError::from(to_napi(e.clone()));
    // SAFETY: `env` is the live environment of the JS thread `resolve` runs on.
    let raw = unsafe { js_error.into_value(env.raw()) };
    if raw.is_null() {
        // The environment is shutting down; nobody can observe the rejection any more.
        return napi::Error::new(napi::Status::GenericFailure, format!("{}: {}", e.code.as_str(), e.message));
    }
    // SAFETY: `raw` was just created in `env` and is a valid JS value.
    let value = unsafe { Unknown::from_raw_unchecked(env.raw(), raw) };
    napi::Error::from(value)
}

/// An argument that JS passed with the right type but an unusable value.
pub fn invalid_arg(code: ErrorCode, message: impl Into<String>) -> KilnError {
    KilnError::new(code, message)
}
