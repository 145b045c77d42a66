//! Convolutions through cuDNN's convolution API: NCHW tensors in FP32 or FP16 (FP32 accumulation),
//! the algorithm chosen by the builder's timing (tactic `cudnn:algo=N`), bias and activation
//! applied by a generated epilogue kernel in place on the output.

use crate::error::check_dnn;
use cudarc::cudnn::sys as dnn;
use kiln_core::dtype::DType;
use kiln_core::error::Result;
use kiln_core::layer::{LayerKind, PaddingMode};
use std::ffi::c_void;

/// Workspace a convolution may use; algorithms that need more are not candidates.
pub const WORKSPACE_LIMIT: usize = 256 << 20;

/// Spatial geometry of one convolution, in cuDNN's terms (symmetric padding only).
#[derive(Debug, Clone, PartialEq)]
pub struct Geometry {
    pub pads: Vec<i32>,
    pub strides: Vec<i32>,
    pub dilations: Vec<i32>,
    pub groups: i32,
}

/// cuDNN needs symmetric padding; `None` sends the layer to the host.
pub fn geometry(kind: &LayerKind, x: &[usize], w: &[usize], y: &[usize]) -> Option<Geometry> {
    let LayerKind::Convolution { strides, pads, dilations, groups, padding_mode, .. } = kind else { return None };
    let r = x.len().checked_sub(2)?;
    if r == 0 || r > 3 || w.len() != x.len() || y.len() != x.len() {
        return None;
    }
    let s: Vec<usize> = (0..r).map(|i| strides.get(i).copied().unwrap_or(1)).collect();
    let d: Vec<usize> = (0..r).map(|i| dilations.get(i).copied().unwrap_or(1)).collect();
    let mut begin = vec![0usize; r];
    let mut end = vec![0usize; r];
    for i in 0..r {
        match padding_mode {
            PaddingMode::Explicit => {
                begin[i] = pads.get(i).copied().unwrap_or(0);
                end[i] = pads.get(i + r).copied().unwrap_or(0);
            }
            PaddingMode::Valid => {}
            PaddingMode::SameUpper | PaddingMode::SameLower => {
                let need = ((y[i + 2].max(1) - 1) * s[i] + (w[i + 2] - 1) * d[i] + 1) as i64 - x[i + 2] as i64;
                let total = need.max(0) as usize;
                let small = total / 2;
                let (b, e) = if *padding_mode == PaddingMode::SameUpper { (small, total - small) } else { (total - small, small) };
                begin[i] = b;
                end[i] = e;
            }
        }
    }
    if begin != end {
        return None;
    }
    Some(Geometry {
        pads: begin.iter().map(|&p| p as i32).collect(),
        strides: s.iter().map(|&v| v as i32).collect(),
        dilations: d.iter().map(|&v| v as i32).collect(),
        groups: (*groups).max(1) as i32,
    })
}

fn data_type(d: DType) -> Option<dnn::cudnnDataType_t> {
    match d {
        DType::Float32 => Some(dnn::cudnnDataType_t::CUDNN_DATA_FLOAT),
        DType::Float16 => Some(dnn::cudnnDataType_t::CUDNN_DATA_HALF),
        _ => None,
    }
}

/// cuDNN wants at least 4-D descriptors: 1-D convolutions get a trailing spatial dim of 1.
fn dims4(shape: &[usize]) -> Vec<i32> {
    let mut d: Vec<i32> = shape.iter().map(|&v| v as i32).collect();
    while d.len() < 4 {
        d.push(1);
    }
    d
}

/// Strides of logical [N, C, spatial…] dims, packed NCHW or channel-last (NHWC).
fn layout_strides(d: &[i32], nhwc: bool) -> Vec<i32> {
    let mut s = vec![1i32; d.len()];
    if nhwc && d.len() >= 3 {
        // Physical order N, spatial…, C.
        s[1] = 1;
        let mut acc = d[1];
        for i in (2..d.len()).rev() {
            s[i] = acc;
            acc *= d[i];
        }
        s[0] = acc;
        return s;
    }
    for i in (0..d.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * d[i + 1];
    }
    s
}

