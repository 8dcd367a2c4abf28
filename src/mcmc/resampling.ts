/**
 * Resampling from importance weights kept in log space (DESIGN.md: blackjax-shaped SMC, log-sum-exp
 * with a max shift), for SNIR, TDS, AIS and SMC. Moved here from `baselines/` (which re-exports it)
 * because `mcmc/` sits below `baselines/` in the architecture.
 *
 * Both schemes return `m` ancestor indices `a_1..a_m` with `E[#{j : a_j = i}] = m w_i`, where
 * `w_i = exp(l_i) / sum_k exp(l_k)` (unbiased resampling; Douc, Cappé & Moulines 2005, "Comparison
 * of resampling schemes for particle filtering", Sec. 2):
 *  - multinomial: `a_j` i.i.d. from `w` (inverse CDF of `m` independent uniforms);
 *  - systematic (Carpenter, Clifford & Fearnhead 1999; Kitagawa 1996): one uniform `u ~ U(0, 1)`,
 *    points `(j + u) / m`, `j = 0..m-1`, inverted through the CDF of `w`. The count of index i is
 *    then `floor(m w_i)` or `ceil(m w_i)`: lower variance than multinomial.
 *
 * Kish's effective sample size is `essFromLogWeights` of `metrics/ess.ts` (reused, not redefined).
 * Keys are explicit: the same key and weights give the same indices.
 *
 * Grouped versions (`gumbelMaxPick`, `groupedLogSumExp`, `groupedEss`, `groupedResample`) treat
 * the n rows as `groups` independent sets of `n / groups` consecutive rows (one AIS run per set),
 * with one random-number call for all groups and no per-group objects in the loops.
 */
import { makeBatch, type Batch } from '../core/batch.js';
import { uniform, type Key } from '../core/key.js';
import { normalizeLogWeights } from '../metrics/ess.js';

export { essFromLogWeights, logSumExp, normalizeLogWeights } from '../metrics/ess.js';

export type ResamplingScheme = 'systematic' | 'multinomial';

/** Cumulative sums of normalised weights, with the last entry forced to exactly 1. */
function cdfOf(logWeights: ArrayLike<number>): Float64Array {
  const w = normalizeLogWeights(logWeights);
  const cdf = new Float64Array(w.length);
  let acc = 0;
  for (let i = 0; i < w.length; i++) {
    acc += w[i];
    cdf[i] = acc;
  }
  // Rounding can leave the total a few ulps off 1: a point in that gap must map to the last
  // index of positive weight, never to a zero-weight index after it.
  let lastPositive = w.length - 1;
  while (lastPositive > 0 && w[lastPositive] === 0) lastPositive--;
  for (let i = lastPositive; i < w.length; i++) cdf[i] = 1;
  return cdf;
}

function checkCount(m: number, what: string): void {
  if (!Number.isInteger(m) || m < 0) throw new RangeError(`${what}: the number of draws must be a non-negative integer, got ${m}`);
}

