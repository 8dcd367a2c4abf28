/**
 * Exact 1-D Wasserstein distance between two empirical distributions (uniform weights, sizes may
 * differ), by the quantile-function formula (e.g. Villani 2003, Thm 2.18; Peyré & Cuturi 2019,
 * Rem. 2.30): `W_p^p = int_0^1 |F^{-1}(t) - G^{-1}(t)|^p dt`.
 *
 * Both quantile functions are step functions: with `a` sorted (n values) and `b` sorted (m),
 * `F^{-1}` is `a_i` on `((i)/n, (i+1)/n]`. Merging the breakpoints `i/n` and `j/m` gives the
 * integral exactly. The breakpoints are compared in integers (`(i+1) m` vs `(j+1) n`, units of
 * `1/(n m)`), so coinciding breakpoints are never split by rounding.
 * For p = 1 this equals scipy.stats.wasserstein_distance(a, b) (which integrates |F - G| dx).
 */
import { checkValues } from './validate.js';

/** Sorted copy as Float64Array. */
function sorted(v: ArrayLike<number>): Float64Array {
  return Float64Array.from(v).sort();
}

/** `W_p^p` between two already-sorted samples. */
export function wassersteinPow1dSorted(a: Float64Array, b: Float64Array, p: number): number {
  const n = a.length;
  const m = b.length;
  const nm = n * m;
  let i = 0;
  let j = 0;
  let t = 0; // current breakpoint, in units of 1/(n m)
  let s = 0;
  while (i < n && j < m) {
    const ti = (i + 1) * m;
    const tj = (j + 1) * n;
    const next = ti < tj ? ti : tj;
    const diff = Math.abs(a[i] - b[j]);
    s += ((next - t) / nm) * (p === 1 ? diff : p === 2 ? diff * diff : Math.pow(diff, p));
    t = next;
    if (ti === next) i++;
    if (tj === next) j++;
  }
  return s;
}

/**
 * Exact `W_p` (p >= 1, default 1) between the empirical distributions of `a` and `b`
 * (uniform weights; sizes may differ).
 *
 * @example wasserstein1d([0, 1, 3], [5, 6, 8]) // 5
 */
export function wasserstein1d(a: ArrayLike<number>, b: ArrayLike<number>, p = 1): number {
  if (!(p >= 1) || !Number.isFinite(p)) throw new RangeError(`wasserstein1d: p must be a finite number >= 1, got ${p}`);
  checkValues(a, 'wasserstein1d: first set');
  checkValues(b, 'wasserstein1d: second set');
  const s = wassersteinPow1dSorted(sorted(a), sorted(b), p);
  return p === 1 ? s : Math.pow(s, 1 / p);
}
