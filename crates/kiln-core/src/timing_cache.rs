//! The timing cache: measured tactic timings keyed by normalized layer signature, for one device.
//!
//! ```text
//! offset  size  field
//! 0       6     magic "KILNTC"
//! 6       4     format version (u32 LE)
//! 10      4     header length H (u32 LE)
//! 14      H     header: JSON {formatVersion, kilnVersion, device: {backend, identity, capability}}
//! 14+H    8     body length B (u64 LE)
//! 22+H    B     body: JSON array of entries
//! 22+H+B  4     CRC-32 of every preceding byte
//! ```
//! The framing is the plan format's (`plan::write_frame` / `split_frame`). A cache belongs to one
//! device identity; a cache of another device is refused unless the caller ignores the mismatch,
//! which is allowed only within one compute capability and marks every entry for re-timing.
//! File placement, locking and merge-on-write live in `@kiln/timing-cache` (TypeScript).

use crate::error::{ErrorCode, Result};
use crate::plan::{split_frame, write_frame, FrameKind};
use crate::tactic::TimingSample;
use crate::{kiln_bail, kiln_err};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const CACHE_MAGIC: &[u8; 6] = b"KILNTC";
pub const CACHE_FORMAT_VERSION: u32 = 1;
/// How many tactics an entry keeps (fastest first): the winner plus runners-up for inspection.
pub const KEEP_TACTICS: usize = 3;

const CACHE_FRAME: FrameKind = FrameKind {
    magic: CACHE_MAGIC,
    version: CACHE_FORMAT_VERSION,
    what: "timing cache",
    magic_hint: "the file does not start with the 'KILNTC' magic",
    version_fix: "delete the cache (it is rebuilt by the next build) or use the Kiln that wrote it",
    corrupt: ErrorCode::CorruptCache,
    mismatch: ErrorCode::CorruptCache,
};

/// The device a cache belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheDevice {
    /// "cpu", "cuda".
    pub backend: String,
    /// Exact device identity (CPU: architecture, model name, ISA features).
    pub identity: String,
    /// Compute capability: devices that run the same kernels (CPU: architecture + ISA features).
    pub capability: String,
}

/// One timed tactic of an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TacticTiming {
    pub tactic: String,
    pub median_ms: f64,
    pub min_ms: f64,
    pub samples: u32,
    /// Unix time of the measurement, milliseconds.
    pub measured_at: u64,
}

