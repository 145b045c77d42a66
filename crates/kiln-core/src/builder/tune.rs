//! Tactic selection: for every tunable layer, time each eligible kernel tactic at the first
//! profile's opt shapes on seeded synthetic inputs (the real weights), keep the fastest, and
//! record the measurements in the timing cache so the next build skips the timing.
//!
//! Optimization levels (`BuilderConfig.builderOptimizationLevel`, default 3):
//! - 0: no timing, no cache; every layer runs the backend's heuristic choice.
//! - 1-2: time only layers with at least 2 eligible tactics and a cache miss; 1 warm-up + 3 samples.
//! - 3: as 1-2 with 1 warm-up + 5 samples.
//! - 4: 2 warm-ups + 10 samples; cache entries older than a day or marked for re-timing are timed again.
//! - 5: 2 warm-ups + 20 samples, re-timing as 4, and single-tactic layers are timed too (their
//!   times land in the cache and in `inspect`).
//!
//! Identical layer signatures within one build are timed once (the second one hits the entry the
//! first one wrote).

use super::{BuildBackend, BuilderConfig, OptimizationProfile};
use crate::dtype::DType;
use crate::error::Result;
use crate::kiln_bail;
use crate::network::Network;
use crate::tactic::{canonical_signature, signature_key, TacticChoice, TensorSig, TimingSample};
use crate::tensor::{Tensor, TensorData};
use crate::timing_cache::{now_ms, CacheDevice, CacheEntry, TacticTiming, TimingCache};

pub const DEFAULT_LEVEL: u8 = 3;
pub const MAX_LEVEL: u8 = 5;
const DAY_MS: u64 = 24 * 3600 * 1000;

/// The configured level, checked.
pub fn optimization_level(config: &BuilderConfig) -> Result<u8> {
    let level = config.builder_optimization_level.unwrap_or(DEFAULT_LEVEL);
    if level > MAX_LEVEL {
        kiln_bail!(InvalidProfile, "builderOptimizationLevel must be 0..={MAX_LEVEL}, got {level}");
    }
    Ok(level)
}

/// The timing-cache identity of the backend's device.
pub fn cache_device(backend: &dyn BuildBackend) -> CacheDevice {
    CacheDevice { backend: backend.name().to_string(), identity: backend.device_identity(), capability: backend.device_capability() }
}

/// (warm-up runs, timed samples) per level.
fn sampling(level: u8) -> (usize, usize) {
    match level {
        0..=2 => (1, 3),
        3 => (1, 5),
        4 => (2, 10),
        _ => (2, 20),
    }
}

#[derive(Debug, Default)]
pub struct TuneOutcome {
    /// Per layer of the network.
    pub tactics: Vec<Option<TacticChoice>>,
    pub hits: usize,
    pub misses: usize,
    pub tactic_time_ms: f64,
}