/// Storage layouts of one convolution's tensors (the filter channel-last = KRSC).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Layouts {
    pub x_nhwc: bool,
    pub y_nhwc: bool,
    pub w_nhwc: bool,
}

/// The descriptors of one convolution at one shape.
pub struct ConvDescs {
    x: dnn::cudnnTensorDescriptor_t,
    w: dnn::cudnnFilterDescriptor_t,
    conv: dnn::cudnnConvolutionDescriptor_t,
    y: dnn::cudnnTensorDescriptor_t,
}

// SAFETY: descriptors are plain host objects, used by one context at a time.
unsafe impl Send for ConvDescs {}

impl Drop for ConvDescs {
    fn drop(&mut self) {
        // SAFETY: created below, destroyed once.
        unsafe {
            dnn::cudnnDestroyTensorDescriptor(self.x);
            dnn::cudnnDestroyFilterDescriptor(self.w);
            dnn::cudnnDestroyConvolutionDescriptor(self.conv);
            dnn::cudnnDestroyTensorDescriptor(self.y);
        }
    }
}

impl ConvDescs {
    /// Four empty descriptors (destroyed on drop, also when a later call fails).
    fn create() -> Result<ConvDescs> {
        let mut d = ConvDescs { x: std::ptr::null_mut(), w: std::ptr::null_mut(), conv: std::ptr::null_mut(), y: std::ptr::null_mut() };
        // SAFETY: out-pointers to the fields.
        unsafe {
            check_dnn(dnn::cudnnCreateTensorDescriptor(&mut d.x), "create tensor descriptor")?;
            check_dnn(dnn::cudnnCreateFilterDescriptor(&mut d.w), "create filter descriptor")?;
            check_dnn(dnn::cudnnCreateConvolutionDescriptor(&mut d.conv), "create convolution descriptor")?;
            check_dnn(dnn::cudnnCreateTensorDescriptor(&mut d.y), "create tensor descriptor")?;
        }
        Ok(d)
    }
}

/// What a convolution layer needs to run at one input shape.
pub struct ConvState {
    pub key: Vec<usize>,
    pub descs: ConvDescs,
    pub algo: dnn::cudnnConvolutionFwdAlgo_t,
    pub workspace: usize,
}

// SAFETY: see ConvDescs.
unsafe impl Send for ConvState {}

pub fn algo_from(i: i32) -> Option<dnn::cudnnConvolutionFwdAlgo_t> {
    use dnn::cudnnConvolutionFwdAlgo_t::*;
    Some(match i {
        0 => CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
        1 => CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
        2 => CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
        3 => CUDNN_CONVOLUTION_FWD_ALGO_DIRECT,
        4 => CUDNN_CONVOLUTION_FWD_ALGO_FFT,
        5 => CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING,
        6 => CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD,
        7 => CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED,
        _ => return None,
    })
}

