#!/usr/bin/env python3
"""Reference amax values for @kiln/calibrate's tests (numpy only).

An independent re-implementation of pytorch-quantization's HistogramCalibrator (collect + compute_amax
'entropy' / 'percentile') and MaxCalibrator, written from calibration.md §1-§2, not from Kiln's TypeScript:

* collect: histogram of |x| over [0, max|x| of the first batch with a non-zero max] with 2048 bins; a later
  batch above the top edge keeps the bin width and appends bins (ceil(max / w)); bin i = [i*w, (i+1)*w), the
  maximum lands in the last bin; non-finite values are dropped.
* entropy: the literal candidate loop of pytorch-quant's _compute_amax_entropy (np.digitize grouping,
  bin 0 := bin 1, scipy-style KL with its own normalisation, last argmin, amax = edge[i]), O(B^2).
* percentile: cdf = cumsum(hist / total), searchsorted(left), amax = edge[idx].

Writes the input batches (packages/calibrate/test/fixtures/calib-<case>.npy, shape [batches, *batch]) and
calib-reference.json. Run from the repo root: python3 scripts/calib-reference.py
"""
import json
import os

import numpy as np

NUM_BINS = 2048
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'packages', 'calibrate', 'test', 'fixtures')


class Histogram:
    def __init__(self, num_bins=NUM_BINS):
        self.num_bins = num_bins
        self.width = 0.0
        self.hist = None
        self.amax = 0.0
        self.pending_zeros = 0

    def collect(self, x):
        a = np.abs(x.astype(np.float64).ravel())
        a = a[np.isfinite(a)]
        if a.size == 0:
            return
        m = float(a.max())
        self.amax = max(self.amax, m)
        if self.hist is None:
            if m == 0.0:
                self.pending_zeros += a.size
                return
            self.width = m / self.num_bins
            self.hist = np.zeros(self.num_bins, dtype=np.float64)
            self.hist[0] += self.pending_zeros
        elif m > self.width * self.hist.size:
            grown = np.zeros(int(np.ceil(m / self.width)), dtype=np.float64)
            grown[: self.hist.size] = self.hist
            self.hist = grown
        idx = np.minimum(np.floor(a / self.width).astype(np.int64), self.hist.size - 1)
        self.hist += np.bincount(idx, minlength=self.hist.size).astype(np.float64)


def scipy_entropy(p, q):
    """scipy.stats.entropy(p, q): normalise both, sum p*log(p/q) (0 where p == 0, inf where q == 0 < p)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / p.sum()
    q = q / q.sum()
    mask = p > 0
    if np.any(q[mask] == 0):
        return np.inf
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def entropy_amax(hist, width, start_bin=128, nq=128, zero_quirk=True, last_min=True):
    bins = hist.copy()
    if zero_quirk:
        bins[0] = bins[1]
    divergences = []
    arguments = []
    for i in range(start_bin, len(bins) + 1):
        space = np.linspace(0, i, num=nq + 1)
        digitized = np.digitize(np.arange(i), space) - 1
        digitized[bins[:i] == 0] = -1
        sums = np.zeros(nq)
        nz = np.zeros(nq)
        keep = digitized != -1
        np.add.at(sums, digitized[keep], bins[:i][keep])
        np.add.at(nz, digitized[keep], 1)
        q = np.zeros(i)
        q[keep] = sums[digitized[keep]] / nz[digitized[keep]]
        p = bins[:i].copy()
        p[-1] += bins[i:].sum()
        if q.sum() == 0:
            divergences.append(np.inf)
        else:
            divergences.append(scipy_entropy(p, q))
        arguments.append(i)
    d = np.array(divergences)
    if d.size == 0:
        return len(bins) * width
    k = len(d) - 1 - int(np.argmin(d[::-1])) if last_min else int(np.argmin(d))
    return arguments[k] * width


def percentile_amax(hist, width, percentile):
    total = hist.sum()
    cdf = np.cumsum(hist / total)
    idx = int(np.searchsorted(cdf, percentile / 100))
    return idx * width


def cases():
    rng = np.random.default_rng(20261121)
    shape = (2, 4096)
    out = {}
    out['normal'] = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
    out['laplace'] = [rng.laplace(0.0, 0.5, shape).astype(np.float32) for _ in range(3)]
    out['relu'] = [np.maximum(rng.standard_normal(shape) * 2.0, 0).astype(np.float32) for _ in range(3)]
    # The third batch is three times wider: the histogram grows by appending bins of the first width.
    out['growing'] = [rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32),
                      (rng.standard_normal(shape) * 3.0).astype(np.float32)]
    # An all-zero first batch: the histogram starts at the second batch (its zeros go to bin 0).
    out['zeros_first'] = [np.zeros(shape, np.float32), rng.exponential(1.0, shape).astype(np.float32),
                          rng.uniform(-2.0, 2.0, shape).astype(np.float32)]
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    ref = {'numBins': NUM_BINS, 'cases': {}}
    for name, batches in cases().items():
        np.save(os.path.join(OUT, f'calib-{name}.npy'), np.stack(batches))
        h = Histogram()
        for b in batches:
            h.collect(b)
        ref['cases'][name] = {
            'file': f'calib-{name}.npy',
            'batchShape': list(batches[0].shape),
            'numBins': int(h.hist.size),
            'binWidth': h.width,
            'total': float(h.hist.sum()),
            'minmax': h.amax,
            'entropy': entropy_amax(h.hist, h.width),
            'entropyNoZeroQuirk': entropy_amax(h.hist, h.width, zero_quirk=False),
            'entropyFirstMin': entropy_amax(h.hist, h.width, last_min=False),
            'percentile99.99': percentile_amax(h.hist, h.width, 99.99),
            'percentile99.9': percentile_amax(h.hist, h.width, 99.9),
            'percentile99': percentile_amax(h.hist, h.width, 99.0),
        }
    # §1.3's small full search (16 bins, nq = 4, start = 4): 12 without the zero-bin quirk, 16 with it.
    small = np.array([10, 8, 6, 5, 4, 3, 2, 2, 1, 1, 0, 1, 0, 0, 0, 1], dtype=np.float64)
    ref['small'] = {
        'withQuirk': entropy_amax(small, 1.0, start_bin=4, nq=4),
        'noQuirk': entropy_amax(small, 1.0, start_bin=4, nq=4, zero_quirk=False),
    }
    with open(os.path.join(OUT, 'calib-reference.json'), 'w') as f:
        json.dump(ref, f, indent=2)
        f.write('\n')
    print(json.dumps(ref, indent=2))


if __name__ == '__main__':
    main()