pub fn tune(net: &Network, profiles: &[OptimizationProfile], backend: &dyn BuildBackend, cache: &mut TimingCache, level: u8) -> Result<TuneOutcome> {
    let mut out = TuneOutcome { tactics: vec![None; net.layers.len()], ..Default::default() };
    if level == 0 {
        backend.progress(net.layers.len(), net.layers.len());
        return Ok(out);
    }
    // Dims at the first profile's opt shapes: tactics are timed where the engine will mostly run.
    let opt = profiles.first();
    let dims = super::graph::dims_at(net, |id| opt.and_then(|p| p.shapes.get(&net.tensors[id].name)).map(|r| r.opt.iter().map(|&d| d as i64).collect()), backend);
    let (warmup, samples) = sampling(level);
    let lib = backend.tactic_library_version();
    let now = now_ms();
    for (i, layer) in net.layers.iter().enumerate() {
        backend.progress(i, net.layers.len());
        let sig = |id: usize| {
            let d = &dims[id];
            d.iter().all(|&x| x >= 0).then(|| TensorSig {
                dtype: net.tensors[id].dtype,
                shape: d.iter().map(|&x| x as usize).collect(),
                constant: net.tensors[id].value.is_some(),
            })
        };
        let mut ins = Vec::with_capacity(layer.inputs.len());
        let mut known = true;
        for id in &layer.inputs {
            match id {
                None => ins.push(None),
                Some(id) => match sig(*id) {
                    Some(s) => ins.push(Some(s)),
                    None => known = false,
                },
            }
        }
        let outs: Option<Vec<TensorSig>> = layer.outputs.iter().map(|&o| sig(o)).collect();
        let (true, Some(outs)) = (known, outs) else { continue };
        let tactics = backend.tactics(&layer.kind, &ins);
        if tactics.is_empty() || (tactics.len() == 1 && level < 5) {
            // Nothing to choose between: the runtime's heuristic picks the only kernel.
            continue;
        }
        let canonical = canonical_signature(&layer.kind, &ins, &outs);
        let key = signature_key(&canonical, lib);
        if let Some(entry) = cache.get(&key) {
            let stale = entry.retime || now.saturating_sub(entry.measured_at()) > DAY_MS;
            let usable = entry.best().filter(|b| tactics.contains(&b.tactic));
            if let (Some(best), false) = (usable, level >= 4 && stale) {
                out.hits += 1;
                out.tactics[i] = Some(TacticChoice { tactic: best.tactic.clone(), time_ms: Some(best.median_ms) });
                continue;
            }
        }
        out.misses += 1;
        let started = std::time::Instant::now();
        let inputs = synthetic_inputs(net, layer, &ins, &key)?;
        let refs: Vec<Option<&Tensor>> = inputs.iter().map(|t| t.as_ref()).collect();
        let mut timings = Vec::new();
        for t in &tactics {
            // A tactic that fails here (e.g. it needs more memory than is free) is simply not chosen.
            // A device fault is different: it leaves the GPU context unusable, so the build stops there.
            match backend.time_tactic(&layer.kind, t, &refs, warmup, samples) {
                Ok(s) => timings.push(TacticTiming::new(t, s, now)),
                Err(e) if e.code == crate::error::ErrorCode::DeviceError => return Err(e.context(format!("layer '{}'", layer.name))),
                Err(_) => {}
            }
        }
        out.tactic_time_ms += started.elapsed().as_secs_f64() * 1e3;
        if timings.is_empty() {
            continue;
        }
        cache.insert(CacheEntry { key: key.clone(), signature: canonical, library_version: lib, tactics: timings, retime: false });
        if let Some(best) = cache.get(&key).and_then(|e| e.best()) {
            out.tactics[i] = Some(TacticChoice { tactic: best.tactic.clone(), time_ms: Some(best.median_ms) });
        }
    }
    backend.progress(net.layers.len(), net.layers.len());
    Ok(out)
}

/// The layer's inputs for timing: constants as they are (kernels may depend on the real weights'
/// layout), everything else filled with seeded pseudo-random values in [-1, 1).
fn synthetic_inputs(net: &Network, layer: &crate::network::Layer, sigs: &[Option<TensorSig>], key: &str) -> Result<Vec<Option<Tensor>>> {
    let mut seed = u64::from_str_radix(&key[..16.min(key.len())], 16).unwrap_or(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        // xorshift64*: cheap, deterministic, good enough for filler data.
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        let v = seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (v >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let mut out = Vec::with_capacity(layer.inputs.len());
    for (id, sig) in layer.inputs.iter().zip(sigs) {
        let (Some(id), Some(sig)) = (id, sig) else {
            out.push(None);
            continue;
        };
        if let Some(v) = &net.tensors[*id].value {
            out.push(Some(v.clone()));
            continue;
        }
        let mut t = Tensor::zeros(sig.dtype, &sig.shape)?;
        match (&mut t.data, sig.dtype) {
            (TensorData::F32(v), DType::Float32) => v.iter_mut().for_each(|x| *x = next() as f32),
            (TensorData::F64(v), DType::Float64) => v.iter_mut().for_each(|x| *x = next()),
            (TensorData::F16(v), DType::Float16) => v.iter_mut().for_each(|x| *x = half::f16::from_f64(next())),
            _ => {}
        }
        out.push(Some(t));
    }
    Ok(out)
}

/// Times `run` (warm-up runs first); a helper for backends implementing `time_tactic`.
pub fn time_runs(warmup: usize, samples: usize, mut run: impl FnMut() -> Result<()>) -> Result<TimingSample> {
    for _ in 0..warmup {
        run()?;
    }
    let mut times = Vec::with_capacity(samples.max(1));
    for _ in 0..samples.max(1) {
        let t = std::time::Instant::now();
        run()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    TimingSample::from_runs(&times).ok_or_else(|| crate::kiln_err!(Internal, "tactic timing produced no usable samples"))
}
