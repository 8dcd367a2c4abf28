/**
 * ISSGM's importance weights `l(x) > 0` (paper Sec. 3.1: `q ∝ l p`, `l >= m > 0`), as
 * `LogWeight`s in log space with analytic values and gradients (plain TS: they are called once per
 * reverse step on every row), the one floor rule of SPEC §2, and a parser for the CLI's
 * `--weight` specs.
 *
 * RAW AND FLOORED. A built-in returns the raw `log l(x)`: `-Infinity` (with gradient 0) where
 * `l(x) <= 0`, e.g. `sum2` on part of the toy data. The floor `log l = log max(l, m)` (SPEC §2,
 * default `m = 1e-6`) is applied in one place, `applyFloor`, by the sampler and by the ground truth,
 * so every consumer floors the same way and counts what it floored. `withFloor` makes a floored
 * `LogWeight` for code that just wants `log max(l, m)`.
 *
 * The floor's gradient: `d/dx log max(l, m)` is 0 where `l < m` (the flat part), `grad log l`
 * above. At `l = m` exactly either side is a valid subgradient; rows with `log l <= log m` count
 * as floored and get gradient 0, which makes flooring idempotent (a floored value floored again is
 * counted again and keeps gradient 0).
 */
import { makeBatch, type Batch } from '../core/batch.js';
import type { LogWeight, ValueAndGrad } from '../core/types.js';
import { InputError } from '../io/errors.js';

/** The floor `m` of SPEC §2 [1e-6]. */
export const DEFAULT_FLOOR = 1e-6;

/** What happened to row i under the floor. */
export const FloorStatus = {
  /** `m < l < Infinity`, gradient finite: untouched. */
  Ok: 0,
  /** `l <= m` (including `l <= 0`, i.e. `log l = -Infinity`): value `log m`, gradient 0. */
  Floored: 1,
  /** `log l` is NaN or `+Infinity`: not a weight; floored to `log m` with gradient 0 and counted. */
  NonFinite: 2,
} as const;
export type FloorStatus = (typeof FloorStatus)[keyof typeof FloorStatus];

export interface FlooredValueAndGrad extends ValueAndGrad {
  /** Per row: `FloorStatus`. */
  readonly status: Uint8Array;
  /** Rows with `l <= m`. */
  readonly floored: number;
  /** Rows with a NaN or `+Infinity` log-weight. */
  readonly nonFinite: number;
  /**
   * Rows whose value was above the floor and finite but whose gradient was not finite (a broken
   * gradient, not a small weight): left as is, for the caller to stop on (the sampler names `g`).
   */
  readonly badGradient: number;
}

function checkFloor(m: number): number {
  if (!(m > 0) || !Number.isFinite(m)) throw new RangeError(`the weight floor m must be positive and finite, got ${m}`);
  return Math.log(m);
}

/**
 * The floor rule `log l := log max(l, m)` on an evaluated `log l` and its gradient (pure: returns
 * new arrays). Non-finite weights (NaN, `+Infinity`) are floored too and counted separately, so a
 * bad weight never turns into NaN samples silently (issue 4, "Bad input").
 */
export function applyFloor(vg: ValueAndGrad, m: number = DEFAULT_FLOOR): FlooredValueAndGrad {
  const logM = checkFloor(m);
  const { n, dim } = vg.grad;
  if (vg.value.length !== n) throw new RangeError(`applyFloor: ${vg.value.length} values for ${n} gradient rows`);
  const value = new Float64Array(n);
  const grad = new Float64Array(n * dim);
  const status = new Uint8Array(n);
  let floored = 0;
  let nonFinite = 0;
  let badGradient = 0;
  for (let i = 0; i < n; i++) {
    const v = vg.value[i];
    if (Number.isNaN(v) || v === Infinity) {
      status[i] = FloorStatus.NonFinite;
      nonFinite++;
      value[i] = logM;
    } else if (v <= logM) {
      status[i] = FloorStatus.Floored;
      floored++;
      value[i] = logM;
    } else {
      value[i] = v;
      let ok = true;
      for (let j = i * dim; j < (i + 1) * dim; j++) {
        grad[j] = vg.grad.data[j];
        if (!Number.isFinite(grad[j])) ok = false;
      }
      if (!ok) badGradient++;
    }
  }
  return { value, grad: { n, dim, data: grad }, status, floored, nonFinite, badGradient };
}

/** `log max(l, m)` per row of already evaluated `log l` values (NaN and `+Infinity` also become `log m`). */
export function floorValues(value: Float64Array, m: number = DEFAULT_FLOOR): Float64Array {
  const logM = checkFloor(m);
  return value.map((v) => (Number.isNaN(v) || v === Infinity || v <= logM ? logM : v));
}

