//! MatrixMultiply: numpy matmul (batch broadcasting, 1-D promotion), transposes via strides
//! (no copies), optional broadcast bias and fused activation. Floats go through `gemm`;
//! integers use a plain i64 loop (ONNX tests only use small integer matmuls).

#[path = "gemm_common.rs"]
pub mod common;

use common::{apply_activation, float_width, gemm_parallelism, matmul_into, need_outputs, req, view, with_out, KFloat, Mat};
use kiln_core::error::Result;
use kiln_core::kiln_bail;
use kiln_core::layer::LayerKind;
use kiln_core::tensor::{checked_numel, Tensor, TensorData};

pub fn execute(kind: &LayerKind, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
    execute_tactic(kind, None, inputs, outputs)
}

/// Matrix-multiply parallel strategies (tactics); the ids are stable (plans and caches store them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatmulTactic {
    /// Batch items one after another, each GEMM split over the thread pool.
    GemmRayon,
    /// Batch items in parallel, each GEMM on one thread (many small matrices).
    GemmSingle,
}

impl MatmulTactic {
    pub const ALL: [MatmulTactic; 2] = [MatmulTactic::GemmRayon, MatmulTactic::GemmSingle];

    pub fn id(self) -> &'static str {
        match self {
            MatmulTactic::GemmRayon => "gemm_rayon",
            MatmulTactic::GemmSingle => "gemm_single",
        }
    }

    pub fn parse(id: &str) -> Option<MatmulTactic> {
        MatmulTactic::ALL.into_iter().find(|t| t.id() == id)
    }
}

/// Like `execute` with a tactic; `gemm_single` needs more than one batch item and falls back to
/// `gemm_rayon` otherwise (same results).
pub fn execute_tactic(kind: &LayerKind, tactic: Option<&str>, inputs: &[Option<&Tensor>], outputs: &mut [Tensor]) -> Result<()> {
    let tactic = match tactic {
        None => MatmulTactic::GemmRayon,
        Some(id) => match MatmulTactic::parse(id) {
            Some(t) => t,
            None => kiln_bail!(Unsupported, "unknown matrix multiply tactic '{id}' (known: gemm_rayon, gemm_single); rebuild the plan with this Kiln"),
        },
    };
    let LayerKind::MatrixMultiply { transpose_a, transpose_b, has_bias, activation } = kind else {
        kiln_bail!(Internal, "matmul kernel got '{}'", kind.type_name());
    };
    need_outputs(outputs, 1, "matrix multiply")?;
    let a = req(inputs, 0, "a")?;
    let b = req(inputs, 1, "b")?;
    let bias = if *has_bias { Some(req(inputs, 2, "bias")?) } else { None };
    let shape = Shapes::new(a, b, *transpose_a, *transpose_b, &outputs[0].shape)?;
    if a.dtype().is_float() {
        match float_width(a, "matrix multiply")? {
            64 => run_float::<f64>(&shape, a, b, bias, activation.as_ref(), &mut outputs[0], tactic),
            _ => run_float::<f32>(&shape, a, b, bias, activation.as_ref(), &mut outputs[0], tactic),
        }
    } else {
        if activation.is_some() {
            kiln_bail!(Unsupported, "fused activations on integer matrix multiply are not supported");
        }
        run_int(&shape, a, b, bias, &mut outputs[0])
    }
}

/// Resolved matmul geometry: per-batch matrices and the operands' batch offsets.
struct Shapes {
    m: usize,
    n: usize,
    k: usize,
    /// Strides (row, col) of the logical (possibly transposed) operand matrices.
    a_rs: usize,
    a_cs: usize,
    b_rs: usize,
    b_cs: usize,
    /// For each output batch: element offsets of a's and b's matrices.
    a_off: Vec<usize>,
    b_off: Vec<usize>,
}

