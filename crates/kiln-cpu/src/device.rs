//! The CPU "device" a plan is bound to: architecture, model name and the SIMD features the
//! kernels may use. A plan built here refuses to load on a CPU that differs in any of them.

/// E.g. `x86_64 Intel(R) Xeon(R) … [avx2,fma,avx512f]`.
pub fn identity() -> String {
    format!("{} {} [{}]", std::env::consts::ARCH, model_name(), features().join(","))
}

/// The compute capability: architecture + ISA features, without the model name. CPUs that share
/// it run the same kernels, so a timing cache may be adopted across them (marked for re-timing).
pub fn capability() -> String {
    format!("{} [{}]", std::env::consts::ARCH, features().join(","))
}

fn model_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|s| s.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".to_string())
}

#[allow(unused_mut)]
fn features() -> Vec<&'static str> {
    let mut f = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx") {
            f.push("avx");
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            f.push("avx2");
        }
        if std::arch::is_x86_feature_detected!("fma") {
            f.push("fma");
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            f.push("avx512f");
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            f.push("neon");
        }
    }
    f
}