/** A built-in weight: a `LogWeight` returning the raw `log l`, with its spec and meaning. */
export interface BuiltinLogWeight extends LogWeight {
  /** The spec it was parsed from, normalised (e.g. `tilt:1,0.5`). */
  readonly spec: string;
  /** One line saying what `l` is. */
  readonly description: string;
  /** `sup l` when it is finite and known (1 for `sigmoid`), for accept/reject ground truths. */
  readonly upperBound?: number;
}

/** The floored weight `log max(l, m)` of any `LogWeight` (gradient 0 where floored). */
export function withFloor(w: LogWeight, m: number = DEFAULT_FLOOR): LogWeight & { readonly floor: number } {
  checkFloor(m);
  return {
    dim: w.dim,
    floor: m,
    value: (x) => floorValues(w.value(x), m),
    valueAndGrad: (x) => {
      const r = applyFloor(w.valueAndGrad(x), m);
      return { value: r.value, grad: r.grad };
    },
  };
}

function checkDim(x: Batch, dim: number, what: string): void {
  if (x.dim !== dim) throw new RangeError(`${what}: points have dimension ${x.dim}, the weight is for dimension ${dim}`);
}

/**
 * A `LogWeight` from a per-row kernel `f(row, gradOut) -> log l` that writes `grad log l` into
 * `gradOut` (left at 0 where `l <= 0`). No allocation per row.
 */
function rowKernelWeight(
  dim: number, spec: string, description: string,
  f: (x: Float64Array, off: number, grad: Float64Array | null, goff: number) => number,
  upperBound?: number,
): BuiltinLogWeight {
  const valueAndGrad = (x: Batch): ValueAndGrad => {
    checkDim(x, dim, spec);
    const value = new Float64Array(x.n);
    const grad = makeBatch(x.n, dim);
    for (let i = 0; i < x.n; i++) value[i] = f(x.data, i * dim, grad.data, i * dim);
    return { value, grad };
  };
  const value = (x: Batch): Float64Array => {
    checkDim(x, dim, spec);
    const out = new Float64Array(x.n);
    for (let i = 0; i < x.n; i++) out[i] = f(x.data, i * dim, null, 0);
    return out;
  };
  return upperBound === undefined
    ? { dim, spec, description, value, valueAndGrad }
    : { dim, spec, description, upperBound, value, valueAndGrad };
}

/** `l(x) = |x|^2` (the paper's `l1`): `log l = log |x|^2`, `grad = 2x / |x|^2`; `l = 0` only at 0. */
export function norm2Weight(dim: number): BuiltinLogWeight {
  return rowKernelWeight(dim, 'norm2', 'l(x) = |x|^2 (squared Euclidean norm; paper l1)', (x, o, g, go) => {
    let s = 0;
    for (let j = 0; j < dim; j++) s += x[o + j] * x[o + j];
    if (!(s > 0)) return -Infinity;
    if (g) for (let j = 0; j < dim; j++) g[go + j] = (2 * x[o + j]) / s;
    return Math.log(s);
  });
}

/**
 * `l(x) = sum_i x_i + 2` (the paper's `l2`): `log l = log(sum x + 2)`, `grad = 1 / l` in every
 * coordinate. It is `<= 0` on part of the toy data (where the floor defines `q`, SPEC §2).
 */
export function sum2Weight(dim: number): BuiltinLogWeight {
  return rowKernelWeight(dim, 'sum2', 'l(x) = sum_i x_i + 2 (paper l2; <= 0 where sum x <= -2, floored there)', (x, o, g, go) => {
    let s = 2;
    for (let j = 0; j < dim; j++) s += x[o + j];
    if (!(s > 0)) return -Infinity;
    if (g) for (let j = 0; j < dim; j++) g[go + j] = 1 / s;
    return Math.log(s);
  });
}

/**
 * The exponential tilt `l(x) = exp(a.x)`: `log l = a.x`, `grad = a`. The closed-form test case:
 * a Gaussian `p = N(mu, S)` tilts to `q = N(mu + S a, S)`, a GMM to a GMM (DESIGN.md, tests).
 */
export function tiltWeight(a: ArrayLike<number>): BuiltinLogWeight {
  const av = Float64Array.from(a);
  const dim = av.length;
  if (dim < 1) throw new RangeError('tiltWeight: needs at least one coefficient');
  return rowKernelWeight(dim, `tilt:${Array.from(av).join(',')}`, `l(x) = exp(a.x), a = (${Array.from(av).join(', ')})`, (x, o, g, go) => {
    let s = 0;
    for (let j = 0; j < dim; j++) s += av[j] * x[o + j];
    if (g) for (let j = 0; j < dim; j++) g[go + j] = av[j];
    return s;
  });
}

/**
 * A logistic soft indicator `l(x) = sigmoid(a.x + b) = 1 / (1 + exp(-(a.x + b)))`: close to 1 on
 * the half-space `a.x + b > 0`, close to 0 on the other side, with a transition of width `~1/|a|`
 * across the hyperplane `a.x + b = 0` (read it as a classifier's probability that x is in the
 * half-space; a large `|a|` makes it a sharp "rare event" indicator). Bounded by 1, so it is the
 * natural weight for accept/reject ground truths. `log l = -softplus(-(a.x + b))`,
 * `grad log l = sigmoid(-(a.x + b)) a`, both evaluated without overflow.
 */
