//! Matrix multiplies through cuBLASLt. Kiln's tensors are row-major, cuBLASLt's are column-major:
//! row-major C = A·B is computed as column-major Cᵀ = Bᵀ·Aᵀ, which reads the same bytes. Batch
//! dimensions become strided batches (stride 0 for a broadcast operand), and an unbatched right
//! operand folds the batch into M (one large GEMM). Bias and ReLU / tanh-GELU run in cuBLASLt's
//! epilogue; the builder's timing picks among cuBLASLt's heuristic results (`cublaslt:h=N`).

use crate::error::check_lt;
use cudarc::cublaslt::sys as lt;
use kiln_core::dtype::DType;
use kiln_core::error::Result;
use kiln_core::layer::{ActivationKind, LayerKind};
use std::ffi::c_void;

pub const WORKSPACE: usize = 32 << 20;
/// How many heuristic results are candidates for timing.
pub const MAX_HEURISTICS: usize = 6;

#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub m: u64,
    pub n: u64,
    pub k: u64,
    pub batch: u64,
    pub a_stride: i64,
    pub b_stride: i64,
    pub trans_a: bool,
    pub trans_b: bool,
}

fn batch_of(shape: &[usize]) -> Vec<usize> {
    shape[..shape.len().saturating_sub(2)].to_vec()
}

/// Maps a MatrixMultiply at concrete shapes to one (strided-batched) GEMM; `None` for broadcasts
/// cuBLASLt cannot express (the layer then runs on the host).
pub fn problem(kind: &LayerKind, a: &[usize], b: &[usize], y: &[usize]) -> Option<Problem> {
    let LayerKind::MatrixMultiply { transpose_a, transpose_b, .. } = kind else { return None };
    let a2: Vec<usize> = if a.len() == 1 { vec![1, a[0]] } else { a.to_vec() };
    let b2: Vec<usize> = if b.len() == 1 { vec![b[0], 1] } else { b.to_vec() };
    if a2.len() < 2 || b2.len() < 2 {
        return None;
    }
    let (ar, ac) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (br, bc) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    let (m, k) = if *transpose_a { (ac, ar) } else { (ar, ac) };
    let (k2, n) = if *transpose_b { (bc, br) } else { (br, bc) };
    if k != k2 {
        return None;
    }
    let batch: usize = y.iter().product::<usize>() / (m * n).max(1);
    if batch * m * n != y.iter().product::<usize>() {
        return None;
    }
    let (ab, bb) = (batch_of(&a2).iter().product::<usize>(), batch_of(&b2).iter().product::<usize>());
    let stride = |own: usize, mat: usize| -> Option<i64> {
        if own == batch { Some(mat as i64) } else if own == 1 { Some(0) } else { None }
    };
    let a_stride = stride(ab, m * k)?;
    let b_stride = stride(bb, k * n)?;
    // Both operands batched but with different batch shapes that only agree in product (e.g.
    // [2,3] vs [3,2]) would be wrong to stride through: require the batch dims to match y's.
    let yb = &y[..y.len().saturating_sub(2)];
    for (s, own) in [(a_stride, batch_of(&a2)), (b_stride, batch_of(&b2))] {
        if s != 0 && own.len() <= yb.len() && own[..] != yb[yb.len() - own.len()..] && batch > 1 {
            return None;
        }
    }
    let mut p = Problem { m: m as u64, n: n as u64, k: k as u64, batch: batch as u64, a_stride, b_stride, trans_a: *transpose_a, trans_b: *transpose_b };
    if p.batch > 1 && p.b_stride == 0 && p.a_stride != 0 && !p.trans_a {
        p.m *= p.batch;
        p.batch = 1;
        p.a_stride = 0;
    }
    Some(p)
}

/// The epilogue cuBLASLt can apply for this layer: (bias fused, activation fused).
pub fn epilogue(kind: &LayerKind, bias_numel: Option<usize>, n: u64) -> (bool, bool) {
    let LayerKind::MatrixMultiply { activation, .. } = kind else { return (false, false) };
    let bias = bias_numel == Some(n as usize);
    let act = match activation {
        None => true,
        Some(ActivationKind::Relu) => true,
        Some(ActivationKind::Gelu { tanh: true }) => bias,
        _ => false,
    };
    (bias, act && activation.is_some())
}

