//! Timing-cache bytes for `@kiln/timing-cache`: inspect, merge, prune, JSON-lines export/import,
//! and the device identity a cache is made for. File placement and locking live in TypeScript.

use crate::backends::{resolve_backend, Backend};
use crate::error::{call, Result};
use kiln_core::builder::tune::cache_device;
use kiln_core::timing_cache::{now_ms, CacheDevice, TimingCache};
use kiln_core::{kiln_bail, kiln_err};
use napi::bindgen_prelude::{Buffer, Uint8Array};
use napi_derive::napi;

fn device_of(backend: &str) -> kiln_core::Result<CacheDevice> {
    match resolve_backend(backend)? {
        Backend::Cpu => Ok(cache_device(&kiln_cpu::CpuBackend)),
        Backend::Cuda => Ok(cache_device(&kiln_cuda::CudaBuildBackend::new(&Default::default())?)),
    }
}

fn json(v: serde_json::Result<String>) -> kiln_core::Result<String> {
    v.map_err(|e| kiln_err!(Internal, "encoding JSON: {e}"))
}

/// `{entries, device: {backend, identity, capability}, version, keys: [{key, signature, tactic, medianMs, samples, measuredAt, retime}]}`
/// of cache bytes; throws KILN_E_CORRUPT_CACHE on damaged bytes.
#[napi]
pub fn timing_cache_info(cache: Uint8Array) -> Result<String> {
    call("timingCacheInfo", || json(serde_json::to_string(&TimingCache::from_bytes(&cache)?.info())))
}

/// The union of two caches of one device (on a shared key: more samples wins, then the newer).
#[napi]
pub fn timing_cache_merge(a: Uint8Array, b: Uint8Array) -> Result<Buffer> {
    call("timingCacheMerge", || TimingCache::merge(&TimingCache::from_bytes(&a)?, &TimingCache::from_bytes(&b)?)?.to_bytes()).map(Buffer::from)
}

/// JSON lines: a header line with the device, then one entry per line.
#[napi]
pub fn timing_cache_export(cache: Uint8Array) -> Result<String> {
    call("timingCacheExport", || TimingCache::from_bytes(&cache)?.to_jsonl())
}

/// Cache bytes from `timingCacheExport`'s JSON lines.
#[napi]
pub fn timing_cache_import(jsonl: String) -> Result<Buffer> {
    call("timingCacheImport", || TimingCache::from_jsonl(&jsonl)?.to_bytes()).map(Buffer::from)
}

/// Drops entries measured more than `olderThanMs` ago, then keeps the `maxEntries` newest.
#[napi]
pub fn timing_cache_prune(cache: Uint8Array, older_than_ms: Option<f64>, max_entries: Option<u32>) -> Result<Buffer> {
    call("timingCachePrune", || {
        if older_than_ms.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
            kiln_bail!(InvalidValue, "olderThanMs must be a finite number >= 0");
        }
        let mut c = TimingCache::from_bytes(&cache)?;
        c.prune(older_than_ms.map(|v| v as u64), max_entries.map(|v| v as usize), now_ms());
        c.to_bytes()
    })
    .map(Buffer::from)
}

/// An empty cache for this machine's device on `backend` (what a first build starts from).
#[napi]
pub fn timing_cache_empty(backend: String) -> Result<Buffer> {
    call("timingCacheEmpty", || TimingCache::new(device_of(&backend)?).to_bytes()).map(Buffer::from)
}

/// This machine's device identity for `backend` (the string caches and plans are bound to).
#[napi]
pub fn device_identity(backend: String) -> Result<String> {
    call("deviceIdentity", || device_of(&backend).map(|d| d.identity))
}

/// `{backend, identity, capability}` of this machine for `backend` as JSON.
#[napi]
pub fn timing_cache_device(backend: String) -> Result<String> {
    call("timingCacheDevice", || json(serde_json::to_string(&device_of(&backend)?)))
}
