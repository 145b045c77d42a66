/**
 * KL-divergence (entropy) threshold search on an |x| histogram, pytorch-quantization semantics
 * (calibration.md §1.2): for every candidate i keep the first i bins with the tail folded into bin i-1 (P),
 * merge those bins into `numQuantizedBins` levels by floor(j·nq/i), expand back over the non-empty bins (Q)
 * and minimise KL(P‖Q). Each quirk is an explicit option with pytorch-quant's default.
 *
 * Cost: with prefix sums of b, b·ln b and the non-empty-bin count, one candidate costs O(nq) instead of O(i),
 * so ~2k candidates × 128 levels per tensor. Candidates within a hair of the minimum are re-evaluated directly
 * (O(i) each) so that exact ties resolve like the reference (sum order affects the last bits).
 */
import { KilnError } from '@kiln/core';

export interface EntropyOptions {
  /** First candidate bin count (pytorch-quant `start_bin`). Default 128. */
  startBin?: number;
  /** Quantized levels (128 = magnitudes of signed int8). Default 128. */
  numQuantizedBins?: number;
  /** Candidate step (pytorch-quant `stride`). Default 1. */
  stride?: number;
  /** Replace bin 0 by bin 1 before the search (pytorch-quant quirk against the spike of exact zeros). Default true. */
  zeroBinQuirk?: boolean;
  /** Which minimum wins on ties: 'last' (pytorch-quant) or 'first' (ORT/TVM). Default 'last'. */
  tieBreak?: 'last' | 'first';
  /** amax = i·w ('edge', pytorch-quant) or (i + 0.5)·w ('center', GTC 2017 slide). Default 'edge'. */
  threshold?: 'edge' | 'center';
}

export interface EntropyResult {
  /** Chosen candidate (number of kept bins). */
  bins: number;
  amax: number;
  divergence: number;
}

const xlogx = (x: number): number => (x > 0 ? x * Math.log(x) : 0);

/** KL(P‖Q) of the candidate keeping `i` bins, computed directly (reference path, also used for the ties). */
export function klDivergenceDirect(b: Float64Array, i: number, nq: number): number {
  let tail = 0;
  for (let j = i; j < b.length; j++) tail += b[j];
  const levelSum = new Float64Array(nq);
  const levelNz = new Float64Array(nq);
  for (let j = 0; j < i; j++) {
    const k = Math.floor((j * nq) / i);
    levelSum[k] += b[j];
    if (b[j] !== 0) levelNz[k]++;
  }
  let sp = 0;
  let sq = 0;
  const q = new Float64Array(i);
  for (let j = 0; j < i; j++) {
    const k = Math.floor((j * nq) / i);
    q[j] = b[j] !== 0 ? levelSum[k] / levelNz[k] : 0;
    sq += q[j];
    sp += b[j];
  }
  sp += tail;
  if (sp === 0 || sq === 0) return Infinity;
  let kl = 0;
  for (let j = 0; j < i; j++) {
    const pj = (j === i - 1 ? b[j] + tail : b[j]) / sp;
    if (pj === 0) continue;
    const qj = q[j] / sq;
    if (qj === 0) return Infinity;
    kl += pj * Math.log(pj / qj);
  }
  return kl;
}

/** The Q of §1.3 (expanded back over the non-empty bins), for tests and diagnostics. */
export function expandQuantized(p: ArrayLike<number>, nq: number): Float64Array {
  const i = p.length;
  const levelSum = new Float64Array(nq);
  const levelNz = new Float64Array(nq);
  for (let j = 0; j < i; j++) {
    const k = Math.floor((j * nq) / i);
    levelSum[k] += p[j];
    if (p[j] !== 0) levelNz[k]++;
  }
  const q = new Float64Array(i);
  for (let j = 0; j < i; j++) q[j] = p[j] !== 0 ? levelSum[Math.floor((j * nq) / i)] / levelNz[Math.floor((j * nq) / i)] : 0;
  return q;
}

/** KL(P‖Q) of two unnormalised distributions (each normalised first); +∞ where p > 0 and q = 0. */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let sp = 0;
  let sq = 0;
  for (let j = 0; j < p.length; j++) {
    sp += p[j];
    sq += q[j];
  }
  if (sp === 0 || sq === 0) return Infinity;
  let kl = 0;
  for (let j = 0; j < p.length; j++) {
    const pj = p[j] / sp;
    if (pj === 0) continue;
    const qj = q[j] / sq;
    if (qj === 0) return Infinity;
    kl += pj * Math.log(pj / qj);
  }
  return kl;
}

function checkInt(name: string, v: number, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) throw new KilnError('KILN_E_INVALID_VALUE', `entropy option ${name} must be an integer ≥ ${min}, got ${v}`);
  return v;
}

