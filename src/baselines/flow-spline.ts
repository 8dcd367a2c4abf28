/**
 * The pieces of the neural spline flow of `flow.ts`: the monotone rational-quadratic spline with
 * linear tails (Durkan, Bekasov, Murray & Papamakarios 2019, "Neural Spline Flows", Sec. 3.1 and
 * App. A, after Gregory & Delbourgo 1982), the coupling layers' conditioner MLPs, and the flat
 * parameter layout. Every map exists twice:
 *  - on engine arrays (`np`, float32, differentiable), used only inside the compiled training step;
 *  - in plain TS float64, the definition used by `logDensity` and `sample` (and the inverse, which
 *    the engine never needs), tested against the engine version.
 *
 * THE SPLINE on `[-B, B]` with K bins, from unconstrained `uw` (K), `uh` (K), `ud` (K - 1):
 *   bin widths  w_k = 2B (minW + (1 - K minW) softmax(uw)_k), heights h_k likewise from uh;
 *   knots       x_k = -B + sum_{j<k} w_j, y_k = -B + sum_{j<k} h_j (k = 0..K; x_0 = y_0 = -B);
 *   derivatives d_0 = d_K = 1 (matching the identity tails), d_k = minD + softplus(ud_k + c) inside,
 *               c = log(e^(1 - minD) - 1) so that ud = 0 gives d = 1;
 *   in bin k with xi = (x - x_k) / w_k, s = h_k / w_k, t = xi (1 - xi):
 *     y       = y_k + h_k (s xi^2 + d_k t) / (s + (d_{k+1} + d_k - 2 s) t)
 *     dy/dx   = s^2 (d_{k+1} xi^2 + 2 s t + d_k (1 - xi)^2) / (s + (d_{k+1} + d_k - 2 s) t)^2
 *   and y = x (log-derivative 0) outside `(-B, B)`. With all-zero inputs the spline is the identity
 *   (uniform bins, unit derivatives), which is how the flow starts.
 * The inverse solves the quadratic `a xi^2 + b xi + c = 0` of Durkan et al. App. A (eq. 6-8) with
 * the cancellation-free root `xi = 2c / (-b - sqrt(b^2 - 4ac))`.
 */
import { nn, np, type JaxArray } from '../core/engine.js';

export interface SplineConfig {
  /** Number of bins K. */
  readonly bins: number;
  /** Half-width B of the spline's interval `[-B, B]` (identity outside). */
  readonly bound: number;
  readonly minBinWidth: number;
  readonly minBinHeight: number;
  readonly minDerivative: number;
}

/** Unconstrained outputs per transformed coordinate: K widths, K heights, K - 1 derivatives. */
export function splineParamCount(bins: number): number {
  return 3 * bins - 1;
}

/**
 * `log(1 + e^v)` as `max(v, 0) + log1p(e^-|v|)`: jax-js's `nn.softplus` is `log(exp(v) + 1)`,
 * whose value overflows to Infinity and whose gradient is NaN (Inf / Inf) for float32 v > 88.
 */
function softplusEngine(v: JaxArray): JaxArray {
  return np.add(np.maximum(v, 0), np.log1p(np.exp(np.negative(np.abs(v)))));
}

/**
 * SiLU `z sigmoid(z)` with a finite gradient for any z: the argument of `exp` clipped at +-60,
 * which changes no float32 value (the same fix as `models/mlp.ts`, where jax-js's `nn.silu` gave
 * NaN gradients for z < -88 through `0 * Infinity`).
 */
function siluEngine(z: JaxArray): JaxArray {
  return np.multiply(z, np.reciprocal(np.add(np.exp(np.negative(np.clip(z, -60, 60))), 1)));
}

function derivativeShift(minD: number): number {
  return Math.log(Math.expm1(1 - minD));
}

// -----------------------------------------------------------------------------------------------
// Engine version (float32, inside a traced function; non-consuming np)
// -----------------------------------------------------------------------------------------------

/**
 * The spline applied to `x` `[n, 1]` with per-row parameters `u` `[n, 3K - 1]` (widths, heights,
 * derivatives, in that order): returns `y` and `log dy/dx`, both `[n, 1]`.
 */
