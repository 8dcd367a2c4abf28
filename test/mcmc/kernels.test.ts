/**
 * MALA and HMC (and the `transition` dispatcher): purity, determinism, chain independence from
 * the number of chains, exact gradient cost; invariance of the target, checked by starting many
 * independent chains from exact draws of a correlated 2-D Gaussian and testing the moments of
 * their states after T steps against the truth (CLT over independent chains: ESS = #chains,
 * |z| < Z); convergence from a far start; acceptance -> 1 as h -> 0; non-finite proposals.
 *
 * The step sizes are large (acceptance ~0.6): without the Metropolis correction the stationary
 * variances would be off by tens of standard errors (unadjusted Langevin on this target at
 * h = 0.3 inflates the small-eigenvalue variance by 1 / (1 - h / (2 * 0.2)) = 4).
 */
import { describe, expect, it } from 'vitest';
import { makeBatch, type Batch } from '../../src/core/batch.js';
import { foldIn, keyFromSeed, normal, split, type Key } from '../../src/core/key.js';
import { hmcStep } from '../../src/mcmc/hmc.js';
import { callsPerTransition, transition, type KernelName } from '../../src/mcmc/kernel.js';
import { malaStep } from '../../src/mcmc/mala.js';
import { initChains, type ChainState, type LogDensityFn, type StepSize } from '../../src/mcmc/types.js';
import { counting, gaussianLogDensity, gaussianMomentZ, sampleGaussian, Z } from './helpers.js';

const MEAN = [1, -2];
const COV = [2, 1.2, 1.2, 1];
const target = gaussianLogDensity(MEAN, COV);

type Step = (key: Key, s: ChainState, fn: LogDensityFn, h: StepSize) => [ChainState, { acceptanceRate: Float64Array; accepted: Uint8Array; nonFinite: number }];
const kernels: Array<[KernelName, Step, number, number]> = [
  // name, step, a large step size (acceptance ~0.6), gradient calls per step
  ['mala', (k, s, fn, h) => malaStep(k, s, fn, h), 0.3, 1],
  ['hmc', (k, s, fn, h) => hmcStep(k, s, fn, { stepSize: h, numSteps: 5 }), 0.8, 5],
];

function run(step: Step, key: Key, state: ChainState, fn: LogDensityFn, h: StepSize, T: number): { state: ChainState; acceptance: number } {
  let acc = 0;
  for (const k of split(key, T)) {
    const [next, info] = step(k, state, fn, h);
    state = next;
    acc += info.acceptanceRate.reduce((a, b) => a + b, 0) / info.acceptanceRate.length;
  }
  return { state, acceptance: acc / T };
}