pub struct GemmState {
    pub key: Vec<usize>,
    desc: lt::cublasLtMatmulDesc_t,
    a: lt::cublasLtMatrixLayout_t,
    b: lt::cublasLtMatrixLayout_t,
    d: lt::cublasLtMatrixLayout_t,
    pub algos: Vec<lt::cublasLtMatmulHeuristicResult_t>,
    pub chosen: usize,
}

// SAFETY: host-side descriptors, used by one context at a time.
unsafe impl Send for GemmState {}

impl Drop for GemmState {
    fn drop(&mut self) {
        // SAFETY: created in `describe`, destroyed once.
        unsafe {
            lt::cublasLtMatmulDescDestroy(self.desc);
            lt::cublasLtMatrixLayoutDestroy(self.a);
            lt::cublasLtMatrixLayoutDestroy(self.b);
            lt::cublasLtMatrixLayoutDestroy(self.d);
        }
    }
}

fn set_desc<T>(desc: lt::cublasLtMatmulDesc_t, attr: lt::cublasLtMatmulDescAttributes_t, v: &T) -> Result<()> {
    // SAFETY: v is a live value of the attribute's documented type.
    check_lt(unsafe { lt::cublasLtMatmulDescSetAttribute(desc, attr, v as *const T as *const c_void, std::mem::size_of::<T>()) }, "set matmul attribute")
}

fn layout(dt: lt::cudaDataType, rows: u64, cols: u64, ld: i64, batch: u64, stride: i64) -> Result<lt::cublasLtMatrixLayout_t> {
    let mut l = std::ptr::null_mut();
    // SAFETY: out-pointer to a local; attribute values are i32/i64 as documented.
    unsafe {
        check_lt(lt::cublasLtMatrixLayoutCreate(&mut l, dt, rows, cols, ld), "create layout")?;
        if batch > 1 {
            let b = batch as i32;
            check_lt(lt::cublasLtMatrixLayoutSetAttribute(l, lt::cublasLtMatrixLayoutAttribute_t::CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &b as *const i32 as *const c_void, 4), "set batch count")?;
            check_lt(lt::cublasLtMatrixLayoutSetAttribute(l, lt::cublasLtMatrixLayoutAttribute_t::CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride as *const i64 as *const c_void, 8), "set batch stride")?;
        }
    }
    Ok(l)
}

