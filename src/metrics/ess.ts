/**
 * Importance weights in log space (DESIGN: AIS/SMC keep weights as logs, log-sum-exp with a max
 * shift). `-Infinity` is a valid log-weight (weight 0); `NaN` and `+Infinity` are errors.
 *
 * Kish's effective sample size (Kish 1965; Liu 1996): `ESS = (sum w)^2 / sum w^2`, in `[1, n]`
 * when some weight is positive. With `m = max log w`: `ESS = exp(2 LSE(l - m) - LSE(2 (l - m)))`,
 * which never overflows.
 */

function checkLogWeights(logw: ArrayLike<number>, what: string): void {
  if (logw.length < 1) throw new RangeError(`${what}: empty set of log-weights`);
  for (let i = 0; i < logw.length; i++) {
    const x = logw[i];
    if (Number.isNaN(x) || x === Infinity) throw new RangeError(`${what}: log-weight ${x} at index ${i} (only finite values and -Infinity are allowed)`);
  }
}

/** `log sum exp(x)` with a max shift; `-Infinity` for an empty input or when all entries are `-Infinity`. */
export function logSumExp(x: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i])) throw new RangeError(`logSumExp: NaN at index ${i}`);
    if (x[i] > m) m = x[i];
  }
  if (m === -Infinity) return -Infinity;
  if (m === Infinity) return Infinity;
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i] - m);
  return m + Math.log(s);
}

/**
 * Normalised weights `w_i = exp(l_i - LSE(l))` (summing to 1, to rounding). Throws when every log-weight is
 * `-Infinity` (all weights zero: nothing to normalise).
 */
export function normalizeLogWeights(logw: ArrayLike<number>): Float64Array {
  checkLogWeights(logw, 'normalizeLogWeights');
  let m = -Infinity;
  for (let i = 0; i < logw.length; i++) if (logw[i] > m) m = logw[i];
  if (m === -Infinity) throw new RangeError('normalizeLogWeights: all weights are zero (every log-weight is -Infinity)');
  // exp(l - m) / sum rather than exp(l - LSE): subtracting a large LSE loses ~|LSE| * 2^-52 in
  // every exponent, while l - m is exact for nearby values and the division is one rounding.
  const out = new Float64Array(logw.length);
  let s = 0;
  for (let i = 0; i < logw.length; i++) {
    out[i] = Math.exp(logw[i] - m);
    s += out[i];
  }
  for (let i = 0; i < logw.length; i++) out[i] /= s;
  return out;
}

/**
 * Kish effective sample size of importance weights given as logs. Equal weights give `n`, one
 * non-zero weight gives 1; all weights zero (every log-weight `-Infinity`) gives 0.
 */
export function essFromLogWeights(logw: ArrayLike<number>): number {
  checkLogWeights(logw, 'essFromLogWeights');
  let m = -Infinity;
  for (let i = 0; i < logw.length; i++) if (logw[i] > m) m = logw[i];
  if (m === -Infinity) return 0;
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < logw.length; i++) {
    const w = Math.exp(logw[i] - m); // in [0, 1], the largest is exactly 1
    s1 += w;
    s2 += w * w;
  }
  return (s1 * s1) / s2;
}
