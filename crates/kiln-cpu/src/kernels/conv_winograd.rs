//! Winograd F(2×2, 3×3) convolution (Lavin & Gray 2015) for 3×3, stride-1, dilation-1, ungrouped
//! 2-D convolutions: each 4×4 input tile gives a 2×2 output tile with 16 multiplies instead of 36.
//!
//! Per image and block of tiles: U = G g Gᵀ (filters, once per call), V = Bᵀ d B (input tiles),
//! then for each of the 16 transform positions ξ one GEMM M[ξ] = U[ξ] (M×C) · V[ξ] (C×tiles), and
//! Y = Aᵀ M A (output tiles). Tiles are processed in blocks so the transformed buffers stay small.

use super::super::matmul::common::{gemm_parallelism, matmul_into, KFloat, Mat};
use kiln_core::error::Result;
use rayon::prelude::*;

/// Geometry of one Winograd convolution (NCHW, 3×3 kernel, stride 1, dilation 1, groups 1).
pub struct WinoGeom {
    pub n: usize,
    pub c: usize,
    pub m: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub pad_top: usize,
    pub pad_left: usize,
}

/// Floats the transformed input + product buffers of one block may take (≈16 MB at f32).
const BLOCK_FLOATS: usize = 4 << 20;
const PAR_MIN: usize = 1 << 14;

/// U[ξ][m][c] = (G g Gᵀ)[ξ] for every filter g = w[m, c] (3×3).
fn transform_filters<T: KFloat>(w: &[T], m: usize, c: usize) -> Vec<T> {
    let half = T::f(0.5);
    let mut u = vec![T::zero(); 16 * m * c];
    for mm in 0..m {
        for cc in 0..c {
            let g = &w[(mm * c + cc) * 9..(mm * c + cc) * 9 + 9];
            // tmp = G g (4×3); G = [[1,0,0],[½,½,½],[½,-½,½],[0,0,1]].
            let mut tmp = [[T::zero(); 3]; 4];
            for j in 0..3 {
                let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j]);
                tmp[0][j] = g0;
                tmp[1][j] = (g0 + g1 + g2) * half;
                tmp[2][j] = (g0 - g1 + g2) * half;
                tmp[3][j] = g2;
            }
            // U = tmp Gᵀ (4×4).
            for (i, r) in tmp.iter().enumerate() {
                let vals = [r[0], (r[0] + r[1] + r[2]) * half, (r[0] - r[1] + r[2]) * half, r[2]];
                for (j, v) in vals.into_iter().enumerate() {
                    u[((i * 4 + j) * m + mm) * c + cc] = v;
                }
            }
        }
    }
    u
}

/// V = Bᵀ d B for one 4×4 tile; Bᵀ = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]].
#[inline]
fn transform_tile<T: KFloat>(d: &[[T; 4]; 4]) -> [[T; 4]; 4] {
    let mut t = [[T::zero(); 4]; 4];
    for j in 0..4 {
        t[0][j] = d[0][j] - d[2][j];
        t[1][j] = d[1][j] + d[2][j];
        t[2][j] = d[2][j] - d[1][j];
        t[3][j] = d[1][j] - d[3][j];
    }
    let mut v = [[T::zero(); 4]; 4];
    for i in 0..4 {
        let r = &t[i];
        v[i] = [r[0] - r[2], r[1] + r[2], r[2] - r[1], r[1] - r[3]];
    }
    v
}

/// Y = Aᵀ M A for one tile; Aᵀ = [[1,1,1,0],[0,1,-1,-1]].
#[inline]
fn output_tile<T: KFloat>(mt: &[[T; 4]; 4]) -> [[T; 2]; 2] {
    let mut t = [[T::zero(); 4]; 2];
    for j in 0..4 {
        t[0][j] = mt[0][j] + mt[1][j] + mt[2][j];
        t[1][j] = mt[1][j] - mt[2][j] - mt[3][j];
    }
    [[t[0][0] + t[0][1] + t[0][2], t[0][1] - t[0][2] - t[0][3]], [t[1][0] + t[1][1] + t[1][2], t[1][1] - t[1][2] - t[1][3]]]
}

/// `o` (N×M×OH×OW) = conv(x, w) + bias. Callers check eligibility and buffer sizes.
pub fn conv_f2x3<T: KFloat>(x: &[T], w: &[T], bias: Option<&[T]>, o: &mut [T], g: &WinoGeom) -> Result<()> {
    let block = (BLOCK_FLOATS / (16 * (g.c + g.m)).max(1)).max(16);
    conv_blocked(x, w, bias, o, g, block)
}

