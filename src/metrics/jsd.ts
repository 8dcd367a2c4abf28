/**
 * Jensen–Shannon divergence between two 2-D point sets through their histograms (SPEC §2 JSD
 * protocol): `JSD(P, Q) = 1/2 KL(P || M) + 1/2 KL(Q || M)`, `M = (P + Q) / 2`, natural log, so
 * `0 <= JSD <= ln 2`. P and Q are the normalised `B x B` histograms on a fixed rectangle.
 *
 * It equals `scipy.spatial.distance.jensenshannon(p, q) ** 2` (scipy returns the JS *distance*,
 * the square root of the divergence; natural base by default), computed term by term the same
 * way (`rel_entr(p, m) = p log(p / m)`, `0` where `p = 0`).
 *
 * Out-of-range points (our documented choice): the square is meant to cover both sets (SPEC);
 * points that still fall outside are dropped and each histogram is normalised by its own count
 * *inside* the range. The `...Detailed` variant reports how many were dropped, so a caller can flag
 * a protocol whose square is too small. If one set has no point inside at all, its histogram is
 * undefined; we return the maximum `ln 2` (the sets share no bin) and still report the counts.
 * If neither set has a point inside, we throw.
 */
import type { Batch } from '../core/batch.js';
import { histogram2d, resolveRange2d, type Range2d } from './histogram.js';
import { checkPair } from './validate.js';

/** Protocol of a histogram metric on a 2-D square. */
export interface Histogram2dOptions {
  /** Bins per axis (default 64). */
  bins?: number;
  /** `r` for `[-r, r]^2` (default 4.5), `[lo, hi]` for `[lo, hi]^2`, or one interval per axis. */
  range?: Range2d;
}

/** A histogram divergence with the protocol and the out-of-range counts. */
export interface Histogram2dDivergence {
  readonly value: number;
  readonly bins: number;
  readonly range: readonly [readonly [number, number], readonly [number, number]];
  readonly insideA: number;
  readonly outsideA: number;
  readonly insideB: number;
  readonly outsideB: number;
}

export const DEFAULT_HIST_BINS = 64;
export const DEFAULT_HIST_RANGE = 4.5;

/**
 * JSD (natural log) between two non-negative count vectors of the same length, each normalised
 * by its own sum (scipy's `jensenshannon(p, q) ** 2`). A vector summing to 0 is an error here;
 * the point-set functions handle that case before calling.
 */
export function jsdFromCounts(p: ArrayLike<number>, q: ArrayLike<number>): number {
  if (p.length !== q.length) throw new RangeError(`jsdFromCounts: lengths differ (${p.length} vs ${q.length})`);
  if (p.length === 0) throw new RangeError('jsdFromCounts: empty vectors');
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < p.length; i++) {
    if (!(p[i] >= 0) || !(q[i] >= 0) || !Number.isFinite(p[i]) || !Number.isFinite(q[i])) {
      throw new RangeError(`jsdFromCounts: entries must be finite and >= 0 (index ${i}: ${p[i]}, ${q[i]})`);
    }
    sp += p[i];
    sq += q[i];
  }
  if (!(sp > 0) || !(sq > 0)) throw new RangeError(`jsdFromCounts: a vector sums to 0 (${sp}, ${sq})`);
  let js = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i] / sp;
    const qi = q[i] / sq;
    const m = (pi + qi) / 2;
    if (pi > 0) js += pi * Math.log(pi / m);
    if (qi > 0) js += qi * Math.log(qi / m);
  }
  // Rounding can leave a tiny negative value for identical inputs; the divergence is >= 0.
  return Math.max(0, js / 2);
}

/** JSD between the 2-D histograms of `a` and `b`, with the protocol and out-of-range counts. */
export function jsdHistogram2dDetailed(a: Batch, b: Batch, opts: Histogram2dOptions = {}): Histogram2dDivergence {
  return histogramDivergence(a, b, opts, 'jsdHistogram2d', jsdFromCounts, Math.LN2);
}

/**
 * Jensen–Shannon divergence (natural log, in `[0, ln 2]`) between the normalised `bins x bins`
 * histograms of two 2-D point sets on `range` (defaults: 64 bins, `[-4.5, 4.5]^2`). Symmetric in
 * its arguments. Out-of-range points are dropped; see `jsdHistogram2dDetailed` for their counts.
 *
 * @example jsdHistogram2d(samples, groundTruth, { bins: 64, range: 4.5 })
 */
export function jsdHistogram2d(a: Batch, b: Batch, opts: Histogram2dOptions = {}): number {
  return jsdHistogram2dDetailed(a, b, opts).value;
}

/**
 * Shared driver of the 2-D histogram divergences: histogram both sets with one protocol, apply
 * `fromCounts`, and return `maxValue` when exactly one set has nothing inside the range.
 */
export function histogramDivergence(
  a: Batch,
  b: Batch,
  opts: Histogram2dOptions,
  what: string,
  fromCounts: (p: Float64Array, q: Float64Array) => number,
  maxValue: number,
): Histogram2dDivergence {
  checkPair(a, b, what);
  if (a.dim !== 2) throw new RangeError(`${what} needs 2-D points, got dimension ${a.dim}`);
  const bins = opts.bins ?? DEFAULT_HIST_BINS;
  const range = resolveRange2d(opts.range ?? DEFAULT_HIST_RANGE);
  const ha = histogram2d(a, bins, range);
  const hb = histogram2d(b, bins, range);
  const base = { bins, range, insideA: ha.inside, outsideA: ha.outside, insideB: hb.inside, outsideB: hb.outside };
  if (ha.inside === 0 && hb.inside === 0) {
    throw new RangeError(
      `${what}: no point of either set lies inside the range [${range[0]}] x [${range[1]}]; widen the range`,
    );
  }
  if (ha.inside === 0 || hb.inside === 0) return { value: maxValue, ...base };
  return { value: fromCounts(ha.counts, hb.counts), ...base };
}