/// Builds the descriptors. `tf32: false` forbids tensor-core TF32 for FP32 (FMA math only).
pub fn describe(geo: &Geometry, dtype: DType, x: &[usize], w: &[usize], y: &[usize], tf32: bool, layouts: Layouts) -> Result<ConvDescs> {
    let dt = data_type(dtype).ok_or_else(|| kiln_core::kiln_err!(UnsupportedDtype, "cuDNN convolutions take float32 or float16, not {dtype}"))?;
    let (xd, wd, yd) = (dims4(x), dims4(w), dims4(y));
    let mut pads = geo.pads.clone();
    let mut strides = geo.strides.clone();
    let mut dil = geo.dilations.clone();
    while pads.len() < xd.len() - 2 {
        pads.push(0);
        strides.push(1);
        dil.push(1);
    }
    // SAFETY: descriptor calls with arrays of the stated lengths; failures are returned.
    unsafe {
        let d = ConvDescs::create()?;
        let fmt = |nhwc: bool| if nhwc { dnn::cudnnTensorFormat_t::CUDNN_TENSOR_NHWC } else { dnn::cudnnTensorFormat_t::CUDNN_TENSOR_NCHW };
        if xd.len() == 4 {
            // The 4-D calls with an explicit format: cuDNN picks its channel-last kernels from the format,
            // not from equivalent strides.
            check_dnn(dnn::cudnnSetTensor4dDescriptor(d.x, fmt(layouts.x_nhwc), dt, xd[0], xd[1], xd[2], xd[3]), "set input descriptor")?;
            check_dnn(dnn::cudnnSetFilter4dDescriptor(d.w, dt, fmt(layouts.w_nhwc), wd[0], wd[1], wd[2], wd[3]), "set filter descriptor")?;
            check_dnn(dnn::cudnnSetTensor4dDescriptor(d.y, fmt(layouts.y_nhwc), dt, yd[0], yd[1], yd[2], yd[3]), "set output descriptor")?;
        } else {
            check_dnn(dnn::cudnnSetTensorNdDescriptor(d.x, dt, xd.len() as i32, xd.as_ptr(), layout_strides(&xd, layouts.x_nhwc).as_ptr()), "set input descriptor")?;
            check_dnn(dnn::cudnnSetFilterNdDescriptor(d.w, dt, fmt(layouts.w_nhwc), wd.len() as i32, wd.as_ptr()), "set filter descriptor")?;
            check_dnn(dnn::cudnnSetTensorNdDescriptor(d.y, dt, yd.len() as i32, yd.as_ptr(), layout_strides(&yd, layouts.y_nhwc).as_ptr()), "set output descriptor")?;
        }
        // FP16 data with FP32 accumulation ("pseudo-half"): the numerically safe configuration.
        check_dnn(
            dnn::cudnnSetConvolutionNdDescriptor(
                d.conv,
                pads.len() as i32,
                pads.as_ptr(),
                strides.as_ptr(),
                dil.as_ptr(),
                dnn::cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION,
                dnn::cudnnDataType_t::CUDNN_DATA_FLOAT,
            ),
            "set convolution descriptor",
        )?;
        check_dnn(dnn::cudnnSetConvolutionGroupCount(d.conv, geo.groups), "set group count")?;
        let math = match (dtype, tf32) {
            (DType::Float16, _) => dnn::cudnnMathType_t::CUDNN_TENSOR_OP_MATH,
            (_, true) => dnn::cudnnMathType_t::CUDNN_DEFAULT_MATH,
            (_, false) => dnn::cudnnMathType_t::CUDNN_FMA_MATH,
        };
        check_dnn(dnn::cudnnSetConvolutionMathType(d.conv, math), "set math type")?;
        Ok(d)
    }
}

