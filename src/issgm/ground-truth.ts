/**
 * Ground truth for ISSGM (paper Sec. 4.1, "Evaluation metrics"; SPEC §2): exact samples of
 * `q ∝ l p` by accept/reject from exact samples of `p`, and `E[l]` estimates (the paper's Table 2
 * reports `E_p[l]` and `E_q[l]`).
 *
 * Accept/reject (von Neumann 1951): propose `x ~ p`, accept with probability `l(x) / M`. When
 * `l <= M` everywhere, accepted points are exact draws of `q = l p / Z`, and the acceptance rate
 * is `Z / M = E_p[l] / M`. `l` is the floored weight `max(l, m)` (SPEC §2: the floor makes `q` well
 * defined where `l <= 0`); the fraction of proposals affected by the floor is reported.
 * Any proposal with `l > M` breaks exactness (it is accepted with probability 1, i.e. under-weighted):
 * such proposals are counted and the largest `l` seen is reported, with a warning, never hidden.
 */
import { makeBatch, type Batch } from '../core/batch.js';
import { foldIn, split, uniform, type Key } from '../core/key.js';
import type { LogWeight } from '../core/types.js';
import { DEFAULT_FLOOR, floorValues } from './weights.js';

/** Anything that draws exact samples of `p` (a `SampleableTarget` or a `DatasetSampler`). */
export interface ExactSampler {
  readonly dim: number;
  sample(key: Key, n: number): Batch;
}

export interface AcceptRejectOptions {
  /** Accepted samples wanted. */
  n: number;
  /** The bound `M >= sup l` on the support of `p` (e.g. 1 for a sigmoid weight). */
  M: number;
  /** Floor `m` of `l` [1e-6]. */
  floor?: number;
  /** Proposals per round [max(1024, 2n)]. */
  batchSize?: number;
  /** Stop with an error after this many proposals [max(10^7, 100 n)]. */
  maxProposals?: number;
}

export interface AcceptRejectResult {
  /** The first `n` accepted proposals, in proposal order. */
  readonly samples: Batch;
  /** Proposals drawn (whole rounds). */
  readonly proposals: number;
  /** Proposals accepted (>= n; only the first n are returned). */
  readonly accepted: number;
  /** `accepted / proposals`, an estimate of `E_p[l] / M`. */
  readonly acceptanceRate: number;
  /** Proposals with `l > M` (exactness is lost if this is not 0). */
  readonly exceedances: number;
  /** Largest `l` seen over all proposals. */
  readonly maxL: number;
  /** Fraction of proposals whose weight was floored (`l <= m` or non-finite): the mass of `p` the floor affects. */
  readonly flooredFraction: number;
  readonly M: number;
  readonly floor: number;
  readonly warnings: readonly string[];
}

/**
 * Exact samples of `q ∝ max(l, m) p` by accept/reject from `p`'s exact sampler. Keys: round b
 * proposes `p.sample(foldIn(k1, b), batchSize)` and draws its uniforms from `foldIn(k2, b)` with
 * `[k1, k2] = split(key)`. Throws when `maxProposals` are used up before `n` acceptances, naming
 * the acceptance rate.
 */