describe.each(kernels)('%s', (name, step, h, calls) => {
  it('is pure, deterministic in the key, and costs its gradient calls on n rows', () => {
    const state = initChains(sampleGaussian(keyFromSeed(1), 40, MEAN, COV), target);
    const snapshot = [state.position.data, state.logDensity, state.grad.data].map((a) => Array.from(a));
    const c = counting(target);
    const key = keyFromSeed(2);
    const [a] = step(key, state, c.fn, h);
    expect(c.calls()).toBe(calls);
    expect(c.rows()).toBe(40 * calls);
    expect(callsPerTransition({ kernel: name, hmcSteps: 5 })).toBe(calls);
    expect([state.position.data, state.logDensity, state.grad.data].map((v) => Array.from(v))).toEqual(snapshot);
    const [b] = step(key, state, target, h);
    expect(Array.from(a.position.data)).toEqual(Array.from(b.position.data));
    expect(Array.from(a.logDensity)).toEqual(Array.from(b.logDensity));
    const [c2] = step(keyFromSeed(3), state, target, h);
    expect(Array.from(c2.position.data)).not.toEqual(Array.from(a.position.data));
    // The state's log density and gradient are those of its position.
    const re = target(a.position);
    for (let i = 0; i < 40; i++) expect(a.logDensity[i]).toBeCloseTo(re.value[i], 12);
    const [viaTransition] = transition(key, state, target, { kernel: name, stepSize: h, hmcSteps: 5 });
    expect(Array.from(viaTransition.position.data)).toEqual(Array.from(a.position.data));
  });

  it("chain i's path does not depend on how many chains run (scalar or per-chain step size)", () => {
    const x = sampleGaussian(keyFromSeed(4), 50, MEAN, COV);
    const first = makeBatch(7, 2, x.data.slice(0, 14));
    const hs = Float64Array.from({ length: 50 }, (_, i) => h * (0.5 + (i % 5) / 4));
    for (const [hBig, hSmall] of [[h, h], [hs, hs.slice(0, 7)]] as const) {
      const big = run(step, keyFromSeed(5), initChains(x, target), target, hBig, 10).state;
      const small = run(step, keyFromSeed(5), initChains(first, target), target, hSmall, 10).state;
      expect(Array.from(big.position.data.subarray(0, 14))).toEqual(Array.from(small.position.data));
    }
  });

  it('leaves the target invariant: moments of 4000 chains started from exact draws, after 30 steps', () => {
    const N = 4000;
    const { state, acceptance } = run(step, keyFromSeed(6), initChains(sampleGaussian(keyFromSeed(7), N, MEAN, COV), target), target, h, 30);
    expect(acceptance).toBeGreaterThan(0.4);
    expect(acceptance).toBeLessThan(0.9);
    for (const z of gaussianMomentZ(state.position, MEAN, COV)) expect(Math.abs(z)).toBeLessThan(Z);
  });

  it('converges from a far start: moments of 2000 chains after 200 steps from N((6, 4), 0.09 I)', () => {
    // The slow mode (variance 2.8) contracts by (1 - h / 2.8) per accepted MALA step, faster with
    // HMC (5 steps of 0.8 span a quarter period): after 200 steps at acceptance >= 0.4 the
    // initial bias (< 10) is below 1e-3, a few hundredths of the standard error 1.4 / sqrt(2000).
    const N = 2000;
    const x0 = makeBatch(N, 2, normal(keyFromSeed(8), 2 * N).map((v, k) => 0.3 * v + (k % 2 === 0 ? 6 : 4)));
    const { state } = run(step, keyFromSeed(9), initChains(x0, target), target, h, 200);
    for (const z of gaussianMomentZ(state.position, MEAN, COV)) expect(Math.abs(z)).toBeLessThan(Z);
  });

  it('accepts with probability -> 1 as h -> 0 (detailed balance sanity)', () => {
    const state = initChains(sampleGaussian(keyFromSeed(10), 200, MEAN, COV), target);
    // MALA's log ratio is O(h^{3/2}), HMC's energy error O(h^2) per unit time: at h = 1e-6 both are < 1e-8.
    const [, info] = step(keyFromSeed(11), state, target, 1e-6);
    for (const a of info.acceptanceRate) expect(a).toBeGreaterThan(1 - 1e-6);
    expect(info.accepted.reduce((a, b) => a + b, 0)).toBe(200);
  });

  it('rejects and counts non-finite proposals; positions never NaN; the target never sees non-finite input', () => {
    // N(0, I) cut at x_0 > 0.5 where the density returns NaN (value and gradient), and at
    // x_1 > 1 where it returns +Infinity: both are invalid and must be rejected.
    const base = gaussianLogDensity([0, 0], [1, 0, 0, 1]);
    let invalid = 0;
    const bad: LogDensityFn = (x: Batch) => {
      const r = base(x);
      for (let i = 0; i < x.n; i++) {
        if (x.data[2 * i] > 0.5) {
          r.value[i] = NaN;
          r.grad.data[2 * i] = NaN;
          invalid++;
        } else if (x.data[2 * i + 1] > 1) {
          r.value[i] = Infinity;
          invalid++;
        }
      }
      return r;
    };
    const c = counting(bad);
    let state = initChains(makeBatch(300, 2), c.fn);
    invalid = 0;
    let counted = 0;
    for (const k of split(keyFromSeed(12), 20)) {
      const [next, info] = step(k, state, c.fn, h * 4);
      counted += info.nonFinite;
      for (let i = 0; i < 300; i++) if (info.accepted[i]) expect(next.position.data[2 * i] <= 0.5 && next.position.data[2 * i + 1] <= 1).toBe(true);
      state = next;
    }
    // MALA evaluates only at proposals; HMC's invalid rows are frozen after their first invalid point.
    if (name === 'mala') expect(counted).toBe(invalid);
    expect(counted).toBeGreaterThan(0);
    for (const v of state.position.data) expect(Number.isFinite(v)).toBe(true);
    for (const v of state.logDensity) expect(Number.isFinite(v)).toBe(true);
  });

  it('a proposal that overflows to Infinity is rejected before reaching the target', () => {
    // A huge gradient: x + h grad overflows for MALA; the leapfrog drift does for HMC.
    const steep: LogDensityFn = (x) => ({ value: new Float64Array(x.n), grad: makeBatch(x.n, x.dim, new Float64Array(x.n * x.dim).fill(1e308)) });
    const c = counting(steep);
    const state = initChains(makeBatch(4, 2), c.fn);
    const [next, info] = step(foldIn(keyFromSeed(13), 0), state, c.fn, 10);
    expect(info.nonFinite).toBe(4);
    expect(Array.from(next.position.data)).toEqual(new Array(8).fill(0));
  });
});

describe('initChains', () => {
  it('copies the position and checks the shapes the log density returns', () => {
    const x = makeBatch(2, 2, [1, 2, 3, 4]);
    const s = initChains(x, target);
    x.data[0] = 99;
    expect(s.position.data[0]).toBe(1);
    expect(() => initChains(x, () => ({ value: new Float64Array(1), grad: makeBatch(2, 2) }))).toThrow(/1 values for 2 rows/);
    expect(() => malaStep(keyFromSeed(0), s, target, -1)).toThrow(/positive/);
    expect(() => hmcStep(keyFromSeed(0), s, target, { stepSize: new Float64Array(3).fill(0.1), numSteps: 1 })).toThrow(/3 values/);
    expect(() => transition(keyFromSeed(0), s, target, { kernel: 'nuts' as KernelName, stepSize: 0.1 })).toThrow(/'mala' or 'hmc'/);
  });
});