/// Descriptors of an INT8 convolution (cuDNN's INT8_EXT_CONFIG): int8 NHWC input, int8 KRSC
/// filter, int32 accumulation, float32 NHWC output holding the raw integer sums (the epilogue
/// applies the scales). cuDNN requires 2-D convolutions, one group and channel counts that are
/// multiples of 4 (`int8_shape_ok`).
pub fn describe_int8(geo: &Geometry, x: &[usize], w: &[usize], y: &[usize]) -> Result<ConvDescs> {
    if !int8_shape_ok(geo, x, w) {
        kiln_core::kiln_bail!(Unsupported, "INT8 convolutions need 2-D, one group and channels that are multiples of 4 (input {x:?}, filter {w:?})");
    }
    let i = |v: usize| v as i32;
    let (int8, float) = (dnn::cudnnDataType_t::CUDNN_DATA_INT8, dnn::cudnnDataType_t::CUDNN_DATA_FLOAT);
    let nhwc = dnn::cudnnTensorFormat_t::CUDNN_TENSOR_NHWC;
    // SAFETY: descriptor calls with arrays of the stated lengths; failures are returned.
    unsafe {
        let d = ConvDescs::create()?;
        check_dnn(dnn::cudnnSetTensor4dDescriptor(d.x, nhwc, int8, i(x[0]), i(x[1]), i(x[2]), i(x[3])), "set INT8 input descriptor")?;
        check_dnn(dnn::cudnnSetFilter4dDescriptor(d.w, int8, nhwc, i(w[0]), i(w[1]), i(w[2]), i(w[3])), "set INT8 filter descriptor")?;
        check_dnn(dnn::cudnnSetTensor4dDescriptor(d.y, nhwc, float, i(y[0]), i(y[1]), i(y[2]), i(y[3])), "set INT8 output descriptor")?;
        check_dnn(
            dnn::cudnnSetConvolution2dDescriptor(
                d.conv,
                geo.pads[0],
                geo.pads[1],
                geo.strides[0],
                geo.strides[1],
                geo.dilations[0],
                geo.dilations[1],
                dnn::cudnnConvolutionMode_t::CUDNN_CROSS_CORRELATION,
                dnn::cudnnDataType_t::CUDNN_DATA_INT32,
            ),
            "set INT8 convolution descriptor",
        )?;
        check_dnn(dnn::cudnnSetConvolutionMathType(d.conv, dnn::cudnnMathType_t::CUDNN_TENSOR_OP_MATH), "set math type")?;
        Ok(d)
    }
}

/// Shapes cuDNN's INT8 convolutions take: 2-D, one group, input and output channels % 4 == 0.
pub fn int8_shape_ok(geo: &Geometry, x: &[usize], w: &[usize]) -> bool {
    x.len() == 4 && w.len() == 4 && geo.groups == 1 && geo.pads.len() == 2 && x[1] % 4 == 0 && w[0] % 4 == 0 && w[1] == x[1]
}

/// Per-output-channel INT8 filter: the integers (same [K, C, R, S] order) and each channel's scale.
pub struct Int8Filter {
    pub values: Vec<i8>,
    pub scales: Vec<f32>,
}

/// Recovers the INT8 filter from fake-quantized float weights (what the INT8 builder pass leaves:
/// w = q · s_k with s_k = max|W_k| / 127, as pytorch-quantization and TensorRT's per-channel weight
/// quantization define it). `None` when the weights are not of that form, checked value by value
/// (`tol` relative to each channel's max: about 1e-6 for float32 weights, 2^-9 for float16 ones,
/// whose rounding shifts the values but never by half a step): such a layer stays in float.
pub fn quantize_filter(w: &[f32], k: usize, tol: f32) -> Option<Int8Filter> {
    if k == 0 || w.len() % k != 0 {
        return None;
    }
    let per = w.len() / k;
    let mut values = Vec::with_capacity(w.len());
    let mut scales = Vec::with_capacity(k);
    for ch in w.chunks(per) {
        let m = ch.iter().fold(0f32, |a, v| a.max(v.abs()));
        if !m.is_finite() {
            return None;
        }
        let s = if m > 0.0 { m / 127.0 } else { 1.0 };
        for &v in ch {
            let q = (v / s).round_ties_even();
            if q.abs() > 127.0 || (q * s - v).abs() > tol * m.max(f32::MIN_POSITIVE) {
                return None;
            }
            values.push(q as i8);
        }
        scales.push(s);
    }
    Some(Int8Filter { values, scales })
}