/// Descriptors and heuristic candidates for one problem. `bias_ptr` is set per launch.
pub fn describe(handle: lt::cublasLtHandle_t, p: &Problem, dtype: DType, tf32: bool, bias: bool, act: Option<&ActivationKind>) -> Result<GemmState> {
    let dt = match dtype {
        DType::Float32 => lt::cudaDataType_t::CUDA_R_32F,
        DType::Float16 => lt::cudaDataType_t::CUDA_R_16F,
        d => kiln_core::kiln_bail!(UnsupportedDtype, "cuBLASLt GEMMs take float32 or float16, not {d}"),
    };
    let compute = if dtype == DType::Float32 && tf32 { lt::cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32 } else { lt::cublasComputeType_t::CUBLAS_COMPUTE_32F };
    let mut desc = std::ptr::null_mut();
    // SAFETY: out-pointer to a local.
    check_lt(unsafe { lt::cublasLtMatmulDescCreate(&mut desc, compute, lt::cudaDataType_t::CUDA_R_32F) }, "create matmul descriptor")?;
    // cublasOperation_t (an int32 attribute; the enum lives in cuBLAS proper): 0 = N, 1 = T.
    let op = |t: bool| -> i32 { if t { 1 } else { 0 } };
    // Column-major Dᵀ(n×m) = Bᵀ(n×k) · Aᵀ(k×m): cuBLASLt's A is our B and its B is our A.
    set_desc(desc, lt::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSA, &op(p.trans_b))?;
    set_desc(desc, lt::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSB, &op(p.trans_a))?;
    let epi = match (bias, act) {
        (true, Some(ActivationKind::Relu)) => lt::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_RELU_BIAS,
        (true, Some(ActivationKind::Gelu { tanh: true })) => lt::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_GELU_BIAS,
        (true, _) => lt::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_BIAS,
        (false, Some(ActivationKind::Relu)) => lt::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_RELU,
        _ => lt::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_DEFAULT,
    };
    set_desc(desc, lt::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_EPILOGUE, &epi)?;
    if bias {
        set_desc(desc, lt::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &dt)?;
    }
    let a = if p.trans_b { layout(dt, p.k, p.n, p.k as i64, p.batch, p.b_stride)? } else { layout(dt, p.n, p.k, p.n as i64, p.batch, p.b_stride)? };
    let b = if p.trans_a { layout(dt, p.m, p.k, p.m as i64, p.batch, p.a_stride)? } else { layout(dt, p.k, p.m, p.k as i64, p.batch, p.a_stride)? };
    let d = layout(dt, p.n, p.m, p.n as i64, p.batch, (p.m * p.n) as i64)?;
    let mut st = GemmState { key: Vec::new(), desc, a, b, d, algos: Vec::new(), chosen: 0 };
    let mut pref = std::ptr::null_mut();
    let ws = WORKSPACE as u64;
    let mut results = vec![std::mem::MaybeUninit::<lt::cublasLtMatmulHeuristicResult_t>::zeroed(); MAX_HEURISTICS];
    let mut n = 0;
    // SAFETY: out-pointers to locals; `results` holds MAX_HEURISTICS entries, as requested.
    unsafe {
        check_lt(lt::cublasLtMatmulPreferenceCreate(&mut pref), "create preference")?;
        lt::cublasLtMatmulPreferenceSetAttribute(pref, lt::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws as *const u64 as *const c_void, 8);
        let r = lt::cublasLtMatmulAlgoGetHeuristic(handle, desc, st.a, st.b, st.d, st.d, pref, MAX_HEURISTICS as i32, results.as_mut_ptr() as *mut lt::cublasLtMatmulHeuristicResult_t, &mut n);
        lt::cublasLtMatmulPreferenceDestroy(pref);
        check_lt(r, "algorithm heuristics")?;
        st.algos = results.iter().take(n.max(0) as usize).map(|r| r.assume_init()).filter(|r| r.state == lt::cublasStatus_t::CUBLAS_STATUS_SUCCESS).collect();
    }
    if st.algos.is_empty() {
        kiln_core::kiln_bail!(Unsupported, "cuBLASLt has no algorithm for a {}x{}x{} GEMM (batch {}) in {dtype}", p.m, p.n, p.k, p.batch);
    }
    Ok(st)
}

/// D = A·B (+ bias, activation), our row-major operands.
pub fn run(handle: lt::cublasLtHandle_t, st: &GemmState, a: u64, b: u64, bias: Option<u64>, d: u64, ws: u64, stream: cudarc::driver::sys::CUstream) -> Result<()> {
    if let Some(bp) = bias {
        set_desc(st.desc, lt::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp)?;
    }
    let (alpha, beta) = (1f32, 0f32);
    let algo = &st.algos[st.chosen.min(st.algos.len() - 1)];
    if std::env::var("KILN_CUDA_TRACE").is_ok() {
        eprintln!("kiln-cuda: cublasLtMatmul a={a:#x} b={b:#x} bias={bias:?} d={d:#x} ws={ws:#x} algo ws={} chosen={}", algo.workspaceSize, st.chosen);
    }
    // SAFETY: device pointers sized for the layouts; the workspace holds WORKSPACE bytes.
    check_lt(
        unsafe {
            lt::cublasLtMatmul(
                handle,
                st.desc,
                &alpha as *const f32 as *const c_void,
                b as *const c_void,
                st.a,
                a as *const c_void,
                st.b,
                &beta as *const f32 as *const c_void,
                d as *const c_void,
                st.d,
                d as *mut c_void,
                st.d,
                &algo.algo,
                ws as *mut c_void,
                WORKSPACE,
                stream as _,
            )
        },
        "matmul",
    )
}