/** Smallest index i with `u < cdf[i]` among entries with positive weight (binary search). */
export function invertCdf(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (u < cdf[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Systematic resampling: `m` (default: as many as weights) ancestor indices, in increasing order.
 * One uniform from `key`.
 */
export function systematicResample(key: Key, logWeights: ArrayLike<number>, m = logWeights.length): Int32Array {
  checkCount(m, 'systematicResample');
  const cdf = cdfOf(logWeights);
  const out = new Int32Array(m);
  if (m === 0) return out;
  const u0 = uniform(key, 1)[0];
  // The points (j + u0) / m increase, so the CDF is walked once: O(n + m).
  let i = 0;
  const last = cdf.length - 1;
  for (let j = 0; j < m; j++) {
    const u = (j + u0) / m;
    while (i < last && !(u < cdf[i])) i++;
    out[j] = i;
  }
  return out;
}

/**
 * Multinomial resampling: `m` (default: as many as weights) i.i.d. ancestor indices; draw j uses
 * uniform j of `key` (so the first draws do not depend on `m`).
 */
export function multinomialResample(key: Key, logWeights: ArrayLike<number>, m = logWeights.length): Int32Array {
  checkCount(m, 'multinomialResample');
  const cdf = cdfOf(logWeights);
  const u = uniform(key, m);
  const out = new Int32Array(m);
  for (let j = 0; j < m; j++) out[j] = invertCdf(cdf, u[j]);
  return out;
}

/** Resample by the named scheme. */
export function resampleIndices(
  key: Key, logWeights: ArrayLike<number>, m: number = logWeights.length, scheme: ResamplingScheme = 'systematic',
): Int32Array {
  switch (scheme) {
    case 'systematic': return systematicResample(key, logWeights, m);
    case 'multinomial': return multinomialResample(key, logWeights, m);
    default: throw new RangeError(`unknown resampling scheme '${String(scheme)}' (systematic, multinomial)`);
  }
}

/** How often each index was drawn: `counts[i] = #{j : idx[j] = i}`, for `n` indices. */
export function offspringCounts(idx: ArrayLike<number>, n: number): Int32Array {
  const c = new Int32Array(n);
  for (let j = 0; j < idx.length; j++) c[idx[j]]++;
  return c;
}

/** Rows `idx[0], idx[1], ...` of `x` as a new batch. */
export function gatherRows(x: Batch, idx: ArrayLike<number>): Batch {
  const d = x.dim;
  const out = makeBatch(idx.length, d);
  for (let j = 0; j < idx.length; j++) {
    const i = idx[j];
    if (!(i >= 0 && i < x.n)) throw new RangeError(`gatherRows: index ${i} out of range for ${x.n} rows`);
    out.data.set(x.data.subarray(i * d, (i + 1) * d), j * d);
  }
  return out;
}

/**
 * Self-normalised importance-sampling estimate of `E_q[x]` per coordinate from points `x` and
 * log-weights, with its delta-method standard error (DESIGN.md, "How to test a sampler" 3; Owen
 * 2013, "Monte Carlo theory, methods and examples", eq. 9.8):
 *   `mu = sum_i w_i x_i`,  `se^2 = sum_i w_i^2 (x_i - mu)^2`   (`w` normalised).
 */
export function selfNormalisedMean(x: Batch, logWeights: ArrayLike<number>): { mean: Float64Array; se: Float64Array } {
  if (logWeights.length !== x.n) throw new RangeError(`selfNormalisedMean: ${logWeights.length} weights for ${x.n} rows`);
  const w = normalizeLogWeights(logWeights);
  const d = x.dim;
  const mean = new Float64Array(d);
  for (let i = 0; i < x.n; i++) for (let j = 0; j < d; j++) mean[j] += w[i] * x.data[i * d + j];
  const se = new Float64Array(d);
  for (let i = 0; i < x.n; i++) {
    for (let j = 0; j < d; j++) {
      const r = x.data[i * d + j] - mean[j];
      se[j] += w[i] * w[i] * r * r;
    }
  }
  for (let j = 0; j < d; j++) se[j] = Math.sqrt(se[j]);
  return { mean, se };
}

/** Rows per group; throws unless `groups` divides `n`. */
export function groupSize(n: number, groups: number, what: string): number {
  if (!Number.isInteger(groups) || groups < 1) throw new RangeError(`${what}: groups must be a positive integer, got ${groups}`);
  if (n % groups !== 0 || n === 0) throw new RangeError(`${what}: ${n} rows cannot be split into ${groups} equal groups`);
  return n / groups;
}

function checkGroupedLogWeight(l: number, i: number, what: string): void {
  if (Number.isNaN(l) || l === Infinity) throw new RangeError(`${what}: log-weight ${l} at index ${i} (only finite values and -Infinity are allowed)`);
}

/**
 * One index per group of `n / groups` consecutive rows, drawn with probability ∝ `exp(logWeight)`
 * within the group, by the Gumbel-max trick (`argmax_i l_i + G_i`, `G_i = -log(-log u_i)` i.i.d.
 * Gumbel; Gumbel 1954, as in `jax.random.categorical`). Returns global row indices. One
 * `uniform(key, n)` call: row i's noise does not depend on n. A group whose weights are all zero
 * (every log-weight `-Infinity`) gets a uniformly random row of the group; its `groupedEss` is 0,
 * which is how a caller detects it.
 */
export function gumbelMaxPick(key: Key, logWeights: Float64Array, groups: number): Int32Array {
  const n = logWeights.length;
  const m = groupSize(n, groups, 'gumbelMaxPick');
  const u = uniform(key, n);
  const out = new Int32Array(groups);
  for (let g = 0; g < groups; g++) {
    let best = -Infinity;
    let arg = -1;
    let bestNoise = -Infinity;
    let argNoise = g * m;
    for (let i = g * m; i < (g + 1) * m; i++) {
      const l = logWeights[i];
      checkGroupedLogWeight(l, i, 'gumbelMaxPick');
      const gumbel = -Math.log(-Math.log(u[i]));
      const v = l + gumbel;
      if (v > best) {
        best = v;
        arg = i;
      }
      if (gumbel > bestNoise) {
        bestNoise = gumbel;
        argNoise = i;
      }
    }
    out[g] = arg >= 0 ? arg : argNoise;
  }
  return out;
}

/** `log sum exp` of each group's log-weights (max shift); `-Infinity` for a group of zero weights. */
export function groupedLogSumExp(logWeights: Float64Array, groups: number): Float64Array {
  const m = groupSize(logWeights.length, groups, 'groupedLogSumExp');
  const out = new Float64Array(groups);
  for (let g = 0; g < groups; g++) {
    let mx = -Infinity;
    for (let i = g * m; i < (g + 1) * m; i++) {
      checkGroupedLogWeight(logWeights[i], i, 'groupedLogSumExp');
      if (logWeights[i] > mx) mx = logWeights[i];
    }
    if (mx === -Infinity) {
      out[g] = -Infinity;
      continue;
    }
    let s = 0;
    for (let i = g * m; i < (g + 1) * m; i++) s += Math.exp(logWeights[i] - mx);
    out[g] = mx + Math.log(s);
  }
  return out;
}

/** Kish ESS `(sum w)^2 / sum w^2` of each group, in [1, n / groups]; 0 for a group of zero weights. */
export function groupedEss(logWeights: Float64Array, groups: number): Float64Array {
  const m = groupSize(logWeights.length, groups, 'groupedEss');
  const out = new Float64Array(groups);
  for (let g = 0; g < groups; g++) {
    let mx = -Infinity;
    for (let i = g * m; i < (g + 1) * m; i++) {
      checkGroupedLogWeight(logWeights[i], i, 'groupedEss');
      if (logWeights[i] > mx) mx = logWeights[i];
    }
    if (mx === -Infinity) continue;
    let s1 = 0;
    let s2 = 0;
    for (let i = g * m; i < (g + 1) * m; i++) {
      const w = Math.exp(logWeights[i] - mx);
      s1 += w;
      s2 += w * w;
    }
    out[g] = (s1 * s1) / s2;
  }
  return out;
}

export interface GroupedResampleOptions {
  scheme?: ResamplingScheme;
  /** Resample only the groups with a non-zero entry here (the others keep their rows); default all. */
  only?: Uint8Array;
}

/**
 * Resample every group within itself: returns n global ancestor indices, `n / groups` per group
 * (identity for groups left out by `only`). Systematic: one uniform per group (`uniform(key,
 * groups)`); multinomial: one per row (`uniform(key, n)`). A group of zero weights cannot be
 * resampled: it is an error to include one.
 */
export function groupedResample(key: Key, logWeights: Float64Array, groups: number, opts: GroupedResampleOptions = {}): Int32Array {
  const n = logWeights.length;
  const m = groupSize(n, groups, 'groupedResample');
  const scheme = opts.scheme ?? 'systematic';
  if (scheme !== 'systematic' && scheme !== 'multinomial') throw new RangeError(`unknown resampling scheme '${String(scheme)}' (systematic, multinomial)`);
  if (opts.only !== undefined && opts.only.length !== groups) throw new RangeError(`groupedResample: 'only' has ${opts.only.length} entries for ${groups} groups`);
  const u = uniform(key, scheme === 'systematic' ? groups : n);
  const out = new Int32Array(n);
  for (let g = 0; g < groups; g++) {
    const start = g * m;
    if (opts.only !== undefined && opts.only[g] === 0) {
      for (let j = 0; j < m; j++) out[start + j] = start + j;
      continue;
    }
    const cdf = cdfOf(logWeights.subarray(start, start + m));
    if (scheme === 'systematic') {
      let i = 0;
      for (let j = 0; j < m; j++) {
        const v = (j + u[g]) / m;
        while (i < m - 1 && !(v < cdf[i])) i++;
        out[start + j] = start + i;
      }
    } else {
      for (let j = 0; j < m; j++) out[start + j] = start + invertCdf(cdf, u[start + j]);
    }
  }
  return out;
}

/** Entries `idx[0], idx[1], ...` of `values` (a per-row array) as a new array. */
export function gatherValues(values: Float64Array, idx: ArrayLike<number>): Float64Array {
  const out = new Float64Array(idx.length);
  for (let j = 0; j < idx.length; j++) {
    const i = idx[j];
    if (!(i >= 0 && i < values.length)) throw new RangeError(`gatherValues: index ${i} out of range for ${values.length} values`);
    out[j] = values[i];
  }
  return out;
}
