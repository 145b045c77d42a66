//! The static kernel library's parameter structs (each `#[repr(C)]` mirrors the struct of the same
//! name in library.cu / codegen.rs's PwArgs) and the assembly of a plan's CUDA source.

pub const PRELUDE: &str = include_str!("prelude.cuh");
pub const LIBRARY: &str = include_str!("library.cu");

/// Every kernel of the static library, resolved when a plan loads.
pub const LIBRARY_KERNELS: &[&str] = &[
    "conv_epilogue_f32_f32",
    "conv_epilogue_f32_f16",
    "conv_epilogue_f16_f16",
    "strided_copy_b1",
    "strided_copy_b2",
    "strided_copy_b4",
    "strided_copy_b8",
    "gather_b1",
    "gather_b2",
    "gather_b4",
    "gather_b8",
    "pool_f32",
    "pool_f16",
    "pool_f32_i32",
    "pool_f16_i32",
    "pool2d_f32",
    "pool2d_f16",
    "softmax_f32",
    "softmax_f16",
    "reduce_f32",
    "reduce_f16",
    "row_norm_f32",
    "row_norm_f16",
    "lrn_f32",
    "lrn_f16",
    "calib_scan_f32",
    "calib_scan_f16",
];

/// The static library's source (compiled once per process and architecture, see `library_cubin`).
pub fn library_source() -> String {
    format!("{PRELUDE}{LIBRARY}")
}

/// The source of a plan's generated kernels.
pub fn generated_source(generated: &[crate::codegen::PointwiseKernel]) -> String {
    let mut s = String::with_capacity(16 << 10);
    s += PRELUDE;
    s += crate::codegen::PW_ARGS;
    for k in generated {
        s += &k.source;
    }
    s
}

/// Prelude, library and generated kernels in one source (used by the compile test).
pub fn plan_source(generated: &[crate::codegen::PointwiseKernel]) -> String {
    let mut s = library_source();
    s += crate::codegen::PW_ARGS;
    for k in generated {
        s += &k.source;
    }
    s
}

/// The library compiled for `arch`, once per process: every plan carries it, but building many
/// plans (the conformance suite builds one per test) should not recompile it each time.
pub fn library_cubin(arch: &str) -> kiln_core::error::Result<Vec<u8>> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static CACHE: Mutex<Option<HashMap<String, Vec<u8>>>> = Mutex::new(None);
    if let Some(c) = CACHE.lock().ok().and_then(|g| g.as_ref().and_then(|m| m.get(arch).cloned())) {
        return Ok(c);
    }
    let cubin = crate::nvrtc::compile(&library_source(), arch)?;
    if let Ok(mut g) = CACHE.lock() {
        g.get_or_insert_with(HashMap::new).insert(arch.to_string(), cubin.clone());
    }
    Ok(cubin)
}