impl Shapes {
    fn new(a: &Tensor, b: &Tensor, ta: bool, tb: bool, out: &[usize]) -> Result<Shapes> {
        if a.rank() == 0 || b.rank() == 0 {
            kiln_bail!(InvalidInput, "matrix multiply operands must have rank >= 1");
        }
        // Promote 1-D operands: a [K] → [1, K], b [K] → [K, 1]; transposes do not apply to them.
        let (ad, ta) = if a.rank() == 1 { (vec![1, a.shape[0]], false) } else { (a.shape.clone(), ta) };
        let (bd, tb) = if b.rank() == 1 { (vec![b.shape[0], 1], false) } else { (b.shape.clone(), tb) };
        let (ar, ac) = (ad[ad.len() - 2], ad[ad.len() - 1]);
        let (br, bc) = (bd[bd.len() - 2], bd[bd.len() - 1]);
        let (m, k, a_rs, a_cs) = if ta { (ac, ar, 1, ac) } else { (ar, ac, ac, 1) };
        let (kb, n, b_rs, b_cs) = if tb { (bc, br, 1, bc) } else { (br, bc, bc, 1) };
        if k != kb {
            kiln_bail!(ShapeMismatch, "matrix multiply inner dims differ: {:?} vs {:?}", a.shape, b.shape);
        }
        let a_batch = &ad[..ad.len() - 2];
        let b_batch = &bd[..bd.len() - 2];
        let rb = a_batch.len().max(b_batch.len());
        let mut batch = vec![1usize; rb];
        for i in 0..rb {
            let x = if i + a_batch.len() >= rb { a_batch[i + a_batch.len() - rb] } else { 1 };
            let y = if i + b_batch.len() >= rb { b_batch[i + b_batch.len() - rb] } else { 1 };
            if x != y && x != 1 && y != 1 {
                kiln_bail!(ShapeMismatch, "matrix multiply batch dims {:?} and {:?} do not broadcast", a_batch, b_batch);
            }
            batch[i] = x.max(y);
            if x == 0 || y == 0 {
                batch[i] = 0;
            }
        }
        let nb = checked_numel(&batch)?;
        if checked_numel(out)? != nb * m * n {
            kiln_bail!(Internal, "matrix multiply output {:?} does not match the operands {:?} x {:?}", out, a.shape, b.shape);
        }
        Ok(Shapes {
            m,
            n,
            k,
            a_rs,
            a_cs,
            b_rs,
            b_cs,
            a_off: broadcast_offsets(&batch, a_batch, m * k),
            b_off: broadcast_offsets(&batch, b_batch, k * n),
        })
    }
}

