/**
 * A spectral importance weight for small grey images (the paper's Sec. 4.3-2, Exp-(b): `l(x)`
 * "assigns higher values to images with pronounced high-frequency components, identified via
 * Fourier Transform with radial masks"; Fig. 5, Table 2 row "a frequency analyzer"). Here for
 * the 8x8 digits, in the score model's units `x in [-1, 1]` (`io/digits.ts`).
 *
 * Definition. Intensity `u = (x + 1) / 2` in [0, 1] (ink 1, paper 0), its 2-D DFT
 * `U_k = sum_n u_n exp(-2 pi i (k_r r_n + k_c c_n) / S)` on the `S x S` grid, and the radial mask
 * `|k| = sqrt(f(k_r)^2 + f(k_c)^2) >= cutoff` with the folded frequency `f(k) = min(k, S - k)`
 * (cycles per image, 0..S/2). The high-frequency energy is
 *   H(x) = (1 / S^4) sum_{|k| >= cutoff} |U_k|^2,
 * by Parseval the mean square of the high-passed image (`H <= mean u^2 <= 1`). Two weights:
 *  - `highFrequencyPowerWeight`: `l(x) = (H(x) / H0)^gamma` (the paper's "frequency analyzer"
 *    is a plain energy, i.e. gamma = 1; gamma sets the strength, `H0` only the scale of `l`).
 *    `log l = gamma log(H / H0)`, whose gradient `gamma grad H / H` SHRINKS as `H` grows: the
 *    tilt saturates, which keeps ISSGM stable (below). Used by `bench:digits`.
 *  - `highFrequencyWeight`: the exponential tilt `l(x) = exp(lambda H(x))`. `log l = lambda H` is
 *    quadratic in `x`, so `g = grad log l` grows linearly with the Tweedie estimate: measured on
 *    the digits score model (lambda 100, 200 steps) ISSGM ran away (non-finite weights, `H` up
 *    to 1e34), because at large t the first-order approximation (12) over-tilts, the over-tilted
 *    `x0h` gets more high-frequency energy, and that raises `g` again. Kept for experiments and
 *    for exact-tilt tests.
 *
 * `H` is a quadratic form `|u W|^2 / S^4` with `W` the `[S^2, 2K]` matrix of the masked cosines
 * and sines; the engine evaluates it with its gradient by autodiff.
 */
import type { Batch } from '../core/batch.js';
import { np, rowValues, valueAndGrad, type JaxArray } from '../core/engine.js';
import type { LogWeight } from '../core/types.js';

export interface FrequencyWeightOptions {
  /** Image side S (images are `S x S`, row-major) [8]. */
  side?: number;
  /** Radial cutoff in cycles per image: frequencies with `|k| >= cutoff` count as high [2.5]. */
  cutoff?: number;
  /** Tilt strength `lambda` of `l = exp(lambda H)` [required for the weight]. */
  lambda?: number;
}

/** The masked DFT basis: `[S^2, 2K]` row-major (cos columns then sin columns) and K. */
export function highPassBasis(side = 8, cutoff = 2.5): { basis: Float64Array; columns: number } {
  if (!Number.isInteger(side) || side < 2) throw new RangeError(`image side must be an integer >= 2, got ${side}`);
  if (!(cutoff >= 0)) throw new RangeError(`cutoff must be >= 0, got ${cutoff}`);
  const ks: [number, number][] = [];
  const fold = (k: number): number => Math.min(k, side - k);
  for (let kr = 0; kr < side; kr++) for (let kc = 0; kc < side; kc++) if (Math.hypot(fold(kr), fold(kc)) >= cutoff) ks.push([kr, kc]);
  const K = ks.length;
  const N = side * side;
  const basis = new Float64Array(N * 2 * K);
  for (let n = 0; n < N; n++) {
    const r = Math.floor(n / side);
    const c = n % side;
    ks.forEach(([kr, kc], j) => {
      const th = (2 * Math.PI * (kr * r + kc * c)) / side;
      basis[n * 2 * K + j] = Math.cos(th);
      basis[n * 2 * K + K + j] = Math.sin(th);
    });
  }
  return { basis, columns: 2 * K };
}

