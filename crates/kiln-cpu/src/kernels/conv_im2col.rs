//! im2col / col2im for N-D windows. One "row" is one (channel, kernel tap) pair: the input values
//! that tap sees at every output position (zeros in the padding). Rows are independent, so
//! callers fill them in parallel.

use super::super::matmul::common::KFloat;

/// Input coordinate of each output position along one axis for kernel tap `k`
/// (`o * stride - pad + k * dilation`); negative or >= input means padding.
fn axis_coords(out: usize, stride: usize, pad: usize, k: usize, dil: usize) -> Vec<isize> {
    (0..out).map(|o| (o * stride + k * dil) as isize - pad as isize).collect()
}

/// The window geometry the rows need (a copy of the resolved conv geometry).
pub struct Window<'a> {
    pub input: &'a [usize],
    pub out: &'a [usize],
    pub kernel: &'a [usize],
    pub strides: &'a [usize],
    pub dilations: &'a [usize],
    pub pads_begin: &'a [usize],
}

impl Window<'_> {
    /// Splits a flat kernel-tap index into per-axis taps.
    pub fn taps(&self, mut t: usize) -> Vec<usize> {
        let mut k = vec![0; self.kernel.len()];
        for d in (0..self.kernel.len()).rev() {
            k[d] = t % self.kernel[d];
            t /= self.kernel[d];
        }
        k
    }

    fn coords(&self, taps: &[usize]) -> Vec<Vec<isize>> {
        (0..self.out.len()).map(|d| axis_coords(self.out[d], self.strides[d], self.pads_begin[d], taps[d], self.dilations[d])).collect()
    }

    fn in_strides(&self) -> Vec<usize> {
        kiln_core::tensor::strides(self.input)
    }
}

/// Fills `row` (one value per output position) with what kernel tap `tap` sees of channel `x`.
pub fn im2col_row<T: KFloat>(x: &[T], w: &Window, tap: usize, row: &mut [T]) {
    let coords = w.coords(&w.taps(tap));
    let st = w.in_strides();
    gather(x, w.input, &st, &coords, 0, 0, row);
}

fn gather<T: KFloat>(x: &[T], input: &[usize], st: &[usize], coords: &[Vec<isize>], d: usize, base: usize, row: &mut [T]) {
    let n = coords[d].len();
    if n == 0 {
        return;
    }
    let lim = input[d] as isize;
    if d + 1 == coords.len() {
        for (dst, &c) in row.iter_mut().zip(coords[d].iter()) {
            *dst = if c >= 0 && c < lim { x[base + c as usize] } else { T::zero() };
        }
        return;
    }
    let inner = row.len() / n;
    for (chunk, &c) in row.chunks_mut(inner).zip(coords[d].iter()) {
        if c >= 0 && c < lim {
            gather(x, input, st, coords, d + 1, base + c as usize * st[d], chunk);
        } else {
            chunk.iter_mut().for_each(|v| *v = T::zero());
        }
    }
}

/// Transposed-convolution scatter: adds `row` (one value per *input* position, for kernel tap
/// `tap`) into the output plane `out` at `i * stride - pad + k * dilation`, skipping positions
/// outside the output. Here `w.input` is the deconv input and `w.out` its output.
pub fn col2im_row<T: KFloat>(row: &[T], w: &Window, tap: usize, pads_begin: &[i64], out: &mut [T]) {
    let taps = w.taps(tap);
    let coords: Vec<Vec<isize>> = (0..w.input.len())
        .map(|d| (0..w.input[d]).map(|i| (i * w.strides[d] + taps[d] * w.dilations[d]) as isize - pads_begin[d] as isize).collect())
        .collect();
    let st = kiln_core::tensor::strides(w.out);
    scatter(row, w.out, &st, &coords, 0, 0, out);
}

fn scatter<T: KFloat>(row: &[T], outd: &[usize], st: &[usize], coords: &[Vec<isize>], d: usize, base: usize, out: &mut [T]) {
    let n = coords[d].len();
    if n == 0 {
        return;
    }
    let lim = outd[d] as isize;
    if d + 1 == coords.len() {
        for (&v, &c) in row.iter().zip(coords[d].iter()) {
            if c >= 0 && c < lim {
                out[base + c as usize] = out[base + c as usize] + v;
            }
        }
        return;
    }
    let inner = row.len() / n;
    for (chunk, &c) in row.chunks(inner).zip(coords[d].iter()) {
        if c >= 0 && c < lim {
            scatter(chunk, outd, st, coords, d + 1, base + c as usize * st[d], out);
        }
    }
}
