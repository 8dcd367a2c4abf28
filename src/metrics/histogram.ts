/**
 * Histograms with numpy's bin-edge conventions, so that our JSD/TVD numbers can be checked
 * against numpy/scipy to rounding error.
 *
 * Edge rule (numpy.histogram, numpy.histogram2d / histogramdd): equal-width edges are
 * `e_i = lo + i * ((hi - lo) / B)` for `i < B` and `e_B = hi` exactly (numpy.linspace). Bin `i`
 * holds the half-open interval `[e_i, e_{i+1})`, except the last bin, which is closed:
 * `[e_{B-1}, e_B]`. A point is assigned by comparing it with these computed edges (not by the
 * raw formula `floor((x - lo) B / (hi - lo))`), exactly as numpy's `searchsorted` does, so a value
 * that lands on an edge after rounding goes to the same bin as in numpy.
 *
 * Points outside the range (in any coordinate, for 2-D) belong to no bin: they are counted in
 * `outside` and dropped, as numpy drops them.
 */
import type { Batch } from '../core/batch.js';
import { checkBatch, checkBins, checkValues } from './validate.js';

/** A 2-D range: `r` means `[-r, r]^2`, `[lo, hi]` means `[lo, hi]^2`, or one interval per axis. */
export type Range2d = number | readonly [number, number] | readonly [readonly [number, number], readonly [number, number]];

/** Result of `histogram2d`. */
export interface Histogram2d {
  /** `bins * bins` counts, row-major with x (column 0 of the batch) as the slow index: `counts[ix * bins + iy]` (numpy's `H[ix, iy]`). */
  readonly counts: Float64Array;
  readonly bins: number;
  /** `[[xlo, xhi], [ylo, yhi]]`. */
  readonly range: readonly [readonly [number, number], readonly [number, number]];
  /** Points that fell inside the range (sum of `counts`). */
  readonly inside: number;
  /** Points outside the range in at least one coordinate; they are not in `counts`. */
  readonly outside: number;
}

/** Result of `histogram1d`. */
export interface Histogram1d {
  /** `edges.length - 1` counts. */
  readonly counts: Float64Array;
  readonly inside: number;
  /** Values below the first or above the last edge; not in `counts`. */
  readonly outside: number;
}

/** Normalise a `Range2d` to one interval per axis and check it. */
export function resolveRange2d(range: Range2d): [[number, number], [number, number]] {
  let rx: readonly [number, number];
  let ry: readonly [number, number];
  if (typeof range === 'number') {
    rx = ry = [-range, range];
  } else if (typeof range[0] === 'number') {
    rx = ry = range as readonly [number, number];
  } else {
    [rx, ry] = range as readonly [readonly [number, number], readonly [number, number]];
  }
  for (const [lo, hi] of [rx, ry]) {
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(hi > lo)) {
      throw new RangeError(`histogram range must be finite with hi > lo, got [${lo}, ${hi}]`);
    }
  }
  return [[rx[0], rx[1]], [ry[0], ry[1]]];
}

/**
 * `bins + 1` equal-width edges from `lo` to `hi`, computed as numpy.linspace does
 * (`lo + i * step`, with the last edge set to `hi` exactly).
 */
export function linspaceEdges(lo: number, hi: number, bins: number): Float64Array {
  checkBins(bins, 'linspaceEdges');
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(hi > lo)) {
    throw new RangeError(`linspaceEdges: need finite lo < hi, got [${lo}, ${hi}]`);
  }
  const e = new Float64Array(bins + 1);
  const step = (hi - lo) / bins;
  for (let i = 0; i < bins; i++) e[i] = i * step + lo;
  e[bins] = hi;
  return e;
}

/**
 * Bin of `x` among equal-width `edges` (length B+1), or -1 when outside `[e_0, e_B]`.
 * Guess from the formula, then correct against the stored edges (numpy's rule).
 */
function uniformBin(x: number, edges: Float64Array, scale: number): number {
  const B = edges.length - 1;
  const lo = edges[0];
  if (x < lo || x > edges[B]) return -1;
  let j = Math.floor((x - lo) * scale);
  if (j > B - 1) j = B - 1;
  if (j < 0) j = 0;
  while (j > 0 && x < edges[j]) j--;
  while (j < B - 1 && x >= edges[j + 1]) j++;
  return j;
}