/** Every candidate's divergence (index = candidate bin count), fast path. Exposed for tests. */
export function entropyDivergences(counts: Float64Array, options: EntropyOptions = {}): Array<[number, number]> {
  const nq = checkInt('numQuantizedBins', options.numQuantizedBins ?? 128, 1);
  const start = checkInt('startBin', options.startBin ?? 128, 1);
  const stride = checkInt('stride', options.stride ?? 1, 1);
  const n = counts.length;
  const b = counts.slice();
  if ((options.zeroBinQuirk ?? true) && n > 1) b[0] = b[1];
  // Prefix sums: S[j] = Σ b[<j], L[j] = Σ b ln b over [<j], Z[j] = #non-empty bins among [<j].
  const S = new Float64Array(n + 1);
  const L = new Float64Array(n + 1);
  const Z = new Float64Array(n + 1);
  for (let j = 0; j < n; j++) {
    S[j + 1] = S[j] + b[j];
    L[j + 1] = L[j] + xlogx(b[j]);
    Z[j + 1] = Z[j] + (b[j] !== 0 ? 1 : 0);
  }
  const total = S[n];
  const out: Array<[number, number]> = [];
  for (let i = start; i <= n; i += stride) {
    const tail = total - S[i];
    const last = b[i - 1];
    if (last === 0 && tail > 0) {
      out.push([i, Infinity]);
      continue;
    }
    const sp = total; // Σ P = kept bins + folded tail
    const sq = S[i]; // Σ Q = Σ kept bins (each level's mass spread over its own non-empty bins)
    if (sp === 0 || sq === 0) {
      out.push([i, Infinity]);
      continue;
    }
    // Σ P ln P: bins before i-1 from the prefix, the last bin carries the tail.
    const plogp = L[i - 1] + xlogx(last + tail);
    // Σ P ln Q: level k holds bins [ceil(k·i/nq), ceil((k+1)·i/nq)); every non-empty bin of it has
    // Q = S_k / nz_k; the tail adds its mass at bin i-1 (in the last level, which is non-empty here).
    let plogq = 0;
    let lo = 0;
    for (let k = 0; k < nq; k++) {
      const hi = Math.ceil(((k + 1) * i) / nq);
      if (hi > lo) {
        const sk = S[hi] - S[lo];
        if (sk > 0) {
          const nz = Z[hi] - Z[lo];
          const mass = hi === i ? sk + tail : sk;
          plogq += mass * Math.log(sk / nz);
        }
      }
      lo = hi > lo ? hi : lo;
    }
    // KL = (1/sp)·(Σ P ln P − Σ P ln Q) − ln sp + ln sq
    const kl = (plogp - plogq) / sp - Math.log(sp) + Math.log(sq);
    out.push([i, kl < 0 ? 0 : kl]);
  }
  return out;
}

/** The entropy-calibrated amax of one histogram (bin width `binWidth`). */
export function entropyAmax(counts: Float64Array, binWidth: number, options: EntropyOptions = {}): EntropyResult {
  const nq = options.numQuantizedBins ?? 128;
  const tieBreak = options.tieBreak ?? 'last';
  if (tieBreak !== 'last' && tieBreak !== 'first') throw new KilnError('KILN_E_INVALID_VALUE', `entropy tieBreak must be 'last' or 'first', got '${String(tieBreak)}'`);
  const threshold = options.threshold ?? 'edge';
  if (threshold !== 'edge' && threshold !== 'center') throw new KilnError('KILN_E_INVALID_VALUE', `entropy threshold must be 'edge' or 'center', got '${String(threshold)}'`);
  const cands = entropyDivergences(counts, options);
  if (cands.length === 0) {
    // Fewer bins than startBin: nothing to clip, keep the whole range.
    return { bins: counts.length, amax: counts.length * binWidth, divergence: 0 };
  }
  let best = Infinity;
  for (const [, d] of cands) if (d < best) best = d;
  if (best === Infinity) return { bins: counts.length, amax: counts.length * binWidth, divergence: Infinity };
  // Re-evaluate the near-minimal candidates exactly, then apply the tie rule on those values.
  const b = counts.slice();
  if ((options.zeroBinQuirk ?? true) && b.length > 1) b[0] = b[1];
  const eps = 1e-9 * Math.max(best, 1e-12) + 1e-12;
  let chosen = -1;
  let chosenD = Infinity;
  for (const [i, d] of cands) {
    if (d > best + eps) continue;
    const exact = klDivergenceDirect(b, i, nq);
    if (exact < chosenD || (exact === chosenD && tieBreak === 'last')) {
      chosen = i;
      chosenD = exact;
    }
  }
  const amax = (threshold === 'edge' ? chosen : chosen + 0.5) * binWidth;
  return { bins: chosen, amax, divergence: chosenD };
}
