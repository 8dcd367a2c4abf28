/**
 * Compare a sample set with a reference set by the metrics of SPEC §4, under one explicit
 * protocol (bins, range, sample size). Used by `tweedie eval`, the demo and the benchmarks.
 * Exact W1/W2 need equal sizes: the larger set is sub-sampled without replacement by a keyed
 * permutation, and the size used is reported.
 */
import { type Batch, assertSameDim } from '../core/batch.js';
import { type Key, permutation, split } from '../core/key.js';
import { jsdHistogram2dDetailed } from '../metrics/jsd.js';
import { energyTvd, marginalTvd, marginalTvdExact, tvdHistogram2dDetailed } from '../metrics/tvd.js';
import { meanErrors } from '../metrics/moments.js';
import { wasserstein, wassersteinBoth } from '../metrics/wasserstein.js';
import { type MultiDoubleWell, dw4 } from '../targets/dw4.js';

/** Metrics of one sample set against another (`tweedie eval`). */
export const METRIC_NAMES = ['w1', 'w2', 'tvd', 'jsd', 'mean', 'marginal_tvd'] as const;
/** Those, and `marginal_tvd_exact`, which needs the target's exact marginals (`CompareOptions.exactMarginals`). */
export type MetricName = (typeof METRIC_NAMES)[number] | 'marginal_tvd_exact';
export const ENERGY_NAMES = ['dw4'] as const;
export type EnergyName = (typeof ENERGY_NAMES)[number];

export interface CompareOptions {
  metrics: readonly MetricName[];
  /** Histogram bins per axis for `jsd` and `tvd` (default 64). */
  bins?: number;
  /** Histogram square `[-range, range]^2` for `jsd` and `tvd` (default 4.5). */
  range?: number;
  /** Particle energy for energy and interatomic-distance TVD; also removes each sample's centre of mass. */
  energy?: EnergyName;
  /** Largest set size for exact W (an O(n^3) assignment); larger sets are sub-sampled. */
  maxTransportPoints?: number;
  /** Exact marginal bin probabilities of the target, for `marginal_tvd_exact` (e.g. `GaussianMixture.marginalBinProbabilities`). */
  exactMarginals?: (j: number, edges: Float64Array) => Float64Array;
}

export interface Comparison {
  metrics: Record<string, number>;
  protocol: Record<string, unknown>;
}

function subsample(key: Key, b: Batch, m: number): Batch {
  if (b.n === m) return b;
  const p = permutation(key, b.n);
  const out = new Float64Array(m * b.dim);
  for (let i = 0; i < m; i++) out.set(b.data.subarray(p[i] * b.dim, (p[i] + 1) * b.dim), i * b.dim);
  return { n: m, dim: b.dim, data: out };
}

function pairDistanceTvd(model: MultiDoubleWell, a: Batch, ref: Batch): number {
  const da = model.pairDistances(a);
  const dr = model.pairDistances(ref);
  return energyTvd(da.data, dr.data, 200);
}

/** Metrics of `samples` against `reference`; `key` only chooses sub-samples for exact W. */
export function compareSamples(key: Key, samples: Batch, reference: Batch, opts: CompareOptions): Comparison {
  assertSameDim(samples, reference, 'samples and reference');
  const bins = opts.bins ?? 64;
  const range = opts.range ?? 4.5;
  const metrics: Record<string, number> = {};
  const protocol: Record<string, unknown> = { nSamples: samples.n, nReference: reference.n, dim: samples.dim };
  let a = samples;
  let r = reference;
  let particleModel: MultiDoubleWell | undefined;
  if (opts.energy === 'dw4') {
    particleModel = dw4();
    if (samples.dim !== particleModel.dim) {
      throw new RangeError(`--energy dw4 needs ${particleModel.dim}-D samples (4 particles x 2), got ${samples.dim}-D`);
    }
    a = particleModel.removeCentreOfMass(a);
    r = particleModel.removeCentreOfMass(r);
    protocol.centred = true;
  }
  const wants = new Set(opts.metrics);
  if ((wants.has('jsd') || wants.has('tvd')) && samples.dim !== 2) {
    throw new RangeError(`jsd and tvd are 2-D histogram metrics but the samples are ${samples.dim}-D; use --metrics w1,w2,mean${opts.energy ? ' with --energy' : ''}`);
  }
  if (wants.has('w1') || wants.has('w2')) {
    const m = Math.min(a.n, r.n, opts.maxTransportPoints ?? Infinity);
    const [ka, kr] = split(key, 2);
    const sa = subsample(ka, a, m);
    const sr = subsample(kr, r, m);
    protocol.transportPoints = m;
    if (wants.has('w1') && wants.has('w2')) {
      const { w1, w2 } = wassersteinBoth(sa, sr);
      metrics.w1 = w1;
      metrics.w2 = w2;
    } else if (wants.has('w1')) metrics.w1 = wasserstein(sa, sr, 1);
    else metrics.w2 = wasserstein(sa, sr, 2);
  }
  if (wants.has('jsd')) {
    const d = jsdHistogram2dDetailed(a, r, { bins, range });
    metrics.jsd = d.value;
    protocol.histogram = { bins, range: [-range, range], outsideSamples: d.outsideA, outsideReference: d.outsideB };
  }
  if (wants.has('tvd')) {
    const d = tvdHistogram2dDetailed(a, r, { bins, range });
    metrics.tvd = d.value;
    protocol.histogram = { bins, range: [-range, range], outsideSamples: d.outsideA, outsideReference: d.outsideB };
  }
  if (wants.has('marginal_tvd')) {
    // The amortized-posterior paper's GMM TVD: per-coordinate histograms, 1000 bins on [-100, 100].
    metrics.marginal_tvd = marginalTvd(a, r, 1000, -100, 100);
    protocol.marginalHistogram = { bins: 1000, range: [-100, 100] };
  }
  if (wants.has('marginal_tvd_exact')) {
    if (!opts.exactMarginals) throw new RangeError('marginal_tvd_exact needs the target\'s exact marginals (CompareOptions.exactMarginals)');
    // The same histograms against the exact bin probabilities: the protocol the paper's TVDs match.
    metrics.marginal_tvd_exact = marginalTvdExact(a, opts.exactMarginals, 1000, -100, 100);
  }
  if (wants.has('mean')) {
    const e = meanErrors(a, r);
    metrics.mean_mse = e.mse;
    metrics.mean_l1 = e.l1;
    metrics.mean_l2 = e.l2;
  }
  if (particleModel) {
    metrics.energy_tvd = energyTvd(particleModel.energy(a), particleModel.energy(r), 200);
    metrics.distance_tvd = pairDistanceTvd(particleModel, a, r);
    protocol.energyBins = 200;
  }
  return { metrics, protocol };
}