export function rqSplineEngine(cfg: SplineConfig, x: JaxArray, u: JaxArray): { y: JaxArray; logDet: JaxArray } {
  const K = cfg.bins;
  const B = cfg.bound;
  const n = x.shape[0];
  const uw = u.ref.slice([], [0, K]);
  const uh = u.ref.slice([], [K, 2 * K]);
  const ud = u.ref.slice([], [2 * K, 3 * K - 1]);
  const w = np.multiply(np.add(np.multiply(nn.softmax(uw, -1), 1 - K * cfg.minBinWidth), cfg.minBinWidth), 2 * B);
  const h = np.multiply(np.add(np.multiply(nn.softmax(uh, -1), 1 - K * cfg.minBinHeight), cfg.minBinHeight), 2 * B);
  // Left knots x_k = cumsum_k - w_k - B (x_0 = -B exactly).
  const xLo = np.subtract(np.subtract(np.cumsum(w, -1), w), B);
  const yLo = np.subtract(np.subtract(np.cumsum(h, -1), h), B);
  const dIn = np.add(softplusEngine(np.add(ud, derivativeShift(cfg.minDerivative))), cfg.minDerivative); // [n, K-1]
  const one = np.ones([n, 1], { dtype: x.dtype });
  const zero = np.zeros([n, 1], { dtype: x.dtype });
  const dLo = np.concatenate([one, dIn], -1);
  const dHi = np.concatenate([dIn, one], -1);
  const inside = np.logicalAnd(np.greater(x, -B), np.less(x, B));
  const xc = np.clip(x, -B, B);
  // One-hot bin: ge_k = [x >= x_k] for the inner knots k = 1..K-1, onehot_k = ge_k - ge_{k+1}
  // with ge_0 = 1 and ge_K = 0 (exactly one bin per row whatever the rounding of the knots).
  const ge = np.where(np.greaterEqual(xc, xLo.ref.slice([], [1, K])), 1, 0).astype(x.dtype); // [n, K-1]
  const onehot = np.subtract(np.concatenate([one, ge], -1), np.concatenate([ge, zero], -1));
  const sel = (a: JaxArray): JaxArray => np.sum(np.multiply(onehot, a), -1, { keepdims: true });
  const xk = sel(xLo);
  const wk = sel(w);
  const yk = sel(yLo);
  const hk = sel(h);
  const dk = sel(dLo);
  const dk1 = sel(dHi);
  const xi = np.clip(np.divide(np.subtract(xc, xk), wk), 0, 1);
  const s = np.divide(hk, wk);
  const t = np.multiply(xi, np.subtract(1, xi));
  const den = np.add(s, np.multiply(np.subtract(np.add(dk1, dk), np.multiply(s, 2)), t));
  const num = np.multiply(hk, np.add(np.multiply(s, np.square(xi)), np.multiply(dk, t)));
  const yIn = np.add(yk, np.divide(num, den));
  const dnum = np.multiply(
    np.square(s),
    np.add(np.add(np.multiply(dk1, np.square(xi)), np.multiply(np.multiply(s, 2), t)), np.multiply(dk, np.square(np.subtract(1, xi)))),
  );
  const ldIn = np.subtract(np.log(dnum), np.multiply(np.log(den), 2));
  return { y: np.where(inside, yIn, x), logDet: np.where(inside, ldIn, 0) };
}

// -----------------------------------------------------------------------------------------------
// Float64 version (plain TS)
// -----------------------------------------------------------------------------------------------

/** The spline's knots and derivatives for one row of unconstrained parameters (float64). */
export interface SplineKnots {
  /** K + 1 knots in x and in y (first -B, last B), and K + 1 derivatives (first and last 1). */
  readonly xs: Float64Array;
  readonly ys: Float64Array;
  readonly ds: Float64Array;
}

function softmaxInto(u: ArrayLike<number>, off: number, K: number, minBin: number, B: number, out: Float64Array): void {
  let m = -Infinity;
  for (let k = 0; k < K; k++) m = Math.max(m, u[off + k]);
  let s = 0;
  const e = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    e[k] = Math.exp(u[off + k] - m);
    s += e[k];
  }
  // Same order of operations as the engine: cumulative sum of widths, knot = cum - w - B.
  let cum = 0;
  for (let k = 0; k < K; k++) {
    const w = (minBin + (1 - K * minBin) * (e[k] / s)) * 2 * B;
    cum += w;
    out[k] = cum - w - B;
  }
  out[K] = B;
}

function softplus(v: number): number {
  return Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
}