/// For each linear index over `out` batch dims, the linear index of the (right-aligned,
/// broadcast) `src` batch, times `mat` (elements per matrix).
pub fn broadcast_offsets(out: &[usize], src: &[usize], mat: usize) -> Vec<usize> {
    let total: usize = out.iter().product();
    let shift = out.len() - src.len();
    let mut res = Vec::with_capacity(total);
    let mut idx = vec![0usize; out.len()];
    for _ in 0..total {
        let mut lin = 0;
        for (j, &s) in src.iter().enumerate() {
            lin = lin * s + if s == 1 { 0 } else { idx[j + shift] };
        }
        res.push(lin * mat);
        for d in (0..out.len()).rev() {
            idx[d] += 1;
            if idx[d] < out[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    res
}

/// Fills `out` (shape `out_shape`) with `src` broadcast to it (right-aligned, dims 1 or equal).
pub fn broadcast_fill<T: Copy>(src: &[T], src_shape: &[usize], out: &mut [T], out_shape: &[usize]) -> Result<()> {
    if src_shape.len() > out_shape.len() {
        kiln_bail!(ShapeMismatch, "{:?} cannot broadcast to {:?}", src_shape, out_shape);
    }
    let shift = out_shape.len() - src_shape.len();
    for (i, &d) in src_shape.iter().enumerate() {
        if d != 1 && d != out_shape[i + shift] {
            kiln_bail!(ShapeMismatch, "{:?} cannot broadcast to {:?}", src_shape, out_shape);
        }
    }
    if src.len() == out.len() {
        out.copy_from_slice(src);
        return Ok(());
    }
    // Expand along the innermost axis then replicate rows: offsets per outer index.
    let inner = *out_shape.last().unwrap_or(&1);
    let src_inner = *src_shape.last().unwrap_or(&1);
    let outer_out = if out_shape.is_empty() { &[][..] } else { &out_shape[..out_shape.len() - 1] };
    let outer_src_full: Vec<usize> = if src_shape.is_empty() { vec![] } else { src_shape[..src_shape.len() - 1].to_vec() };
    let offs = broadcast_offsets(outer_out, &outer_src_full, src_inner);
    if inner == 0 {
        return Ok(());
    }
    for (row, &o) in out.chunks_mut(inner).zip(offs.iter()) {
        if src_inner == 1 {
            row.iter_mut().for_each(|x| *x = src[o]);
        } else {
            row.copy_from_slice(&src[o..o + inner]);
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_float<T: KFloat>(
    s: &Shapes,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    act: Option<&kiln_core::layer::ActivationKind>,
    out: &mut Tensor,
    tactic: MatmulTactic,
) -> Result<()> {
    let av = view::<T>(a);
    let bv = view::<T>(b);
    let out_shape = out.shape.clone();
    with_out::<T>(out, |o| {
        if let Some(bias) = bias {
            broadcast_fill(&view::<T>(bias), &bias.shape, o, &out_shape)?;
        }
        let mn = s.m * s.n;
        if tactic == MatmulTactic::GemmSingle && s.a_off.len() > 1 && mn > 0 {
            use rayon::prelude::*;
            o.par_chunks_mut(mn).enumerate().try_for_each(|(bi, chunk)| {
                matmul_into(
                    s.m,
                    s.n,
                    s.k,
                    chunk,
                    s.n,
                    bias.is_some(),
                    Mat { data: &av, offset: s.a_off[bi], rs: s.a_rs, cs: s.a_cs },
                    Mat { data: &bv, offset: s.b_off[bi], rs: s.b_rs, cs: s.b_cs },
                    gemm::Parallelism::None,
                )
            })?;
            if let Some(act) = act {
                apply_activation(act, o);
            }
            return Ok(());
        }
        let par = gemm_parallelism(s.m * s.a_off.len(), s.n, s.k);
        for (bi, (&ao, &bo)) in s.a_off.iter().zip(s.b_off.iter()).enumerate() {
            matmul_into(
                s.m,
                s.n,
                s.k,
                &mut o[bi * mn..(bi + 1) * mn],
                s.n,
                bias.is_some(),
                Mat { data: &av, offset: ao, rs: s.a_rs, cs: s.a_cs },
                Mat { data: &bv, offset: bo, rs: s.b_rs, cs: s.b_cs },
                par,
            )?;
        }
        if let Some(act) = act {
            apply_activation(act, o);
        }
        Ok(())
    })
}

fn run_int(s: &Shapes, a: &Tensor, b: &Tensor, bias: Option<&Tensor>, out: &mut Tensor) -> Result<()> {
    let av = a.data.to_i64_vec();
    let bv = b.data.to_i64_vec();
    let mut o = vec![0i64; out.numel()];
    if let Some(bias) = bias {
        broadcast_fill(&bias.data.to_i64_vec(), &bias.shape, &mut o, &out.shape)?;
    }
    let mn = s.m * s.n;
    for (bi, (&ao, &bo)) in s.a_off.iter().zip(s.b_off.iter()).enumerate() {
        for i in 0..s.m {
            for j in 0..s.n {
                let mut acc = o[bi * mn + i * s.n + j];
                for p in 0..s.k {
                    let x = av[ao + i * s.a_rs + p * s.a_cs];
                    let y = bv[bo + p * s.b_rs + j * s.b_cs];
                    acc = acc.wrapping_add(x.wrapping_mul(y));
                }
                o[bi * mn + i * s.n + j] = acc;
            }
        }
    }
    out.data = ints_from_i64(out.dtype(), &o)?;
    Ok(())
}

/// Integer data of `dtype` from i64 values (wrapping like a C cast).
pub fn ints_from_i64(dtype: kiln_core::DType, v: &[i64]) -> Result<TensorData> {
    use kiln_core::DType as D;
    Ok(match dtype {
        D::Int64 => TensorData::I64(v.to_vec()),
        D::Int32 => TensorData::I32(v.iter().map(|&x| x as i32).collect()),
        D::Int16 => TensorData::I16(v.iter().map(|&x| x as i16).collect()),
        D::Int8 => TensorData::I8(v.iter().map(|&x| x as i8).collect()),
        D::Uint64 => TensorData::U64(v.iter().map(|&x| x as u64).collect()),
        D::Uint32 => TensorData::U32(v.iter().map(|&x| x as u32).collect()),
        D::Uint16 => TensorData::U16(v.iter().map(|&x| x as u16).collect()),
        D::Uint8 => TensorData::U8(v.iter().map(|&x| x as u8).collect()),
        d => kiln_bail!(UnsupportedDtype, "{} is not an integer dtype", d),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mm(a: Tensor, b: Tensor, ta: bool, tb: bool, out: &[usize]) -> Tensor {
        let kind = LayerKind::MatrixMultiply { transpose_a: ta, transpose_b: tb, has_bias: false, activation: None };
        let mut o = vec![Tensor::zeros(a.dtype(), out).unwrap()];
        execute(&kind, &[Some(&a), Some(&b)], &mut o).unwrap();
        o.pop().unwrap()
    }

    #[test]
    fn matmul_2d_and_transpose() {
        let a = Tensor::from_f32(vec![2, 3], vec![1., 2., 3., 4., 5., 6.]).unwrap();
        let b = Tensor::from_f32(vec![3, 2], vec![7., 8., 9., 10., 11., 12.]).unwrap();
        assert_eq!(mm(a.clone(), b.clone(), false, false, &[2, 2]).as_f32().unwrap(), &[58., 64., 139., 154.]);
        // aᵀ is [3,2]; aᵀ·aᵀ is invalid, but aᵀ (3x2) · a (2x3) = 3x3.
        let r = mm(a.clone(), a.clone(), true, false, &[3, 3]);
        assert_eq!(r.as_f32().unwrap(), &[17., 22., 27., 22., 29., 36., 27., 36., 45.]);
        let r = mm(a.clone(), a, false, true, &[2, 2]);
        assert_eq!(r.as_f32().unwrap(), &[14., 32., 32., 77.]);
    }

    #[test]
    fn matmul_broadcast_and_1d() {
        let a = Tensor::from_f32(vec![2, 1, 2], vec![1., 2., 3., 4.]).unwrap();
        let b = Tensor::from_f32(vec![2], vec![10., 1.]).unwrap();
        assert_eq!(mm(a.clone(), b, false, false, &[2, 1]).as_f32().unwrap(), &[12., 34.]);
        let b2 = Tensor::from_f32(vec![3, 2, 1], vec![1., 0., 0., 1., 1., 1.]).unwrap();
        let a2 = Tensor::from_f32(vec![1, 2], vec![5., 7.]).unwrap();
        assert_eq!(mm(a2, b2, false, false, &[3, 1, 1]).as_f32().unwrap(), &[5., 7., 12.]);
    }

    #[test]
    fn matmul_int_and_bias_activation() {
        let a = Tensor::from_i64(vec![2, 2], vec![1, 2, 3, 4]).unwrap();
        let r = mm(a.clone(), a, false, false, &[2, 2]);
        assert_eq!(r.data, TensorData::I64(vec![7, 10, 15, 22]));
        let kind = LayerKind::MatrixMultiply {
            transpose_a: false,
            transpose_b: false,
            has_bias: true,
            activation: Some(kiln_core::layer::ActivationKind::Relu),
        };
        let a = Tensor::from_f32(vec![2, 2], vec![1., 0., 0., 1.]).unwrap();
        let b = Tensor::from_f32(vec![2, 2], vec![1., -2., 3., -4.]).unwrap();
        let bias = Tensor::from_f32(vec![2], vec![0.5, 10.]).unwrap();
        let mut o = vec![Tensor::zeros(kiln_core::DType::Float32, &[2, 2]).unwrap()];
        execute(&kind, &[Some(&a), Some(&b), Some(&bias)], &mut o).unwrap();
        assert_eq!(o[0].as_f32().unwrap(), &[1.5, 8., 3.5, 6.]);
    }

    #[test]
    fn big_matmul_matches_naive() {
        let (m, k, n) = (70, 90, 80);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 - 6.).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 5) % 11) as f32 - 5.).collect();
        let r = mm(Tensor::from_f32(vec![m, k], a.clone()).unwrap(), Tensor::from_f32(vec![k, n], b.clone()).unwrap(), false, false, &[m, n]);
        let r = r.as_f32().unwrap();
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                assert_eq!(r[i * n + j], want);
            }
        }
    }
}