export function sigmoidWeight(a: ArrayLike<number>, b: number): BuiltinLogWeight {
  const av = Float64Array.from(a);
  const dim = av.length;
  if (dim < 1) throw new RangeError('sigmoidWeight: needs at least one slope coefficient');
  if (!Number.isFinite(b)) throw new RangeError(`sigmoidWeight: offset b must be finite, got ${b}`);
  const coef = [...Array.from(av), b].join(',');
  return rowKernelWeight(dim, `sigmoid:${coef}`, `l(x) = sigmoid(a.x + b), a = (${Array.from(av).join(', ')}), b = ${b} (soft indicator of a.x + b > 0, bounded by 1)`, (x, o, g, go) => {
    let z = b;
    for (let j = 0; j < dim; j++) z += av[j] * x[o + j];
    // log sigmoid(z) = -softplus(-z); softplus(u) = max(u, 0) + log1p(exp(-|u|)).
    const logL = -(Math.max(-z, 0) + Math.log1p(Math.exp(-Math.abs(z))));
    if (g) {
      // sigmoid(-z) = exp(-softplus(z)), stable for both signs.
      const sNeg = z >= 0 ? Math.exp(-z) / (1 + Math.exp(-z)) : 1 / (1 + Math.exp(z));
      for (let j = 0; j < dim; j++) g[go + j] = sNeg * av[j];
    }
    return logL;
  }, 1);
}

const SPEC_HELP: Readonly<Record<string, string>> = {
  norm2: 'norm2 (l = |x|^2)',
  sum2: 'sum2 (l = sum x + 2)',
  tilt: 'tilt:a1,...,ad (l = exp(a.x), d coefficients)',
  sigmoid: 'sigmoid:a1,...,ad,b (l = sigmoid(a.x + b), d + 1 coefficients)',
};

function validSpecs(): string {
  return Object.values(SPEC_HELP).join(', ');
}

function parseCoefficients(spec: string, body: string): number[] {
  if (body.trim() === '') throw new InputError(`weight '${spec}': no coefficients after ':'`);
  return body.split(',').map((s, i) => {
    const t = s.trim();
    const v = t === '' ? NaN : Number(t);
    if (!Number.isFinite(v)) throw new InputError(`weight '${spec}': coefficient ${i + 1} ('${t}') is not a finite number`);
    return v;
  });
}

/**
 * A built-in weight from its spec, for points of dimension `dim`:
 * `norm2`, `sum2`, `tilt:a1,...,ad`, `sigmoid:a1,...,ad,b`. Errors are `InputError`s naming the
 * valid specs, or the dimension when the number of coefficients is wrong.
 */
export function parseWeightSpec(spec: string, dim: number): BuiltinLogWeight {
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`parseWeightSpec: dimension must be a positive integer, got ${dim}`);
  const s = spec.trim();
  const colon = s.indexOf(':');
  const name = (colon < 0 ? s : s.slice(0, colon)).trim();
  const body = colon < 0 ? undefined : s.slice(colon + 1);
  switch (name) {
    case 'norm2':
    case 'sum2':
      if (body !== undefined) throw new InputError(`weight '${spec}': '${name}' takes no coefficients (valid: ${validSpecs()})`);
      return name === 'norm2' ? norm2Weight(dim) : sum2Weight(dim);
    case 'tilt': {
      if (body === undefined) throw new InputError(`weight '${spec}': give the tilt vector, e.g. tilt:${Array(dim).fill(1).join(',')} (${dim} coefficients for dimension ${dim})`);
      const c = parseCoefficients(spec, body);
      if (c.length !== dim) throw new InputError(`weight '${spec}': tilt needs ${dim} coefficients (one per dimension, dimension ${dim}), got ${c.length}`);
      return tiltWeight(c);
    }
    case 'sigmoid': {
      if (body === undefined) throw new InputError(`weight '${spec}': give a1,...,a${dim},b, e.g. sigmoid:${Array(dim).fill(1).join(',')},0 (${dim + 1} coefficients for dimension ${dim})`);
      const c = parseCoefficients(spec, body);
      if (c.length !== dim + 1) {
        throw new InputError(`weight '${spec}': sigmoid needs ${dim + 1} coefficients (a1..a${dim} for dimension ${dim}, then the offset b), got ${c.length}`);
      }
      return sigmoidWeight(c.slice(0, dim), c[dim]);
    }
    default:
      throw new InputError(`unknown weight '${spec}'; valid weights: ${validSpecs()}, a module file (./my-weight.mjs), or an ONNX network (FILE.onnx:class=K, FILE.onnx:recon, FILE.onnx:log)`);
  }
}