/// `conv_f2x3` with at most `block` tiles transformed at a time.
fn conv_blocked<T: KFloat>(x: &[T], w: &[T], bias: Option<&[T]>, o: &mut [T], g: &WinoGeom, block: usize) -> Result<()> {
    let (c, m) = (g.c, g.m);
    let (th, tw) = (g.oh.div_ceil(2), g.ow.div_ceil(2));
    let tiles = th * tw;
    if tiles == 0 || m == 0 || g.n == 0 {
        return Ok(());
    }
    let u = transform_filters(w, m, c);
    let block = block.clamp(1, tiles);
    let (p_in, p_out) = (g.h * g.w, g.oh * g.ow);
    let mut v = vec![T::zero(); c * 16 * block];
    let mut prod = vec![T::zero(); m * 16 * block];
    for img in 0..g.n {
        let ximg = &x[img * c * p_in..(img + 1) * c * p_in];
        let oimg = &mut o[img * m * p_out..(img + 1) * m * p_out];
        let mut t0 = 0;
        while t0 < tiles {
            let tb = block.min(tiles - t0);
            // Input transform: V[c][ξ][t] (channel-major so channels fill in parallel).
            let fill = |(cc, vc): (usize, &mut [T])| {
                let plane = &ximg[cc * p_in..(cc + 1) * p_in];
                for k in 0..tb {
                    let (ty, tx) = ((t0 + k) / tw, (t0 + k) % tw);
                    let mut d = [[T::zero(); 4]; 4];
                    for (i, row) in d.iter_mut().enumerate() {
                        let r = (2 * ty + i) as isize - g.pad_top as isize;
                        if r < 0 || r >= g.h as isize {
                            continue;
                        }
                        for (j, dv) in row.iter_mut().enumerate() {
                            let col = (2 * tx + j) as isize - g.pad_left as isize;
                            if col >= 0 && col < g.w as isize {
                                *dv = plane[r as usize * g.w + col as usize];
                            }
                        }
                    }
                    let vt = transform_tile(&d);
                    for (xi, val) in vt.iter().flatten().enumerate() {
                        vc[xi * tb + k] = *val;
                    }
                }
            };
            let vslice = &mut v[..c * 16 * tb];
            if c * tb * 16 >= PAR_MIN {
                vslice.par_chunks_mut(16 * tb).enumerate().for_each(fill);
            } else {
                vslice.chunks_mut(16 * tb).enumerate().for_each(fill);
            }
            // 16 GEMMs: prod[m][ξ][t] = Σ_c U[ξ][m][c] · V[c][ξ][t].
            let pslice = &mut prod[..m * 16 * tb];
            for xi in 0..16 {
                matmul_into(
                    m,
                    tb,
                    c,
                    &mut pslice[xi * tb..],
                    16 * tb,
                    false,
                    Mat { data: &u, offset: xi * m * c, rs: c, cs: 1 },
                    Mat { data: &v[..c * 16 * tb], offset: xi * tb, rs: 16 * tb, cs: 1 },
                    gemm_parallelism(m, tb, c),
                )?;
            }
            // Output transform, one output channel per task.
            let emit = |(mm, (pm, plane)): (usize, (&[T], &mut [T]))| {
                let b = bias.map_or(T::zero(), |b| b[mm]);
                for k in 0..tb {
                    let (ty, tx) = ((t0 + k) / tw, (t0 + k) % tw);
                    let mut mt = [[T::zero(); 4]; 4];
                    for (xi, val) in mt.iter_mut().flatten().enumerate() {
                        *val = pm[xi * tb + k];
                    }
                    let y = output_tile(&mt);
                    for (i, row) in y.iter().enumerate() {
                        let r = 2 * ty + i;
                        if r >= g.oh {
                            continue;
                        }
                        for (j, &val) in row.iter().enumerate() {
                            let col = 2 * tx + j;
                            if col < g.ow {
                                plane[r * g.ow + col] = val + b;
                            }
                        }
                    }
                }
            };
            if m * tb * 16 >= PAR_MIN {
                pslice.par_chunks(16 * tb).zip(oimg.par_chunks_mut(p_out)).enumerate().for_each(emit);
            } else {
                pslice.chunks(16 * tb).zip(oimg.chunks_mut(p_out)).enumerate().for_each(emit);
            }
            t0 += tb;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_do_not_change_results() {
        // 9×9 output → 5×5 = 25 tiles: blocks of 4 leave a partial last block.
        let g = WinoGeom { n: 2, c: 3, m: 2, h: 9, w: 9, oh: 9, ow: 9, pad_top: 1, pad_left: 1 };
        let x: Vec<f32> = (0..2 * 3 * 81).map(|i| ((i * 37 % 19) as f32 - 9.0) / 7.0).collect();
        let w: Vec<f32> = (0..2 * 3 * 9).map(|i| ((i * 11 % 13) as f32 - 6.0) / 5.0).collect();
        let bias = [0.25f32, -0.5];
        let mut whole = vec![0f32; 2 * 2 * 81];
        let mut blocked = vec![0f32; 2 * 2 * 81];
        conv_blocked(&x, &w, Some(&bias), &mut whole, &g, 1000).unwrap();
        conv_blocked(&x, &w, Some(&bias), &mut blocked, &g, 4).unwrap();
        assert_eq!(whole, blocked);
    }
}