/** Knots of the spline for parameters `u[off .. off + 3K - 1)`. */
export function splineKnots(cfg: SplineConfig, u: ArrayLike<number>, off: number): SplineKnots {
  const K = cfg.bins;
  const xs = new Float64Array(K + 1);
  const ys = new Float64Array(K + 1);
  const ds = new Float64Array(K + 1);
  softmaxInto(u, off, K, cfg.minBinWidth, cfg.bound, xs);
  softmaxInto(u, off + K, K, cfg.minBinHeight, cfg.bound, ys);
  const c = derivativeShift(cfg.minDerivative);
  ds[0] = 1;
  ds[K] = 1;
  for (let k = 1; k < K; k++) ds[k] = cfg.minDerivative + softplus(u[off + 2 * K + k - 1] + c);
  return { xs, ys, ds };
}

/** Largest k in 0..K-1 with `knots[k] <= v` (v inside [knots[0], knots[K]]). */
function binOf(knots: Float64Array, v: number): number {
  const K = knots.length - 1;
  let k = 0;
  while (k < K - 1 && v >= knots[k + 1]) k++;
  return k;
}

/** Forward spline `y = f(x)` and `log f'(x)` (float64). */
export function rqSplineForward(cfg: SplineConfig, kn: SplineKnots, x: number): { y: number; logDet: number } {
  const B = cfg.bound;
  if (!(x > -B && x < B)) return { y: x, logDet: 0 };
  const k = binOf(kn.xs, x);
  const wk = kn.xs[k + 1] - kn.xs[k];
  const hk = kn.ys[k + 1] - kn.ys[k];
  const dk = kn.ds[k];
  const dk1 = kn.ds[k + 1];
  const xi = Math.min(1, Math.max(0, (x - kn.xs[k]) / wk));
  const s = hk / wk;
  const t = xi * (1 - xi);
  const den = s + (dk1 + dk - 2 * s) * t;
  const y = kn.ys[k] + (hk * (s * xi * xi + dk * t)) / den;
  const dnum = s * s * (dk1 * xi * xi + 2 * s * t + dk * (1 - xi) * (1 - xi));
  return { y, logDet: Math.log(dnum) - 2 * Math.log(den) };
}

/** Inverse spline `x = f^{-1}(y)` and `log f'(x)` (the forward log-derivative at the result). */
export function rqSplineInverse(cfg: SplineConfig, kn: SplineKnots, y: number): { x: number; logDet: number } {
  const B = cfg.bound;
  if (!(y > -B && y < B)) return { x: y, logDet: 0 };
  const k = binOf(kn.ys, y);
  const wk = kn.xs[k + 1] - kn.xs[k];
  const hk = kn.ys[k + 1] - kn.ys[k];
  const dk = kn.ds[k];
  const dk1 = kn.ds[k + 1];
  const s = hk / wk;
  const dy = y - kn.ys[k];
  const c1 = dk1 + dk - 2 * s;
  const a = hk * (s - dk) + dy * c1;
  const b = hk * dk - dy * c1;
  const c = -s * dy;
  const disc = Math.max(0, b * b - 4 * a * c);
  const denom = -b - Math.sqrt(disc);
  const xi = denom === 0 ? 0 : Math.min(1, Math.max(0, (2 * c) / denom));
  const x = kn.xs[k] + xi * wk;
  const t = xi * (1 - xi);
  const den = s + c1 * t;
  const dnum = s * s * (dk1 * xi * xi + 2 * s * t + dk * (1 - xi) * (1 - xi));
  return { x, logDet: Math.log(dnum) - 2 * Math.log(den) };
}

// -----------------------------------------------------------------------------------------------
// Coupling layers: which coordinates condition and which are transformed; parameter layout
// -----------------------------------------------------------------------------------------------

export interface CouplingSpec {
  /** Indices of the conditioning coordinates (inputs of the conditioner MLP). */
  readonly cond: readonly number[];
  /** Indices of the transformed coordinates. */
  readonly trans: readonly number[];
}

/**
 * Alternating masks: layer l transforms the coordinates j with `j % 2 === l % 2` and conditions on
 * the others (for d = 2: x_0 given x_1, then x_1 given x_0, ...). For d >= 4 the coordinate order
 * is also rotated by `floor(l / 2)` positions, so coordinates of one parity do not always
 * condition only on the other parity.
 */
export function couplingSpecs(dim: number, layers: number): CouplingSpec[] {
  const out: CouplingSpec[] = [];
  for (let l = 0; l < layers; l++) {
    const rot = dim >= 4 ? Math.floor(l / 2) % dim : 0;
    const cond: number[] = [];
    const trans: number[] = [];
    for (let p = 0; p < dim; p++) {
      const j = (p + rot) % dim;
      (p % 2 === l % 2 ? trans : cond).push(j);
    }
    cond.sort((a, b) => a - b);
    trans.sort((a, b) => a - b);
    out.push({ cond, trans });
  }
  return out;
}