/** `H(x)` per row in float64 (plain TS; the reference the engine weight is tested against). */
export function highFrequencyEnergy(x: Batch, opts: FrequencyWeightOptions = {}): Float64Array {
  const side = opts.side ?? 8;
  if (x.dim !== side * side) throw new RangeError(`high-frequency energy: rows have ${x.dim} values, images of side ${side} need ${side * side}`);
  const { basis, columns } = highPassBasis(side, opts.cutoff ?? 2.5);
  const N = side * side;
  const out = new Float64Array(x.n);
  const proj = new Float64Array(columns);
  for (let i = 0; i < x.n; i++) {
    proj.fill(0);
    for (let n = 0; n < N; n++) {
      const u = (x.data[i * N + n] + 1) / 2;
      if (u === 0) continue;
      for (let j = 0; j < columns; j++) proj[j] += u * basis[n * columns + j];
    }
    let s = 0;
    for (let j = 0; j < columns; j++) s += proj[j] * proj[j];
    out[i] = s / (N * N);
  }
  return out;
}

/**
 * ISSGM's weight `l(x) = (H(x) / reference)^gamma` (see the module comment): `log l = gamma
 * (log H - log reference)`, gradient by autodiff (float32 engine). A constant image (`H = 0`;
 * ~1e-15 after float32 rounding) gives a `log l` far below any floor, which the sampler applies.
 * The engine must be started.
 */
export function highFrequencyPowerWeight(
  opts: Omit<FrequencyWeightOptions, 'lambda'> & { gamma: number; reference: number },
): LogWeight & { readonly description: string } {
  const side = opts.side ?? 8;
  const cutoff = opts.cutoff ?? 2.5;
  const { gamma, reference } = opts;
  if (!Number.isFinite(gamma)) throw new RangeError(`gamma must be finite, got ${gamma}`);
  if (!(reference > 0) || !Number.isFinite(reference)) throw new RangeError(`reference must be positive and finite, got ${reference}`);
  const { basis, columns } = highPassBasis(side, cutoff);
  const N = side * side;
  const W = np.array(Float32Array.from(basis)).reshape([N, columns]);
  const logScale = Math.log(N * N * reference);
  const f = (x: JaxArray): JaxArray => {
    const u = np.multiply(np.add(x, 1), 0.5);
    return np.multiply(np.subtract(np.log(np.sum(np.square(np.matmul(u, W)), -1)), logScale), gamma);
  };
  const name = 'high-frequency power weight';
  return {
    dim: N,
    description: `l(x) = (H(x) / ${reference})^${gamma}, H = mean square of the ${side}x${side} intensity image (x + 1)/2 high-passed at radial frequency >= ${cutoff} cycles/image (DFT radial mask)`,
    value: rowValues(f, { dim: N, name }),
    valueAndGrad: valueAndGrad(f, { dim: N, name }),
  };
}

/**
 * ISSGM's weight `l(x) = exp(lambda H(x))` (see the module comment): `log l = lambda H(x)`,
 * gradient by autodiff (float32 engine). The engine must be started.
 */
export function highFrequencyWeight(opts: FrequencyWeightOptions & { lambda: number }): LogWeight & { readonly description: string } {
  const side = opts.side ?? 8;
  const cutoff = opts.cutoff ?? 2.5;
  const lambda = opts.lambda;
  if (!Number.isFinite(lambda)) throw new RangeError(`lambda must be finite, got ${lambda}`);
  const { basis, columns } = highPassBasis(side, cutoff);
  const N = side * side;
  const W = np.array(Float32Array.from(basis)).reshape([N, columns]);
  const c = lambda / (N * N);
  const f = (x: JaxArray): JaxArray => {
    const u = np.multiply(np.add(x, 1), 0.5);
    return np.multiply(np.sum(np.square(np.matmul(u, W)), -1), c);
  };
  const name = 'high-frequency weight';
  return {
    dim: N,
    description: `l(x) = exp(${lambda} H(x)), H = mean square of the ${side}x${side} intensity image (x + 1)/2 high-passed at radial frequency >= ${cutoff} cycles/image (DFT radial mask)`,
    value: rowValues(f, { dim: N, name }),
    valueAndGrad: valueAndGrad(f, { dim: N, name }),
  };
}