pub const MAX_RANK: usize = 8;

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct CopyArgs {
    pub src: u64,
    pub dst: u64,
    pub n: i64,
    pub rank: i32,
    pub pad: i32,
    pub dims: [i64; MAX_RANK],
    pub src_st: [i64; MAX_RANK],
    pub src_mod: [i64; MAX_RANK],
    pub dst_st: [i64; MAX_RANK],
    pub src_off: i64,
    pub dst_off: i64,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ConvEpilogueArgs {
    pub acc: u64,
    pub alpha: u64,
    pub bias: u64,
    pub y: u64,
    pub n4: i64,
    pub k4: i64,
    pub lo: f32,
    pub hi: f32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct GatherArgs {
    pub src: u64,
    pub dst: u64,
    pub idx: u64,
    pub idx64: i32,
    pub pad: i32,
    pub outer: i64,
    pub axis_dim: i64,
    pub inner: i64,
    pub n_idx: i64,
    pub err: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct PoolArgs {
    pub src: u64,
    pub dst: u64,
    pub nc: i64,
    pub rank: i32,
    pub kind: i32,
    pub count_include_pad: i32,
    pub p: f32,
    pub input: [i64; 3],
    pub out: [i64; 3],
    pub k: [i64; 3],
    pub s: [i64; 3],
    pub pb: [i64; 3],
    pub pe: [i64; 3],
    pub d: [i64; 3],
    /// Channels (to locate n and c in channel-last storage).
    pub c: i64,
    pub in_nhwc: i32,
    pub out_nhwc: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct SoftmaxArgs {
    pub src: u64,
    pub dst: u64,
    pub outer: i64,
    pub axis: i64,
    pub inner: i64,
    pub kind: i32,
    pub pad: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ReduceArgs {
    pub src: u64,
    pub dst: u64,
    pub n_out: i64,
    pub out_rank: i32,
    pub red_rank: i32,
    pub out_dims: [i64; MAX_RANK],
    pub out_st: [i64; MAX_RANK],
    pub red_dims: [i64; MAX_RANK],
    pub red_st: [i64; MAX_RANK],
    pub red_n: i64,
    pub op: i32,
    pub pad: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct RowNormArgs {
    pub src: u64,
    pub dst: u64,
    pub scale: u64,
    pub bias: u64,
    pub param_half: i32,
    pub mode: i32,
    pub rows: i64,
    pub row_len: i64,
    pub rows_per_batch: i64,
    pub chans_per_row: i64,
    pub spatial: i64,
    pub param_len: i64,
    pub eps: f32,
    pub pad: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct LrnArgs {
    pub src: u64,
    pub dst: u64,
    pub n: i64,
    pub c: i64,
    pub spatial: i64,
    pub size: i32,
    pub alpha: f32,
    pub beta: f32,
    pub bias: f32,
}

/// Arguments of `calib_scan_f32/f16` (INT8 calibration statistics, see `crate::calibrate`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct CalibScanArgs {
    pub src: u64,
    /// The scratch buffer: `CALIB_HEADER` words (max bits, finite, non-finite), then the bins.
    pub out: u64,
    pub n: i64,
    /// Bin width; 0 scans without bins.
    pub width: f64,
}

/// Words before the bins in the calibration scratch buffer (library.cu's CALIB_HEADER).
pub const CALIB_HEADER: usize = 3;

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct PwArgs {
    pub inputs: [u64; 8],
    pub out: u64,
    pub n: i64,
    pub rank: i32,
    /// Bit k set: input k is laid out exactly like the output (offset = element index).
    pub contig: i32,
    pub dims: [i64; MAX_RANK],
    pub st: [[i64; MAX_RANK]; 8],
}

/// Kernel name suffix for an element size in bytes (data movement is dtype-agnostic).
pub fn bytes_suffix(size: usize) -> Option<&'static str> {
    Some(match size {
        1 => "b1",
        2 => "b2",
        4 => "b4",
        8 => "b8",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The structs' sizes match the C layout (every field 8-byte aligned or paired).
    #[test]
    fn struct_sizes_match_the_cuda_definitions() {
        assert_eq!(std::mem::size_of::<CopyArgs>(), 8 * 3 + 8 + 8 * 8 * 4 + 16);
        assert_eq!(std::mem::size_of::<GatherArgs>(), 8 * 3 + 8 + 8 * 4 + 8);
        assert_eq!(std::mem::size_of::<PoolArgs>(), 8 * 3 + 16 + 8 * 3 * 7 + 16);
        assert_eq!(std::mem::size_of::<PwArgs>(), 8 * 8 + 8 + 8 + 8 + 8 * 8 + 8 * 64);
        assert_eq!(std::mem::size_of::<CalibScanArgs>(), 8 * 4);
    }

    /// The calibration scan's bin limits in library.cu are kiln_core's.
    #[test]
    fn calibration_constants_match_kiln_core() {
        use kiln_core::calibration::{MAX_BINS, NUM_BINS};
        assert!(LIBRARY.contains(&format!("#define CALIB_NUM_BINS {NUM_BINS}\n")));
        assert!(LIBRARY.contains("#define CALIB_MAX_BINS (2048 * 128)\n") && MAX_BINS == 2048 * 128);
        assert!(LIBRARY.contains(&format!("#define CALIB_HEADER {CALIB_HEADER}\n")));
    }
}