/// cuDNN's heuristic ranking of the forward algorithms that fit the workspace limit.
pub fn candidates(handle: dnn::cudnnHandle_t, d: &ConvDescs) -> Result<Vec<(i32, usize)>> {
    let mut perf = [std::mem::MaybeUninit::<dnn::cudnnConvolutionFwdAlgoPerf_t>::zeroed(); 8];
    let mut n = 0;
    // SAFETY: the array holds 8 results, as requested.
    check_dnn(
        unsafe { dnn::cudnnGetConvolutionForwardAlgorithm_v7(handle, d.x, d.w, d.conv, d.y, 8, &mut n, perf.as_mut_ptr() as *mut dnn::cudnnConvolutionFwdAlgoPerf_t) },
        "forward algorithm heuristics",
    )?;
    // KILN_CUDNN_ALGOS=1,6 restricts the candidates (for isolating a misbehaving algorithm).
    let allowed: Option<Vec<i32>> = std::env::var("KILN_CUDNN_ALGOS").ok().map(|v| v.split(',').filter_map(|a| a.trim().parse().ok()).collect());
    let mut out = Vec::new();
    for p in perf.iter().take(n.max(0) as usize) {
        // SAFETY: cuDNN wrote the first n entries.
        let p = unsafe { p.assume_init() };
        let allowed = allowed.as_ref().is_none_or(|a| a.contains(&(p.algo as i32)));
        if p.status == dnn::cudnnStatus_t::CUDNN_STATUS_SUCCESS && p.memory <= WORKSPACE_LIMIT && allowed {
            let a = p.algo as i32;
            if !out.iter().any(|(x, _)| *x == a) {
                out.push((a, p.memory));
            }
        }
    }
    Ok(out)
}

pub fn workspace_size(handle: dnn::cudnnHandle_t, d: &ConvDescs, algo: dnn::cudnnConvolutionFwdAlgo_t) -> Result<usize> {
    let mut ws = 0usize;
    // SAFETY: out-pointer to a local.
    check_dnn(unsafe { dnn::cudnnGetConvolutionForwardWorkspaceSize(handle, d.x, d.w, d.conv, d.y, algo, &mut ws) }, "workspace size")?;
    Ok(ws)
}

/// y = conv(x, w) (alpha 1, beta 0).
pub fn forward(handle: dnn::cudnnHandle_t, st: &ConvState, x: u64, w: u64, y: u64, ws: u64, ws_bytes: usize) -> Result<()> {
    let (alpha, beta) = (1f32, 0f32);
    // SAFETY: device pointers sized for the descriptors' shapes; the workspace holds ws_bytes.
    check_dnn(
        unsafe {
            dnn::cudnnConvolutionForward(
                handle,
                &alpha as *const f32 as *const c_void,
                st.descs.x,
                x as *const c_void,
                st.descs.w,
                w as *const c_void,
                st.descs.conv,
                st.algo,
                ws as *mut c_void,
                ws_bytes,
                &beta as *const f32 as *const c_void,
                st.descs.y,
                y as *mut c_void,
            )
        },
        "convolution forward",
    )
}

/// The layouts the builder times 2-D convolutions in: channel-last throughout, as the runtime
/// stores activations between convolutions (`program::channel_last`).
pub fn timing_layouts(dtype: DType, rank: usize) -> Layouts {
    let nhwc = matches!(dtype, DType::Float16 | DType::Float32) && rank == 4;
    Layouts { x_nhwc: nhwc, y_nhwc: nhwc, w_nhwc: nhwc }
}

/// [K, C, spatial…] weights reordered to [K, spatial…, C] (cuDNN's NHWC filter format).
pub fn to_krsc<T: Copy>(w: &[T], shape: &[usize]) -> Vec<T> {
    if shape.len() < 3 {
        return w.to_vec();
    }
    let (k, c) = (shape[0], shape[1]);
    let sp: usize = shape[2..].iter().product();
    let mut out = Vec::with_capacity(w.len());
    for kk in 0..k {
        for s in 0..sp {
            for cc in 0..c {
                out.push(w[(kk * c + cc) * sp + s]);
            }
        }
    }
    out
}

/// 1×1 kernel, stride 1, no padding, no dilation, one group: a GEMM over the channels.
pub fn is_pointwise(geo: &Geometry, w: &[usize]) -> bool {
    w.len() == 4 && w[2] == 1 && w[3] == 1 && geo.groups == 1 && geo.pads.iter().all(|&p| p == 0) && geo.strides.iter().all(|&s| s == 1) && geo.dilations.iter().all(|&d| d == 1)
}
