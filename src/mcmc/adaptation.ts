/**
 * Step-size adaptation from acceptance rates. Pure functions: they return new step sizes and
 * never modify their inputs.
 *
 * - `adaptStepSize`: the multiplicative rule of the amortized-sampler paper (SPEC §3, DW-4: step
 *   size multiplied / divided by 1.5 to keep the acceptance rate in [0.5, 0.6]). Per chain, or
 *   per block of chains sharing one step size (fewer, less noisy step sizes).
 * - `dualAveraging*`: Nesterov's dual averaging as used for HMC/NUTS warm-up (Hoffman & Gelman
 *   2014, "The No-U-Turn sampler", JMLR 15, Sec. 3.2.1, Algorithm 5; blackjax
 *   `adaptation/step_size.py`), which converges to the step size whose mean acceptance is
 *   `target`, where the multiplicative rule keeps oscillating inside its band.
 *
 * Adapting with a chain's own past makes the chain non-Markov: adapt during warm-up, then freeze
 * the step size for sampling (the baselines do so).
 */

export interface AdaptStepSizeOptions {
  /** Below this acceptance the step size is divided by `factor` (default 0.5, SPEC §3). */
  lo?: number;
  /** Above this acceptance it is multiplied by `factor` (default 0.6). */
  hi?: number;
  /** Default 1.5 (SPEC §3). */
  factor?: number;
  /** Clamp of the result (default 1e-12): keeps repeated division from reaching 0, where it would stick. */
  min?: number;
  /** Clamp of the result (default 1e12). */
  max?: number;
}

/**
 * Multiply each step size by `factor` where its acceptance is above `hi`, divide where below `lo`.
 * `acceptance` has one entry per chain; `stepSize` has as many entries, or one per block of
 * `acceptance.length / stepSize.length` consecutive chains, adapted on the block's mean acceptance
 * (a single step size for all chains: `stepSize` of length 1).
 */
export function adaptStepSize(stepSize: Float64Array, acceptance: Float64Array, opts: AdaptStepSizeOptions = {}): Float64Array {
  const lo = opts.lo ?? 0.5;
  const hi = opts.hi ?? 0.6;
  const factor = opts.factor ?? 1.5;
  const min = opts.min ?? 1e-12;
  const max = opts.max ?? 1e12;
  if (!(lo <= hi)) throw new RangeError(`adaptStepSize: need lo <= hi, got lo = ${lo}, hi = ${hi}`);
  if (!(factor > 1) || !Number.isFinite(factor)) throw new RangeError(`adaptStepSize: factor must be finite and > 1, got ${factor}`);
  if (!(min > 0 && min <= max)) throw new RangeError(`adaptStepSize: need 0 < min <= max, got min = ${min}, max = ${max}`);
  const s = stepSize.length;
  if (s < 1 || acceptance.length % s !== 0) {
    throw new RangeError(`adaptStepSize: ${acceptance.length} acceptance rates cannot be split into ${s} blocks`);
  }
  const block = acceptance.length / s;
  const out = new Float64Array(s);
  for (let b = 0; b < s; b++) {
    let a = 0;
    for (let i = b * block; i < (b + 1) * block; i++) a += acceptance[i];
    a /= block;
    let v = stepSize[b];
    if (a > hi) v *= factor;
    else if (a < lo) v /= factor;
    // NaN acceptance (no information) leaves the step size as it was.
    out[b] = Math.min(max, Math.max(min, v));
  }
  return out;
}

/** Repeat each of `values` over a block of `n / values.length` consecutive rows (per-block -> per-chain). */
export function repeatPerBlock(values: Float64Array, n: number): Float64Array {
  const s = values.length;
  if (s < 1 || n % s !== 0) throw new RangeError(`repeatPerBlock: ${n} rows cannot be split into ${s} blocks`);
  const block = n / s;
  const out = new Float64Array(n);
  for (let b = 0; b < s; b++) out.fill(values[b], b * block, (b + 1) * block);
  return out;
}

export interface DualAveragingOptions {
  /** Acceptance rate to converge to (default 0.55, the middle of SPEC §3's band). */
  target?: number;
  /** Shrinkage towards `mu` (default 0.05, Hoffman & Gelman 2014). */
  gamma?: number;
  /** Early-iteration damping (default 10). */
  t0?: number;
  /** Decay of the averaging weights (default 0.75). */
  kappa?: number;
}

/** Dual-averaging state, one entry per chain (or block). */
export interface DualAveragingState {
  /** Current step size to use (exp of the iterate). */
  readonly stepSize: Float64Array;
  /** The averaged step size: the one to keep after warm-up. */
  readonly finalStepSize: Float64Array;
  readonly logStepBar: Float64Array;
  readonly hBar: Float64Array;
  /** `log(10 h_0)`: the point the iterates shrink towards (Hoffman & Gelman 2014, Alg. 5). */
  readonly mu: Float64Array;
  /** Iterations done. */
  readonly t: number;
}

export function dualAveragingInit(initialStepSize: Float64Array): DualAveragingState {
  for (let i = 0; i < initialStepSize.length; i++) {
    const v = initialStepSize[i];
    if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`dualAveragingInit: step size ${i} must be positive and finite, got ${v}`);
  }
  const m = initialStepSize.length;
  return {
    stepSize: initialStepSize.slice(),
    finalStepSize: initialStepSize.slice(),
    logStepBar: new Float64Array(m),
    hBar: new Float64Array(m),
    mu: initialStepSize.map((v) => Math.log(10 * v)),
    t: 0,
  };
}

/**
 * One dual-averaging update from the acceptance rates of the step just taken (one per entry of
 * the state, or `block` consecutive ones per entry, averaged):
 *   H_t = (1 - 1/(t + t0)) H_{t-1} + (target - a_t) / (t + t0)
 *   log h_t = mu - sqrt(t) / gamma H_t;   log hbar_t = t^-kappa log h_t + (1 - t^-kappa) log hbar_{t-1}.
 */
export function dualAveragingUpdate(state: DualAveragingState, acceptance: Float64Array, opts: DualAveragingOptions = {}): DualAveragingState {
  const target = opts.target ?? 0.55;
  const gamma = opts.gamma ?? 0.05;
  const t0 = opts.t0 ?? 10;
  const kappa = opts.kappa ?? 0.75;
  const s = state.stepSize.length;
  if (s < 1 || acceptance.length % s !== 0) {
    throw new RangeError(`dualAveragingUpdate: ${acceptance.length} acceptance rates cannot be split into ${s} blocks`);
  }
  const block = acceptance.length / s;
  const t = state.t + 1;
  const w = 1 / (t + t0);
  const eta = Math.pow(t, -kappa);
  const hBar = new Float64Array(s);
  const logStepBar = new Float64Array(s);
  const stepSize = new Float64Array(s);
  const finalStepSize = new Float64Array(s);
  for (let b = 0; b < s; b++) {
    let a = 0;
    for (let i = b * block; i < (b + 1) * block; i++) a += acceptance[i];
    a /= block;
    if (Number.isNaN(a)) a = 0; // no information: treat as a rejection, shrinking the step
    hBar[b] = (1 - w) * state.hBar[b] + w * (target - a);
    const logStep = state.mu[b] - (Math.sqrt(t) / gamma) * hBar[b];
    logStepBar[b] = eta * logStep + (1 - eta) * state.logStepBar[b];
    stepSize[b] = Math.exp(logStep);
    finalStepSize[b] = Math.exp(logStepBar[b]);
  }
  return { stepSize, finalStepSize, logStepBar, hBar, mu: state.mu, t };
}