export function acceptReject(key: Key, p: ExactSampler, logWeight: LogWeight, opts: AcceptRejectOptions): AcceptRejectResult {
  const what = 'acceptReject';
  const { n, M } = opts;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what}: n must be a positive integer, got ${n}`);
  if (!(M > 0) || !Number.isFinite(M)) throw new RangeError(`${what}: the bound M must be positive and finite, got ${M}`);
  if (p.dim !== logWeight.dim) throw new RangeError(`${what}: p has dimension ${p.dim}, the weight ${logWeight.dim}`);
  const floor = opts.floor ?? DEFAULT_FLOOR;
  if (floor > M) throw new RangeError(`${what}: the floor m = ${floor} is above the bound M = ${M}`);
  const batchSize = opts.batchSize ?? Math.max(1024, 2 * n);
  const maxProposals = opts.maxProposals ?? Math.max(1e7, 100 * n);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`${what}: batchSize must be a positive integer, got ${batchSize}`);
  const logM = Math.log(M);
  const d = p.dim;
  const [kProp, kU] = split(key, 2);
  const out = makeBatch(n, d);
  let accepted = 0;
  let proposals = 0;
  let exceedances = 0;
  let flooredCount = 0;
  let maxLogL = -Infinity;
  const logM0 = Math.log(floor);
  for (let b = 0; accepted < n; b++) {
    if (proposals >= maxProposals) {
      const rate = accepted / proposals;
      throw new Error(
        `${what}: only ${accepted} of ${n} samples accepted after ${proposals} proposals ` +
          `(acceptance rate ${rate.toExponential(2)}, i.e. E_p[l] / M ≈ ${rate.toExponential(2)} with M = ${M}); ` +
          `choose M closer to max l, or raise maxProposals (${maxProposals})`,
      );
    }
    const x = p.sample(foldIn(kProp, b), batchSize);
    if (x.n !== batchSize || x.dim !== d) throw new RangeError(`${what}: the sampler returned ${x.n} x ${x.dim}, asked ${batchSize} x ${d}`);
    const raw = logWeight.value(x);
    const logL = floorValues(raw, floor);
    const u = uniform(foldIn(kU, b), batchSize);
    for (let i = 0; i < batchSize; i++) {
      if (logL[i] === logM0) flooredCount++;
      if (logL[i] > maxLogL) maxLogL = logL[i];
      if (logL[i] > logM) exceedances++;
      // Accept with probability min(1, l / M), compared in log space (no overflow for large l).
      if (Math.log(u[i]) < logL[i] - logM) {
        if (accepted < n) out.data.set(x.data.subarray(i * d, (i + 1) * d), accepted * d);
        accepted++;
      }
    }
    proposals += batchSize;
  }
  const maxL = Math.exp(maxLogL);
  const warnings: string[] = [];
  if (exceedances > 0) {
    warnings.push(
      `${exceedances} of ${proposals} proposals have l > M = ${M} (largest l = ${maxL.toPrecision(6)}): ` +
        'they are under-weighted, so the samples are not exact draws of q; raise M',
    );
  }
  return {
    samples: out, proposals, accepted, acceptanceRate: accepted / proposals, exceedances, maxL,
    flooredFraction: flooredCount / proposals, M, floor, warnings,
  };
}

/** `M = margin * max l` over a sample of `p` [margin 1.1]: a bound for weights with no known sup. */
export function boundFromSample(samples: Batch, logWeight: LogWeight, opts: { floor?: number; margin?: number } = {}): number {
  const margin = opts.margin ?? 1.1;
  if (!(margin >= 1)) throw new RangeError(`boundFromSample: margin must be >= 1, got ${margin}`);
  const v = floorValues(logWeight.value(samples), opts.floor ?? DEFAULT_FLOOR);
  let mx = -Infinity;
  for (const a of v) if (a > mx) mx = a;
  return margin * Math.exp(mx);
}

export interface ExpectedWeight {
  /** `mean_i max(l(x_i), m)`: estimates `E[l]` under the law of the samples. */
  readonly mean: number;
  /** Its standard error `sd / sqrt(n)` (i.i.d. samples). */
  readonly se: number;
  /** Samples whose weight was floored (`l <= m` or non-finite). */
  readonly floored: number;
  readonly n: number;
}

/**
 * The mean of the floored weight over samples: `E_p[l]` from samples of `p`, `E_q[l]` from
 * samples of `q` or of a sampler of `q` (the paper's Table 2), with its standard error.
 */
export function expectedWeight(samples: Batch, logWeight: LogWeight, opts: { floor?: number } = {}): ExpectedWeight {
  if (samples.n < 2) throw new RangeError(`expectedWeight: needs at least 2 samples, got ${samples.n}`);
  const floor = opts.floor ?? DEFAULT_FLOOR;
  const logM0 = Math.log(floor);
  const v = floorValues(logWeight.value(samples), floor);
  let s = 0;
  let floored = 0;
  for (const a of v) {
    s += Math.exp(a);
    if (a === logM0) floored++;
  }
  const mean = s / v.length;
  let q = 0;
  for (const a of v) q += (Math.exp(a) - mean) ** 2;
  return { mean, se: Math.sqrt(q / (v.length - 1) / v.length), floored, n: v.length };
}