/** One parameter array inside the flat vector. */
export interface LeafLayout {
  readonly offset: number;
  readonly shape: readonly number[];
}

/** Conditioner of one coupling layer: `depth` hidden SiLU layers, then a linear output. */
export interface ConditionerLayout {
  /** Weights `[in, out]` (engine layout) and biases, input layer first, output layer last. */
  readonly w: readonly LeafLayout[];
  readonly b: readonly LeafLayout[];
}

export interface FlowLayout {
  readonly size: number;
  readonly layers: readonly ConditionerLayout[];
}

export function flowLayout(specs: readonly CouplingSpec[], hidden: number, depth: number, bins: number): FlowLayout {
  let offset = 0;
  const leaf = (shape: number[]): LeafLayout => {
    const l = { offset, shape };
    offset += shape.reduce((a, b) => a * b, 1);
    return l;
  };
  const layers = specs.map((s) => {
    const sizes: [number, number][] = [];
    for (let k = 0; k <= depth; k++) {
      sizes.push([k === 0 ? s.cond.length : hidden, k === depth ? s.trans.length * splineParamCount(bins) : hidden]);
    }
    const w = sizes.map(([i, o]) => leaf([i, o]));
    const b = sizes.map(([, o]) => leaf([o]));
    return { w, b };
  });
  return { size: offset, layers };
}

/** Views of one layer's weights in the flat parameter vector (inside a traced function). */
export function conditionerViews(flat: JaxArray, c: ConditionerLayout): { w: JaxArray[]; b: JaxArray[] } {
  const view = (l: LeafLayout): JaxArray => flat.ref.slice([l.offset, l.offset + l.shape.reduce((a, b) => a * b, 1)]).reshape([...l.shape]);
  return { w: c.w.map(view), b: c.b.map(view) };
}

/** Input widths up to this use broadcast multiply-adds instead of a matmul (as `models/mlp.ts`). */
const SMALL_IN = 4;

/** The conditioner on engine arrays: `cols` are the conditioning columns `[n, 1]`; returns `[n, out]`. */
export function conditionerEngine(p: { w: JaxArray[]; b: JaxArray[] }, cols: JaxArray[]): JaxArray {
  const W0 = p.w[0];
  let z: JaxArray;
  if (cols.length <= SMALL_IN) {
    z = p.b[0];
    cols.forEach((c, j) => {
      z = np.add(z, np.multiply(c, W0.ref.slice([j, j + 1])));
    });
  } else {
    z = np.add(np.matmul(np.concatenate(cols, -1), W0), p.b[0]);
  }
  let h = siluEngine(z);
  const L = p.w.length - 1;
  for (let l = 1; l < L; l++) h = siluEngine(np.add(np.matmul(h, p.w[l]), p.b[l]));
  return np.add(np.matmul(h, p.w[L]), p.b[L]);
}

/**
 * The conditioner in float64 for all rows: `x` row-major `[n, dim]`, inputs the columns `cond`;
 * returns `[n, out]` row-major.
 */
export function conditionerF64(flat: Float32Array, c: ConditionerLayout, x: Float64Array, n: number, dim: number, cond: readonly number[]): Float64Array {
  let width = cond.length;
  let h = new Float64Array(n * width);
  for (let i = 0; i < n; i++) for (let j = 0; j < width; j++) h[i * width + j] = x[i * dim + cond[j]];
  const L = c.w.length - 1;
  for (let l = 0; l <= L; l++) {
    const [fin, fout] = c.w[l].shape;
    const W = flat.subarray(c.w[l].offset, c.w[l].offset + fin * fout);
    const b = flat.subarray(c.b[l].offset, c.b[l].offset + fout);
    const out = new Float64Array(n * fout);
    const acc = new Float64Array(fout);
    for (let i = 0; i < n; i++) {
      for (let o = 0; o < fout; o++) acc[o] = b[o];
      for (let k = 0; k < fin; k++) {
        const v = h[i * fin + k];
        if (v === 0) continue;
        const row = k * fout;
        for (let o = 0; o < fout; o++) acc[o] += v * W[row + o];
      }
      const base = i * fout;
      if (l < L) for (let o = 0; o < fout; o++) out[base + o] = acc[o] / (1 + Math.exp(-acc[o]));
      else for (let o = 0; o < fout; o++) out[base + o] = acc[o];
    }
    h = out;
    width = fout;
  }
  return h;
}
