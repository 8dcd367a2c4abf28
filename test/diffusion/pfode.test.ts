/**
 * Probability-flow ODE integrators: exact invariants first.
 *  - Against the analytic trajectory: for 1-D Gaussian data the flow map between times is affine,
 *    x_t = alpha_t m + (sd_t / sd_s)(x_s - alpha_s m), sd_t^2 = alpha_t^2 v0 + sigma_t^2; the error
 *    at 100 steps has a stated bound and falls at the method's order (ratio of errors at K and 2K
 *    steps: 2^p). These are deterministic numbers, so the ratio is not a comparison of noisy values.
 *  - Invertibility on 8-gaussians: data -> noise -> data returns the start within a stated bound.
 */
import { describe, expect, it } from 'vitest';
import { cloneBatch, makeBatch, type Batch } from '../../src/core/batch.js';
import { keyFromSeed } from '../../src/core/key.js';
import { uniformTimeGrid } from '../../src/diffusion/grids.js';
import { encodeProbabilityFlow, integrateProbabilityFlow, probabilityFlowVelocity, type OdeMethod } from '../../src/diffusion/pfode.js';
import { VPSDE } from '../../src/diffusion/vp.js';
import { Gaussian } from '../../src/targets/gaussian.js';
import { eightGaussians } from '../../src/targets/toy/eightGaussians.js';

const sde = new VPSDE();
const M = 1.5;
const V0 = 0.25;
const model = new Gaussian([M], { variance: V0 }).diffusedScore(sde);
const sd = (t: number): number => Math.sqrt(sde.alpha(t) ** 2 * V0 + sde.sigma2(t));
const start = makeBatch(5, 1, [-2.5, -1, 0, 1, 2.5]);
const exactAt = (t: number, s: number): number[] =>
  Array.from(start.data).map((x) => sde.alpha(t) * M + (sd(t) / sd(s)) * (x - sde.alpha(s) * M));

function maxErr(method: OdeMethod, steps: number): number {
  const y = integrateProbabilityFlow(model, sde, start, uniformTimeGrid(steps), { method });
  const e = exactAt(1e-3, 1);
  return Math.max(...Array.from(y.data).map((v, i) => Math.abs(v - e[i])));
}

describe('probability-flow ODE against the analytic Gaussian flow', () => {
  it('Heun: error below 2e-3 at 100 steps, second order', () => {
    const e100 = maxErr('heun', 100);
    const e200 = maxErr('heun', 200);
    // Measured: 5.3e-4 at 100 steps, 1.3e-4 at 200 (ratio 3.96).
    expect(e100).toBeLessThan(2e-3);
    expect(e100 / e200).toBeGreaterThan(3.6);
    expect(e100 / e200).toBeLessThan(4.4);
  });

  it('RK4: error below 1e-5 at 100 steps, fourth order; Euler first order', () => {
    const r50 = maxErr('rk4', 50);
    const r100 = maxErr('rk4', 100);
    // Measured: 5.5e-7 at 50 steps, 3.3e-8 at 100 (ratio 16.8); Euler 5.2e-3 / 2.6e-3 at 200 / 400.
    expect(r100).toBeLessThan(1e-5);
    expect(r50 / r100).toBeGreaterThan(13);
    expect(r50 / r100).toBeLessThan(19);
    const ratio = maxErr('euler', 200) / maxErr('euler', 400);
    expect(ratio).toBeGreaterThan(1.8);
    expect(ratio).toBeLessThan(2.2);
  });

  it('velocity is f - 1/2 g^2 s', () => {
    const x = makeBatch(1, 1, [0.4]);
    const s = makeBatch(1, 1, [2]);
    const v = probabilityFlowVelocity(x, s, 0.3, sde);
    expect(v.data[0]).toBeCloseTo(-0.5 * sde.beta(0.3) * 0.4 - 0.5 * sde.beta(0.3) * 2, 14);
  });
});

describe('probability-flow ODE on 8-gaussians (exact mixture score)', () => {
  const gmm = eightGaussians();
  const score = gmm.diffusedScore(sde);
  const x0 = gmm.sample(keyFromSeed(21), 200);

  it('is invertible: decode(encode(x)) = x within 3e-4 at 200 Heun steps; pure and deterministic', () => {
    const keep = cloneBatch(x0);
    const grid = uniformTimeGrid(200).reverse();
    const xT = encodeProbabilityFlow(score, sde, x0, { grid });
    expect(x0.data).toEqual(keep.data);
    expect(encodeProbabilityFlow(score, sde, x0, { grid }).data).toEqual(xT.data);
    const back: Batch = integrateProbabilityFlow(score, sde, xT, grid.slice().reverse());
    let err = 0;
    for (let j = 0; j < back.data.length; j++) err = Math.max(err, Math.abs(back.data[j] - x0.data[j]));
    // Measured: max error 3.6e-5 over 200 points (two Heun passes of O(h^2) each).
    expect(err).toBeLessThan(3e-4);
    // The encoding is close to N(0, I): a loose sanity check of scale (|x_T| rows, 200 points).
    let ss = 0;
    for (const v of xT.data) ss += v * v;
    expect(ss / xT.data.length).toBeGreaterThan(0.7);
    expect(ss / xT.data.length).toBeLessThan(1.3);
  });

  it('rejects a grid in the wrong direction', () => {
    expect(() => encodeProbabilityFlow(score, sde, x0, { grid: uniformTimeGrid(10) })).toThrow(RangeError);
  });
});