impl TacticTiming {
    pub fn new(tactic: &str, s: TimingSample, measured_at: u64) -> TacticTiming {
        TacticTiming { tactic: tactic.to_string(), median_ms: s.median_ms, min_ms: s.min_ms, samples: s.samples, measured_at }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheEntry {
    /// sha256 hex of the canonical signature and the tactic-library version.
    pub key: String,
    /// The canonical layer signature (kept for `kiln cache show`).
    pub signature: String,
    pub library_version: u32,
    /// Fastest first; at most `KEEP_TACTICS`.
    pub tactics: Vec<TacticTiming>,
    /// Set when the entry came from another device of the same capability: time it again when the
    /// optimization level allows.
    #[serde(default)]
    pub retime: bool,
}

impl CacheEntry {
    pub fn best(&self) -> Option<&TacticTiming> {
        self.tactics.first()
    }

    /// Total samples behind the entry (the merge rule prefers better-measured entries).
    pub fn samples(&self) -> u64 {
        self.tactics.iter().map(|t| t.samples as u64).sum()
    }

    /// The newest measurement (unix ms).
    pub fn measured_at(&self) -> u64 {
        self.tactics.iter().map(|t| t.measured_at).max().unwrap_or(0)
    }

    fn check(&self) -> Result<()> {
        let bad = |what: &str| kiln_err!(CorruptCache, "timing cache entry '{}' is invalid: {what}", self.key);
        if self.key.len() != 64 || !self.key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the key is not a sha256 hex digest"));
        }
        if self.tactics.is_empty() {
            return Err(bad("it has no tactics"));
        }
        if self.tactics.iter().any(|t| !(t.median_ms.is_finite() && t.median_ms >= 0.0 && t.min_ms.is_finite() && t.min_ms >= 0.0) || t.tactic.is_empty()) {
            return Err(bad("a tactic has an empty id or a negative/non-finite time"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CacheHeader {
    format_version: u32,
    kiln_version: String,
    device: CacheDevice,
}

/// A timing cache for one device.
#[derive(Debug, Clone, PartialEq)]
pub struct TimingCache {
    pub device: CacheDevice,
    pub entries: BTreeMap<String, CacheEntry>,
}

/// What `timingCacheInfo` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheInfo {
    pub entries: usize,
    pub device: CacheDevice,
    pub version: u32,
    pub keys: Vec<CacheKeyInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheKeyInfo {
    pub key: String,
    pub signature: String,
    pub tactic: String,
    pub median_ms: f64,
    pub samples: u64,
    pub measured_at: u64,
    pub retime: bool,
}

/// The first line of a JSON-lines export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonlHeader {
    kiln_timing_cache: u32,
    device: CacheDevice,
}

/// Unix time in milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl TimingCache {
    pub fn new(device: CacheDevice) -> TimingCache {
        TimingCache { device, entries: BTreeMap::new() }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&CacheEntry> {
        self.entries.get(key)
    }

    /// Inserts or replaces an entry; tactics are sorted fastest first and trimmed to `KEEP_TACTICS`.
    pub fn insert(&mut self, mut entry: CacheEntry) {
        entry.tactics.sort_by(|a, b| a.median_ms.total_cmp(&b.median_ms).then_with(|| a.tactic.cmp(&b.tactic)));
        entry.tactics.truncate(KEEP_TACTICS);
        self.entries.insert(entry.key.clone(), entry);
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let header = CacheHeader { format_version: CACHE_FORMAT_VERSION, kiln_version: crate::KILN_VERSION.to_string(), device: self.device.clone() };
        let header = serde_json::to_vec(&header).map_err(|e| kiln_err!(Internal, "encoding timing cache header: {e}"))?;
        let entries: Vec<&CacheEntry> = self.entries.values().collect();
        let body = serde_json::to_vec(&entries).map_err(|e| kiln_err!(Internal, "encoding timing cache entries: {e}"))?;
        Ok(write_frame(CACHE_MAGIC, CACHE_FORMAT_VERSION, &header, &body))
    }

    /// Decodes cache bytes (any device); `KILN_E_CORRUPT_CACHE` on truncated/corrupt/foreign bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<TimingCache> {
        let (header, body) = split_frame(&CACHE_FRAME, bytes)?;
        let header: CacheHeader = serde_json::from_slice(header).map_err(|e| kiln_err!(CorruptCache, "timing cache header is unreadable: {e}"))?;
        if header.format_version != CACHE_FORMAT_VERSION {
            kiln_bail!(CorruptCache, "timing cache header says format version {}, the frame says {CACHE_FORMAT_VERSION}", header.format_version);
        }
        let entries: Vec<CacheEntry> = serde_json::from_slice(body).map_err(|e| kiln_err!(CorruptCache, "timing cache entries are unreadable: {e}"))?;
        let mut cache = TimingCache::new(header.device);
        for e in entries {
            e.check()?;
            cache.insert(e);
        }
        Ok(cache)
    }

    /// Decodes a cache to use on `device`. Another device's cache is refused with
    /// `KILN_E_CACHE_MISMATCH`, unless `ignore_mismatch` and both share a compute capability; then
    /// it is adopted for `device` with every entry marked for re-timing.
    pub fn load_for(bytes: &[u8], device: &CacheDevice, ignore_mismatch: bool) -> Result<TimingCache> {
        let mut cache = TimingCache::from_bytes(bytes)?;
        if cache.device.identity == device.identity && cache.device.backend == device.backend {
            return Ok(cache);
        }
        let same_capability = cache.device.backend == device.backend && cache.device.capability == device.capability;
        if !ignore_mismatch || !same_capability {
            let hint = if same_capability {
                "pass ignoreTimingCacheMismatch (--ignoreMismatch) to use it: its entries will be marked for re-timing"
            } else {
                "it cannot be used here, even ignoring the mismatch, because the compute capability differs"
            };
            kiln_bail!(
                CacheMismatch,
                "the timing cache was made on {} device '{}' (capability '{}'), this is {} device '{}' (capability '{}'); {hint}",
                cache.device.backend,
                cache.device.identity,
                cache.device.capability,
                device.backend,
                device.identity,
                device.capability
            );
        }
        cache.device = device.clone();
        cache.entries.values_mut().for_each(|e| e.retime = true);
        Ok(cache)
    }

    /// Union of two caches of one device. On a key in both, the entry with more samples wins, then
    /// the more recently measured one (then `a`'s, so merging is deterministic).
    pub fn merge(a: &TimingCache, b: &TimingCache) -> Result<TimingCache> {
        if a.device != b.device {
            kiln_bail!(
                CacheMismatch,
                "cannot merge timing caches of different devices ('{}' and '{}'); keep one cache per device",
                a.device.identity,
                b.device.identity
            );
        }
        let mut out = a.clone();
        for (k, eb) in &b.entries {
            let take_b = match out.entries.get(k) {
                None => true,
                Some(ea) => (eb.samples(), eb.measured_at()) > (ea.samples(), ea.measured_at()),
            };
            if take_b {
                out.entries.insert(k.clone(), eb.clone());
            }
        }
        Ok(out)
    }

    /// Drops entries last measured before `now - older_than_ms`, then keeps the `max_entries`
    /// most recently measured.
    pub fn prune(&mut self, older_than_ms: Option<u64>, max_entries: Option<usize>, now: u64) {
        if let Some(age) = older_than_ms {
            let limit = now.saturating_sub(age);
            self.entries.retain(|_, e| e.measured_at() >= limit);
        }
        if let Some(max) = max_entries {
            if self.entries.len() > max {
                let mut by_age: Vec<(u64, String)> = self.entries.values().map(|e| (e.measured_at(), e.key.clone())).collect();
                by_age.sort_by(|a, b| b.cmp(a));
                for (_, k) in by_age.into_iter().skip(max) {
                    self.entries.remove(&k);
                }
            }
        }
    }

    pub fn info(&self) -> CacheInfo {
        CacheInfo {
            entries: self.entries.len(),
            device: self.device.clone(),
            version: CACHE_FORMAT_VERSION,
            keys: self
                .entries
                .values()
                .map(|e| CacheKeyInfo {
                    key: e.key.clone(),
                    signature: e.signature.clone(),
                    tactic: e.best().map(|t| t.tactic.clone()).unwrap_or_default(),
                    median_ms: e.best().map(|t| t.median_ms).unwrap_or(0.0),
                    samples: e.samples(),
                    measured_at: e.measured_at(),
                    retime: e.retime,
                })
                .collect(),
        }
    }

    /// JSON lines: a header line `{"kilnTimingCache": 1, "device": {…}}`, then one entry per line.
    pub fn to_jsonl(&self) -> Result<String> {
        let mut out = serde_json::to_string(&JsonlHeader { kiln_timing_cache: CACHE_FORMAT_VERSION, device: self.device.clone() })
            .map_err(|e| kiln_err!(Internal, "encoding timing cache: {e}"))?;
        out.push('\n');
        for e in self.entries.values() {
            out.push_str(&serde_json::to_string(e).map_err(|e| kiln_err!(Internal, "encoding timing cache: {e}"))?);
            out.push('\n');
        }
        Ok(out)
    }

    pub fn from_jsonl(text: &str) -> Result<TimingCache> {
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let Some((_, first)) = lines.next() else {
            kiln_bail!(CorruptCache, "timing cache JSON lines are empty; the first line must be {{\"kilnTimingCache\": {CACHE_FORMAT_VERSION}, \"device\": {{…}}}}");
        };
        let header: JsonlHeader = serde_json::from_str(first)
            .map_err(|e| kiln_err!(CorruptCache, "line 1 of the timing cache JSON lines is not the header {{\"kilnTimingCache\": {CACHE_FORMAT_VERSION}, \"device\": {{…}}}}: {e}"))?;
        if header.kiln_timing_cache != CACHE_FORMAT_VERSION {
            kiln_bail!(CorruptCache, "timing cache JSON lines have version {}, this Kiln reads version {CACHE_FORMAT_VERSION}", header.kiln_timing_cache);
        }
        let mut cache = TimingCache::new(header.device);
        for (i, line) in lines {
            let e: CacheEntry = serde_json::from_str(line).map_err(|e| kiln_err!(CorruptCache, "line {} of the timing cache JSON lines is not an entry: {e}", i + 1))?;
            e.check().map_err(|e| e.context(format!("line {}", i + 1)))?;
            cache.insert(e);
        }
        Ok(cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(identity: &str, capability: &str) -> CacheDevice {
        CacheDevice { backend: "cpu".into(), identity: identity.into(), capability: capability.into() }
    }

    fn entry(key_seed: &str, tactic: &str, ms: f64, samples: u32, at: u64) -> CacheEntry {
        CacheEntry {
            key: crate::sha256::sha256_hex(key_seed.as_bytes()),
            signature: format!("sig {key_seed}"),
            library_version: 1,
            tactics: vec![TacticTiming { tactic: tactic.into(), median_ms: ms, min_ms: ms * 0.9, samples, measured_at: at }],
            retime: false,
        }
    }

    fn cache(entries: Vec<CacheEntry>) -> TimingCache {
        let mut c = TimingCache::new(device("x86_64 A [avx2]", "x86_64 [avx2]"));
        entries.into_iter().for_each(|e| c.insert(e));
        c
    }

    #[test]
    fn bytes_and_jsonl_round_trip() {
        let c = cache(vec![entry("a", "im2col_gemm", 1.5, 5, 100), entry("b", "winograd_f2x3", 0.5, 5, 200)]);
        let bytes = c.to_bytes().unwrap();
        assert_eq!(&bytes[..6], b"KILNTC");
        assert_eq!(TimingCache::from_bytes(&bytes).unwrap(), c);
        let text = c.to_jsonl().unwrap();
        assert_eq!(text.lines().count(), 3);
        assert_eq!(TimingCache::from_jsonl(&text).unwrap(), c);
        let info = c.info();
        assert_eq!(info.entries, 2);
        assert_eq!(info.keys.len(), 2);
    }

    #[test]
    fn corrupt_bytes_are_coded_errors() {
        let bytes = cache(vec![entry("a", "t", 1.0, 3, 1)]).to_bytes().unwrap();
        for cut in [0, 3, 6, 12, bytes.len() / 2, bytes.len() - 1] {
            let e = TimingCache::from_bytes(&bytes[..cut]).unwrap_err();
            assert_eq!(e.code, ErrorCode::CorruptCache, "cut {cut}: {}", e.message);
        }
        let mut flipped = bytes.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x40;
        assert_eq!(TimingCache::from_bytes(&flipped).unwrap_err().code, ErrorCode::CorruptCache);
        assert_eq!(TimingCache::from_bytes(b"KILNPLAN....").unwrap_err().code, ErrorCode::CorruptCache);
        assert_eq!(TimingCache::from_jsonl("{}\n").unwrap_err().code, ErrorCode::CorruptCache);
    }

    #[test]
    fn merge_prefers_more_samples_then_newer() {
        let a = cache(vec![entry("k1", "a_tactic", 1.0, 10, 100), entry("k2", "a_tactic", 1.0, 5, 100), entry("only_a", "x", 1.0, 1, 1)]);
        let b = cache(vec![entry("k1", "b_tactic", 0.5, 5, 500), entry("k2", "b_tactic", 0.5, 5, 500), entry("only_b", "y", 1.0, 1, 1)]);
        let m = TimingCache::merge(&a, &b).unwrap();
        assert_eq!(m.len(), 4);
        let best = |k: &str| m.get(&crate::sha256::sha256_hex(k.as_bytes())).unwrap().best().unwrap().tactic.clone();
        assert_eq!(best("k1"), "a_tactic"); // more samples wins over newer
        assert_eq!(best("k2"), "b_tactic"); // equal samples: newer wins
        // Merging is symmetric in content for these rules.
        assert_eq!(TimingCache::merge(&b, &a).unwrap().entries, m.entries);
        let mut other = b.clone();
        other.device = device("x86_64 B [avx2]", "x86_64 [avx2]");
        assert_eq!(TimingCache::merge(&a, &other).unwrap_err().code, ErrorCode::CacheMismatch);
    }

    #[test]
    fn mismatch_handling() {
        let c = cache(vec![entry("a", "t", 1.0, 3, 1)]);
        let bytes = c.to_bytes().unwrap();
        assert_eq!(TimingCache::load_for(&bytes, &c.device, false).unwrap(), c);
        let sibling = device("x86_64 B [avx2]", "x86_64 [avx2]");
        assert_eq!(TimingCache::load_for(&bytes, &sibling, false).unwrap_err().code, ErrorCode::CacheMismatch);
        let adopted = TimingCache::load_for(&bytes, &sibling, true).unwrap();
        assert_eq!(adopted.device, sibling);
        assert!(adopted.entries.values().all(|e| e.retime));
        let other_isa = device("x86_64 C [avx512f]", "x86_64 [avx512f]");
        assert_eq!(TimingCache::load_for(&bytes, &other_isa, true).unwrap_err().code, ErrorCode::CacheMismatch);
    }

    #[test]
    fn prune_by_age_and_count() {
        let mut c = cache(vec![entry("a", "t", 1.0, 1, 1_000), entry("b", "t", 1.0, 1, 5_000), entry("c", "t", 1.0, 1, 9_000)]);
        c.prune(Some(6_000), None, 10_000);
        assert_eq!(c.len(), 2);
        c.prune(None, Some(1), 10_000);
        assert_eq!(c.len(), 1);
        assert_eq!(c.entries.values().next().unwrap().measured_at(), 9_000);
    }
}
