//! Broadcasting iteration: maps an output shape to the offsets of several broadcast inputs.
//!
//! Shapes are first collapsed (size-1 output dims dropped, neighbouring dims merged when every input
//! is either broadcast in both or in neither), so the innermost loop runs over the longest possible
//! contiguous block where each input either advances by 1 or stays put (stride 0).

use kiln_core::error::Result;
use kiln_core::kiln_bail;

#[derive(Debug, Clone)]
pub struct Broadcast {
    /// Collapsed output dims, at least one.
    pub dims: Vec<usize>,
    /// Per input, per collapsed dim: element stride (0 where broadcast).
    pub strides: Vec<Vec<usize>>,
    /// Length of the innermost (contiguous output) block.
    pub inner: usize,
    /// Per input: 1 if it advances along the inner block, 0 if it is repeated.
    pub inner_step: Vec<usize>,
    /// Number of inner blocks (rows).
    pub rows: usize,
}

impl Broadcast {
    pub fn new(inputs: &[&[usize]], out: &[usize]) -> Result<Broadcast> {
        let rank = out.len();
        // Per output dim: which inputs are broadcast there.
        let mut kept: Vec<(usize, Vec<bool>)> = Vec::new();
        for d in 0..rank {
            let mut flags = Vec::with_capacity(inputs.len());
            for (k, s) in inputs.iter().enumerate() {
                if s.len() > rank {
                    kiln_bail!(ShapeMismatch, "input {k} of shape {:?} has a higher rank than the output {:?}", s, out);
                }
                let id = if d + s.len() >= rank { s[d + s.len() - rank] } else { 1 };
                if id != out[d] && id != 1 {
                    kiln_bail!(ShapeMismatch, "input {k} of shape {:?} cannot broadcast to {:?} (dimension {d}: {id} vs {})", s, out, out[d]);
                }
                flags.push(id != out[d]);
            }
            if out[d] == 1 {
                continue;
            }
            match kept.last_mut() {
                Some((n, f)) if *f == flags => *n *= out[d],
                _ => kept.push((out[d], flags)),
            }
        }
        if kept.is_empty() {
            kept.push((1, vec![false; inputs.len()]));
        }
        // A huge innermost block would leave nothing to parallelise over rows: split it into
        // [n / b, b] when a power-of-two block divides it (the split keeps every stride valid).
        if let Some((n, flags)) = kept.last().cloned() {
            if n > super::data_elem::PAR_THRESHOLD {
                if let Some(b) = [16384usize, 8192, 4096, 2048, 1024].into_iter().find(|b| n % b == 0) {
                    kept.pop();
                    kept.push((n / b, flags.clone()));
                    kept.push((b, flags));
                }
            }
        }
        let dims: Vec<usize> = kept.iter().map(|(n, _)| *n).collect();
        let mut strides = vec![vec![0usize; dims.len()]; inputs.len()];
        for k in 0..inputs.len() {
            let mut acc = 1usize;
            for d in (0..dims.len()).rev() {
                if !kept[d].1[k] {
                    strides[k][d] = acc;
                    acc *= dims[d];
                }
            }
        }
        let last = dims.len() - 1;
        let inner = dims[last];
        let inner_step = (0..inputs.len()).map(|k| strides[k][last]).collect();
        let rows = dims[..last].iter().product();
        Ok(Broadcast { dims, strides, inner, inner_step, rows })
    }

    /// Calls `f(row, offsets)` for each row in `start..end`, where `offsets[k]` is input k's element
    /// offset at the row's first element (the row's output offset is `row * inner`).
    pub fn for_rows(&self, start: usize, end: usize, mut f: impl FnMut(usize, &[usize])) {
        let outer = self.dims.len() - 1;
        let n = self.strides.len();
        let mut idx = vec![0usize; outer];
        let mut rem = start;
        for d in (0..outer).rev() {
            idx[d] = rem % self.dims[d];
            rem /= self.dims[d];
        }
        let mut offs: Vec<usize> = (0..n).map(|k| (0..outer).map(|d| idx[d] * self.strides[k][d]).sum()).collect();
        for row in start..end {
            f(row, &offs);
            // Advance the outer counter (odometer), updating offsets incrementally.
            let mut d = outer;
            while d > 0 {
                d -= 1;
                idx[d] += 1;
                for k in 0..n {
                    offs[k] += self.strides[k][d];
                }
                if idx[d] < self.dims[d] {
                    break;
                }
                for k in 0..n {
                    offs[k] -= self.strides[k][d] * self.dims[d];
                }
                idx[d] = 0;
            }
        }
    }
}

/// Row ranges for parallel work: about `PAR_THRESHOLD` elements each, at least one row.
pub fn row_chunks(rows: usize, inner: usize) -> usize {
    (super::data_elem::PAR_THRESHOLD / inner.max(1)).max(1).min(rows.max(1))
}

/// Runs `run(first_row, rows_chunk)` over `out` split into whole rows of `inner` elements, in
/// parallel when the tensor is large.
pub fn par_rows<O: Send>(out: &mut [O], inner: usize, rows: usize, run: impl Fn(usize, &mut [O]) + Sync) {
    if out.is_empty() || inner == 0 {
        return;
    }
    if out.len() < super::data_elem::PAR_THRESHOLD {
        run(0, out);
        return;
    }
    use rayon::prelude::*;
    let chunk_rows = row_chunks(rows, inner);
    out.par_chunks_mut(chunk_rows * inner).enumerate().for_each(|(i, c)| run(i * chunk_rows, c));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_and_iterates() {
        let b = Broadcast::new(&[&[2, 3, 4], &[3, 1]], &[2, 3, 4]).unwrap();
        assert_eq!(b.inner, 4);
        assert_eq!(b.inner_step, vec![1, 0]);
        let mut seen = vec![];
        b.for_rows(0, b.rows, |r, o| seen.push((r, o.to_vec())));
        assert_eq!(seen.len(), 6);
        assert_eq!(seen[4], (4, vec![16, 1]));
        let s = Broadcast::new(&[&[2, 3], &[2, 3]], &[2, 3]).unwrap();
        assert_eq!((s.rows, s.inner), (1, 6));
        let big = Broadcast::new(&[&[1 << 20], &[1]], &[1 << 20]).unwrap();
        assert_eq!((big.rows, big.inner, big.inner_step.clone()), (64, 16384, vec![1, 0]));
        let mut n = 0;
        big.for_rows(0, big.rows, |r, o| {
            assert_eq!(o, &[r * 16384, 0]);
            n += 1;
        });
        assert_eq!(n, 64);
        assert!(Broadcast::new(&[&[2]], &[3]).is_err());
    }
}