/**
 * 2-D histogram of a 2-column batch on `range` with `bins x bins` equal-width bins
 * (numpy.histogram2d(x, y, bins, range) with the same edges and the same closed last bin).
 */
export function histogram2d(b: Batch, bins: number, range: Range2d): Histogram2d {
  checkBatch(b, 'histogram2d');
  checkBins(bins, 'histogram2d');
  if (b.dim !== 2) throw new RangeError(`histogram2d needs 2-D points, got dimension ${b.dim}`);
  const [rx, ry] = resolveRange2d(range);
  const ex = linspaceEdges(rx[0], rx[1], bins);
  const ey = linspaceEdges(ry[0], ry[1], bins);
  const sx = bins / (rx[1] - rx[0]);
  const sy = bins / (ry[1] - ry[0]);
  const counts = new Float64Array(bins * bins);
  let outside = 0;
  const d = b.data;
  for (let i = 0; i < b.n; i++) {
    const ix = uniformBin(d[2 * i], ex, sx);
    const iy = uniformBin(d[2 * i + 1], ey, sy);
    if (ix < 0 || iy < 0) outside++;
    else counts[ix * bins + iy] += 1;
  }
  return { counts, bins, range: [rx, ry], inside: b.n - outside, outside };
}

/**
 * 1-D histogram of `values` with the given non-decreasing `edges` (at least two). Bin `i` is
 * `[edges[i], edges[i+1])`, the last bin is closed (numpy.histogram(values, bins=edges)).
 */
export function histogram1d(values: ArrayLike<number>, edges: ArrayLike<number>): Histogram1d {
  checkValues(values, 'histogram1d values');
  checkValues(edges, 'histogram1d edges');
  const B = edges.length - 1;
  if (B < 1) throw new RangeError(`histogram1d needs at least two edges, got ${edges.length}`);
  for (let i = 0; i < B; i++) {
    if (edges[i + 1] < edges[i]) throw new RangeError(`histogram1d: edges must be non-decreasing (edge ${i + 1} < edge ${i})`);
  }
  const counts = new Float64Array(B);
  const lo = edges[0];
  const hi = edges[B];
  let outside = 0;
  for (let k = 0; k < values.length; k++) {
    const x = values[k];
    if (x < lo || x > hi) {
      outside++;
      continue;
    }
    if (x === hi) {
      counts[B - 1] += 1; // closed last bin
      continue;
    }
    // searchsorted(edges, x, side='right') - 1: the last edge <= x.
    let l = 0;
    let r = B; // invariant: edges[l] <= x < edges[r]
    while (r - l > 1) {
      const m = (l + r) >>> 1;
      if (edges[m] <= x) l = m;
      else r = m;
    }
    counts[l] += 1;
  }
  return { counts, inside: values.length - outside, outside };
}

/**
 * `bins + 1` equal-width edges spanning `min(ref) .. max(ref)`, as numpy.histogram(ref, bins)
 * (and torch.histogram) choose them. When all reference values are equal, numpy widens the
 * range to `[v - 0.5, v + 0.5]`; so do we.
 */
export function edgesFromReference(ref: ArrayLike<number>, bins: number): Float64Array {
  checkValues(ref, 'edgesFromReference');
  checkBins(bins, 'edgesFromReference');
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0; k < ref.length; k++) {
    if (ref[k] < lo) lo = ref[k];
    if (ref[k] > hi) hi = ref[k];
  }
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  return linspaceEdges(lo, hi, bins);
}

/** Counts divided by their total (the histogram as a probability vector); zeros when the total is 0. */
export function normalizeCounts(counts: Float64Array): Float64Array {
  let s = 0;
  for (let i = 0; i < counts.length; i++) s += counts[i];
  const out = new Float64Array(counts.length);
  if (s > 0) for (let i = 0; i < counts.length; i++) out[i] = counts[i] / s;
  return out;
}
